//! `ops::conv` on the CPU against CUDA, bit for bit (PARITY.md): forward (with bias and a fused
//! activation, pre-activation kept), input gradient (the gather), weight and bias gradients
//! (chunked over N×OH×OW), on odd sizes, stride 2, padding (incl. asymmetric "same"),
//! dilation, groups and depthwise, with signed zeros, denormals and underflowing products among
//! the inputs (rule 2b). Without a GPU the test says "skipped" (a failure under
//! `NEUROXIDE_REQUIRE_CUDA=1`).

#[path = "support/conv_cases.rs"]
mod conv_cases;
#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::ops::conv::{
    conv2d_backward_input, conv2d_backward_params, conv2d_forward, Conv2dBackwardInput,
    Conv2dBackwardParams, Conv2dForward,
};
use neuroxide::Activation;
use parity_pair::{edge_values, rng, Pair, Rng};

fn inputs(r: &mut Rng, n: usize) -> Vec<f32> {
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

#[test]
fn conv2d_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("conv2d_cpu_vs_cuda");
    let mut cases = conv_cases::conv_cases();
    // A full MNIST batch and a long weight-gradient reduction (many chunks).
    cases.push((
        "mnist conv2 batch 64",
        conv_cases::geom(64, 16, (14, 14), 32, (3, 3), (1, 1), (1, 1), (1, 1), 1),
    ));
    // Kernels with more taps than the CUDA kernels list per pixel (64) take their direct
    // (i, j) walk: 9x9 with padding and stride 2, and 5x15 with stride and dilation.
    cases.push((
        "9x9 kernel, stride 2, pad 4",
        conv_cases::geom(2, 3, (13, 11), 4, (9, 9), (2, 2), (4, 4), (1, 1), 1),
    ));
    cases.push((
        "5x15 kernel, stride (1, 2), dilation (1, 2), pad (2, 14)",
        conv_cases::geom(2, 2, (7, 40), 3, (5, 15), (1, 2), (2, 14), (1, 2), 1),
    ));
    // The tiled kernels' other paths (ops/conv/mod.rs): 4 x 4 weight-gradient tiles (128
    // chunks or more), output channels in several 32-channel blocks with a tail and groups,
    // and weights too large to stage (the general forward and input-gradient kernels).
    cases.push((
        "mnist conv2 batch 176 (4x4 weight-gradient tiles)",
        conv_cases::geom(176, 16, (14, 14), 32, (3, 3), (1, 1), (1, 1), (1, 1), 1),
    ));
    cases.push((
        "80 outputs in 2 groups (32-channel blocks and a tail)",
        conv_cases::geom(2, 6, (9, 9), 80, (3, 3), (1, 1), (1, 1), (1, 1), 2),
    ));
    cases.push((
        "130 channels (weights too large for a tile)",
        conv_cases::geom(1, 130, (5, 6), 130, (3, 3), (1, 1), (1, 1), (1, 1), 1),
    ));
    for (name, g) in cases {
        let x = p.buf(&inputs(&mut r, g.x_len()));
        let w = p.buf(&inputs(&mut r, g.w_len()));
        let b = p.buf(&inputs(&mut r, g.c_out));
        let dy = p.buf(&inputs(&mut r, g.y_len()));
        let (y, pre) = (p.out(g.y_len()), p.out(g.y_len()));
        let dx = p.out(g.x_len());
        let (dw, db) = (p.out(g.w_len()), p.out(g.c_out));
        for act in [Activation::Linear, Activation::Relu, Activation::GeluTanh] {
            let f = Conv2dForward {
                geom: g,
                x,
                w,
                bias: Some(b),
                y,
                pre_act: Some(pre),
                act,
            };
            p.run(|be| conv2d_forward(be, &f));
            p.check(&format!("{name}: y ({act:?})"), y);
            p.check(&format!("{name}: pre_act ({act:?})"), pre);
        }
        let f = Conv2dForward {
            geom: g,
            x,
            w,
            bias: None,
            y,
            pre_act: None,
            act: Activation::Linear,
        };
        p.run(|be| conv2d_forward(be, &f));
        p.check(&format!("{name}: y without bias"), y);
        let bi = Conv2dBackwardInput { geom: g, dy, w, dx };
        p.run(|be| conv2d_backward_input(be, &bi));
        p.check(&format!("{name}: dx"), dx);
        let bp = Conv2dBackwardParams {
            geom: g,
            x,
            dy,
            dw,
            db: Some(db),
        };
        p.run(|be| conv2d_backward_params(be, &bp));
        p.check(&format!("{name}: dw"), dw);
        p.check(&format!("{name}: db"), db);
        let bp = Conv2dBackwardParams { db: None, ..bp };
        p.run(|be| conv2d_backward_params(be, &bp));
        p.check(&format!("{name}: dw without db"), dw);
    }
    p.finish("conv2d_cpu_vs_cuda");
}

#[test]
fn conv2d_padding_is_skipped_on_cuda_too() {
    // Only the centre tap of a 3x3 kernel is inside a 1x1 image; its product underflows to
    // -0.0, which an added zero product from a padding tap would turn into +0.0.
    let Some(mut p) = Pair::new() else { return };
    let g = conv_cases::geom(1, 1, (1, 1), 1, (3, 3), (1, 1), (1, 1), (1, 1), 1);
    let x = p.buf(&[-1e-30]);
    let w = p.buf(&[1e-30; 9]);
    let y = p.out(1);
    let f = Conv2dForward {
        geom: g,
        x,
        w,
        bias: None,
        y,
        pre_act: None,
        act: Activation::Linear,
    };
    p.run(|be| conv2d_forward(be, &f));
    let (cpu, gpu) = p.get(y);
    assert_eq!(cpu[0].to_bits(), (-0.0f32).to_bits());
    assert_eq!(gpu[0].to_bits(), (-0.0f32).to_bits());
}
