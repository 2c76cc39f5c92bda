//! `ops::layernorm` and `ops::rmsnorm`: LayerNorm forward against a float64 reference (CPU), and CPU vs CUDA bit for bit
//! (rows of 1, C−1, C, C+1 and wide rows, many rows so the parameter gradients take several
//! chunks; signed zeros, denormals and constant rows among the inputs).

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::layernorm::{
    layernorm_backward, layernorm_forward, LayerNormBackward, LayerNormForward,
};
use neuroxide::ops::reduce::CHUNK;
use neuroxide::ops::rmsnorm::{rmsnorm_backward, rmsnorm_forward, RmsNormBackward, RmsNormForward};
use neuroxide::Backend;
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
fn layernorm_forward_matches_f64() {
    let mut r = rng("layernorm_forward_matches_f64");
    let (rows, dim) = (37, 300);
    let x = r.vec(rows * dim, -3.0, 3.0);
    let gamma = r.vec(dim, 0.5, 1.5);
    let beta = r.vec(dim, -0.5, 0.5);
    let mut be = CpuBackend::new(2);
    let ids: Vec<_> = [rows * dim, dim, dim, rows * dim, rows, rows]
        .iter()
        .map(|&n| be.alloc(n).unwrap())
        .collect();
    be.upload(ids[0], 0, &x).unwrap();
    be.upload(ids[1], 0, &gamma).unwrap();
    be.upload(ids[2], 0, &beta).unwrap();
    let a = LayerNormForward {
        x: ids[0],
        gamma: ids[1],
        beta: ids[2],
        y: ids[3],
        mean: ids[4],
        rstd: ids[5],
        rows,
        dim,
        eps: 1e-5,
    };
    layernorm_forward(&mut be, &a).unwrap();
    let mut y = vec![0.0; rows * dim];
    be.download(ids[3], 0, &mut y).unwrap();
    for i in 0..rows {
        let xr: Vec<f64> = x[i * dim..(i + 1) * dim]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let m = xr.iter().sum::<f64>() / dim as f64;
        let v = xr.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / dim as f64;
        for j in 0..dim {
            let want = (xr[j] - m) / (v + 1e-5).sqrt() * gamma[j] as f64 + beta[j] as f64;
            assert!(
                (y[i * dim + j] as f64 - want).abs() < 1e-4,
                "row {i} col {j}"
            );
        }
    }
}

#[test]
fn layernorm_and_rmsnorm_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("layernorm_and_rmsnorm_cpu_vs_cuda");
    for (rows, dim) in [
        (1, 1),
        (3, CHUNK - 1),
        (5, CHUNK),
        (7, CHUNK + 1),
        (2048, 128),
        (CHUNK + 3, 768),
        (9, 3000),
    ] {
        let mut xv = inputs(&mut r, rows * dim);
        // One constant row: variance exactly 0.
        xv[..dim].fill(0.25);
        let x = p.buf(&xv);
        let gamma = p.buf(&r.vec(dim, 0.5, 1.5));
        let beta = p.buf(&r.vec(dim, -0.5, 0.5));
        let (y, mean, rstd) = (p.out(rows * dim), p.out(rows), p.out(rows));
        let f = LayerNormForward {
            x,
            gamma,
            beta,
            y,
            mean,
            rstd,
            rows,
            dim,
            eps: 1e-5,
        };
        p.run(|be| layernorm_forward(be, &f));
        let what = format!("{rows}x{dim}");
        p.check(&format!("layernorm y {what}"), y);
        p.check(&format!("layernorm mean {what}"), mean);
        p.check(&format!("layernorm rstd {what}"), rstd);
        let dy = p.buf(&inputs(&mut r, rows * dim));
        let (dx, dg, db) = (p.out(rows * dim), p.out(dim), p.out(dim));
        let b = LayerNormBackward {
            x,
            gamma,
            mean,
            rstd,
            dy,
            dx,
            dgamma: dg,
            dbeta: db,
            rows,
            dim,
        };
        p.run(|be| layernorm_backward(be, &b));
        p.check(&format!("layernorm dx {what}"), dx);
        p.check(&format!("layernorm dgamma {what}"), dg);
        p.check(&format!("layernorm dbeta {what}"), db);
        // RMSNorm on the same inputs.
        let (ry, rr) = (p.out(rows * dim), p.out(rows));
        let f = RmsNormForward {
            x,
            gamma,
            y: ry,
            rrms: rr,
            rows,
            dim,
            eps: 1e-6,
        };
        p.run(|be| rmsnorm_forward(be, &f));
        p.check(&format!("rmsnorm y {what}"), ry);
        p.check(&format!("rmsnorm rrms {what}"), rr);
        let (rdx, rdg) = (p.out(rows * dim), p.out(dim));
        let b = RmsNormBackward {
            x,
            gamma,
            rrms: rr,
            dy,
            dx: rdx,
            dgamma: rdg,
            rows,
            dim,
        };
        p.run(|be| rmsnorm_backward(be, &b));
        p.check(&format!("rmsnorm dx {what}"), rdx);
        p.check(&format!("rmsnorm dgamma {what}"), rdg);
    }
    p.finish("layernorm_and_rmsnorm_cpu_vs_cuda");
}
