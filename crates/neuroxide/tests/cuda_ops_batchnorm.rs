//! `ops::batchnorm`: CPU vs CUDA bit for bit — batch statistics (mean, rstd, the running
//! statistics' update), normalisation in training and evaluation, with and without affine,
//! the backward sums and dx — at 1D and 2D geometries whose channels hold 2, C−1, C, C+1 and
//! many chunks of values, with signed zeros, denormals, tiny and large magnitudes and a
//! constant channel (variance exactly 0) among the inputs.

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::ops::batchnorm::{
    batchnorm_backward, batchnorm_normalize, batchnorm_stats, BatchNormBackward,
    BatchNormNormalize, BatchNormStats, Geometry, Scale,
};
use neuroxide::ops::reduce::CHUNK;
use parity_pair::{edge_values, rng, Pair, Rng};

fn inputs(r: &mut Rng, n: usize) -> Vec<f32> {
    let edges = edge_values();
    (0..n)
        .map(|_| match r.below(10) {
            0 => edges[r.below(edges.len())].clamp(-1e3, 1e3),
            _ => r.range(-3.0, 3.0),
        })
        .collect()
}

#[test]
fn batchnorm_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("batchnorm_cpu_vs_cuda");
    for (batch, channels, plane) in [
        (2, 1, 1),
        (5, 3, 1),
        (CHUNK - 1, 4, 1),
        (CHUNK, 2, 1),
        (CHUNK + 1, 5, 1),
        (2, 3, 7 * 9),
        (3, 2, CHUNK + 1),
        (4, 16, 28 * 28),
        (64, 3, 5),
        (7, 33, 13),
    ] {
        let g = Geometry {
            batch,
            channels,
            plane,
        };
        let what = format!("{batch}x{channels}x{plane}");
        let mut xv = inputs(&mut r, g.len());
        // Channel 0 of every sample constant: variance exactly 0.
        for i in 0..batch {
            xv[i * channels * plane..(i * channels + 1) * plane].fill(0.75);
        }
        let x = p.buf(&xv);
        let (mean, rstd) = (p.out(channels), p.out(channels));
        let running_mean = p.buf(&r.vec(channels, -1.0, 1.0));
        let running_var = p.buf(&r.vec(channels, 0.5, 2.0));
        let s = BatchNormStats {
            geometry: g,
            x,
            mean,
            rstd,
            running_mean,
            running_var,
            eps: 1e-5,
            momentum: 0.1,
        };
        p.run(|be| batchnorm_stats(be, &s));
        for (name, b) in [
            ("mean", mean),
            ("rstd", rstd),
            ("running_mean", running_mean),
            ("running_var", running_var),
        ] {
            p.check(&format!("batchnorm {name} {what}"), b);
        }
        let gamma = p.buf(&r.vec(channels, 0.5, 1.5));
        let beta = p.buf(&r.vec(channels, -0.5, 0.5));
        for (mode, m, scale) in [
            ("train", mean, Scale::Rstd(rstd)),
            (
                "eval",
                running_mean,
                Scale::Variance {
                    var: running_var,
                    eps: 1e-5,
                },
            ),
        ] {
            for affine in [Some((gamma, beta)), None] {
                let y = p.out(g.len());
                let n = BatchNormNormalize {
                    geometry: g,
                    x,
                    mean: m,
                    scale,
                    affine,
                    y,
                };
                p.run(|be| batchnorm_normalize(be, &n));
                p.check(
                    &format!("batchnorm y {mode} affine={} {what}", affine.is_some()),
                    y,
                );
            }
        }
        let dy = p.buf(&inputs(&mut r, g.len()));
        for gm in [Some(gamma), None] {
            let (sum_dy, sum_dy_xhat, dx) = (p.out(channels), p.out(channels), p.out(g.len()));
            let b = BatchNormBackward {
                geometry: g,
                x,
                dy,
                mean,
                rstd,
                gamma: gm,
                sum_dy,
                sum_dy_xhat,
                dx: Some(dx),
            };
            p.run(|be| batchnorm_backward(be, &b));
            let tag = format!("affine={} {what}", gm.is_some());
            p.check(&format!("batchnorm sum_dy {tag}"), sum_dy);
            p.check(&format!("batchnorm sum_dy_xhat {tag}"), sum_dy_xhat);
            p.check(&format!("batchnorm dx {tag}"), dx);
        }
    }
    p.finish("batchnorm_cpu_vs_cuda");
}
