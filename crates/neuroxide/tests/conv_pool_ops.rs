//! The convolution and pooling ops on the CPU against plain restatements of their orders
//! (`support/conv_cases.rs`, loop by loop as `ops::conv` / `ops::pool` define them), bit for bit,
//! with 1 and 2 threads (PARITY rule 9), on inputs with signed zeros, denormals and underflowing
//! products (rule 2b). The CUDA kernels are those same loops; `cuda_ops_conv.rs` and
//! `cuda_ops_pool.rs` compare them with the CPU on a GPU.

#[path = "support/conv_cases.rs"]
mod conv_cases;
#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use conv_cases::*;
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::conv::{
    conv2d_backward_input, conv2d_backward_params, conv2d_forward, Conv2dBackwardInput,
    Conv2dBackwardParams, Conv2dForward,
};
use neuroxide::ops::elementwise::activation;
use neuroxide::ops::pool::{
    avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward, AvgPool2d,
    MaxPool2dBackward, MaxPool2dForward,
};
use neuroxide::{Activation, Backend, BufId};
use parity_pair::{edge_values, rng, Rng};

/// Random values in [-2, 2) with edge values and tiny magnitudes sprinkled in.
pub fn inputs(r: &mut Rng, n: usize) -> Vec<f32> {
    let edges = edge_values();
    (0..n)
        .map(|_| match r.below(10) {
            0 => edges[r.below(edges.len())],
            1 => r.range(-1e-20, 1e-20),
            2 => 0.0,
            _ => r.range(-2.0, 2.0),
        })
        .collect()
}

fn buf(be: &mut CpuBackend, v: &[f32]) -> BufId {
    let b = be.alloc(v.len().max(1)).unwrap();
    be.upload(b, 0, v).unwrap();
    b
}

fn read(be: &mut CpuBackend, b: BufId, n: usize) -> Vec<f32> {
    let mut v = vec![0.0; n];
    be.download(b, 0, &mut v).unwrap();
    v
}

fn same_bits(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let bad: Vec<usize> = (0..got.len())
        .filter(|&i| {
            got[i].to_bits() != want[i].to_bits() && !(got[i].is_nan() && want[i].is_nan())
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: {} of {} differ; first at {}: got {:e} ({:#x}), want {:e} ({:#x})",
        bad.len(),
        got.len(),
        bad[0],
        got[bad[0]],
        got[bad[0]].to_bits(),
        want[bad[0]],
        want[bad[0]].to_bits()
    );
}

#[test]
fn conv2d_matches_its_defined_order_on_1_and_2_threads() {
    let mut r = rng("conv2d_matches_its_defined_order_on_1_and_2_threads");
    for (name, g) in conv_cases() {
        let x = inputs(&mut r, g.x_len());
        let w = inputs(&mut r, g.w_len());
        let b = inputs(&mut r, g.c_out);
        let dy = inputs(&mut r, g.y_len());
        let want_y = conv_forward(&g, &x, &w, Some(&b));
        let want_dx = conv_backward_input(&g, &dy, &w);
        let (want_dw, want_db) = conv_backward_params(&g, &x, &dy);
        for threads in [1, 2] {
            let mut be = CpuBackend::new(threads);
            let (bx, bw, bb, bdy) = (
                buf(&mut be, &x),
                buf(&mut be, &w),
                buf(&mut be, &b),
                buf(&mut be, &dy),
            );
            let (y, pre) = (
                buf(&mut be, &vec![0.0; g.y_len()]),
                buf(&mut be, &vec![0.0; g.y_len()]),
            );
            let dx = buf(&mut be, &vec![0.0; g.x_len()]);
            let (dw, db) = (
                buf(&mut be, &vec![0.0; g.w_len()]),
                buf(&mut be, &vec![0.0; g.c_out]),
            );
            let f = Conv2dForward {
                geom: g,
                x: bx,
                w: bw,
                bias: Some(bb),
                y,
                pre_act: None,
                act: Activation::Linear,
            };
            conv2d_forward(&mut be, &f).unwrap();
            same_bits(
                &format!("{name}: forward ({threads} threads)"),
                &read(&mut be, y, g.y_len()),
                &want_y,
            );
            // Fused activation: pre_act is z, y is act(z).
            let f = Conv2dForward {
                pre_act: Some(pre),
                act: Activation::Tanh,
                ..f
            };
            conv2d_forward(&mut be, &f).unwrap();
            same_bits(
                &format!("{name}: pre_act"),
                &read(&mut be, pre, g.y_len()),
                &want_y,
            );
            let act: Vec<f32> = want_y
                .iter()
                .map(|&z| activation::forward(Activation::Tanh, z))
                .collect();
            let relu: Vec<f32> = want_y
                .iter()
                .map(|&z| activation::forward(Activation::Relu, z))
                .collect();
            same_bits(
                &format!("{name}: tanh(z)"),
                &read(&mut be, y, g.y_len()),
                &act,
            );
            // The ReLU epilogue has its own fast path.
            let f = Conv2dForward {
                act: Activation::Relu,
                ..f
            };
            conv2d_forward(&mut be, &f).unwrap();
            same_bits(
                &format!("{name}: pre_act (relu)"),
                &read(&mut be, pre, g.y_len()),
                &want_y,
            );
            same_bits(
                &format!("{name}: relu(z)"),
                &read(&mut be, y, g.y_len()),
                &relu,
            );
            let bi = Conv2dBackwardInput {
                geom: g,
                dy: bdy,
                w: bw,
                dx,
            };
            conv2d_backward_input(&mut be, &bi).unwrap();
            same_bits(
                &format!("{name}: dx ({threads} threads)"),
                &read(&mut be, dx, g.x_len()),
                &want_dx,
            );
            let bp = Conv2dBackwardParams {
                geom: g,
                x: bx,
                dy: bdy,
                dw,
                db: Some(db),
            };
            conv2d_backward_params(&mut be, &bp).unwrap();
            same_bits(
                &format!("{name}: dw ({threads} threads)"),
                &read(&mut be, dw, g.w_len()),
                &want_dw,
            );
            same_bits(
                &format!("{name}: db ({threads} threads)"),
                &read(&mut be, db, g.c_out),
                &want_db,
            );
        }
    }
}

#[test]
fn conv2d_skips_padding_instead_of_adding_zero_products() {
    // A 3x3 kernel with padding 1 over a 1x1 image: only the centre tap is valid. With
    // x = -1e-30 and w = 1e-30 the product underflows to -0.0; an added zero product from a
    // padding tap would turn the sum into +0.0.
    let g = geom(1, 1, (1, 1), 1, (3, 3), (1, 1), (1, 1), (1, 1), 1);
    let mut be = CpuBackend::new(1);
    let x = buf(&mut be, &[-1e-30]);
    let w = buf(&mut be, &[1e-30; 9]);
    let y = buf(&mut be, &[1.0]);
    let f = Conv2dForward {
        geom: g,
        x,
        w,
        bias: None,
        y,
        pre_act: None,
        act: Activation::Linear,
    };
    conv2d_forward(&mut be, &f).unwrap();
    assert_eq!(read(&mut be, y, 1)[0].to_bits(), (-0.0f32).to_bits());
}

#[test]
fn pooling_matches_its_defined_order_on_1_and_2_threads() {
    let mut r = rng("pooling_matches_its_defined_order_on_1_and_2_threads");
    for (name, g) in pool_cases() {
        let mut x = inputs(&mut r, g.x_len());
        // Ties and NaNs: equal values and a few NaNs in the windows.
        for i in (0..x.len()).step_by(7) {
            x[i] = 1.5;
        }
        for i in (3..x.len()).step_by(29) {
            x[i] = f32::NAN;
        }
        let dy = inputs(&mut r, g.y_len());
        let (want_y, want_arg) = max_pool(&g, &x);
        let want_dx = max_pool_backward(&g, &dy, &want_arg);
        let want_avg = avg_pool(&g, &x);
        let want_avg_dx = avg_pool_backward(&g, &dy);
        for threads in [1, 2] {
            let mut be = CpuBackend::new(threads);
            let (bx, bdy) = (buf(&mut be, &x), buf(&mut be, &dy));
            let (y, arg) = (
                buf(&mut be, &vec![0.0; g.y_len()]),
                buf(&mut be, &vec![0.0; g.y_len()]),
            );
            let dx = buf(&mut be, &vec![0.0; g.x_len()]);
            max_pool2d_forward(
                &mut be,
                &MaxPool2dForward {
                    geom: g,
                    x: bx,
                    y,
                    argmax: arg,
                },
            )
            .unwrap();
            same_bits(
                &format!("{name}: max y"),
                &read(&mut be, y, g.y_len()),
                &want_y,
            );
            same_bits(
                &format!("{name}: argmax"),
                &read(&mut be, arg, g.y_len()),
                &want_arg,
            );
            max_pool2d_backward(
                &mut be,
                &MaxPool2dBackward {
                    geom: g,
                    dy: bdy,
                    argmax: arg,
                    dx,
                },
            )
            .unwrap();
            same_bits(
                &format!("{name}: max dx"),
                &read(&mut be, dx, g.x_len()),
                &want_dx,
            );
            avg_pool2d_forward(
                &mut be,
                &AvgPool2d {
                    geom: g,
                    src: bx,
                    dst: y,
                },
            )
            .unwrap();
            same_bits(
                &format!("{name}: avg y"),
                &read(&mut be, y, g.y_len()),
                &want_avg,
            );
            avg_pool2d_backward(
                &mut be,
                &AvgPool2d {
                    geom: g,
                    src: bdy,
                    dst: dx,
                },
            )
            .unwrap();
            same_bits(
                &format!("{name}: avg dx"),
                &read(&mut be, dx, g.x_len()),
                &want_avg_dx,
            );
        }
    }
}

#[test]
fn max_pool_first_maximum_wins_and_nan_propagates() {
    let g = pool_geom(1, 1, (2, 2), (2, 2), (2, 2), (0, 0));
    let mut be = CpuBackend::new(1);
    for (x, want_y, want_arg) in [
        ([1.0, 3.0, 3.0, 2.0], 3.0, 1.0),
        ([1.0, f32::NAN, 3.0, f32::NAN], f32::NAN, 1.0),
        ([-0.0, 0.0, 0.0, -0.0], -0.0, 0.0),
    ] {
        let bx = buf(&mut be, &x);
        let (y, arg) = (buf(&mut be, &[9.0]), buf(&mut be, &[9.0]));
        max_pool2d_forward(
            &mut be,
            &MaxPool2dForward {
                geom: g,
                x: bx,
                y,
                argmax: arg,
            },
        )
        .unwrap();
        let (y, a) = (read(&mut be, y, 1)[0], read(&mut be, arg, 1)[0]);
        assert!(
            y.to_bits() == want_y.to_bits() || (y.is_nan() && want_y.is_nan()),
            "{x:?}: {y}"
        );
        assert_eq!(a, want_arg, "{x:?}");
    }
}
