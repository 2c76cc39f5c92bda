//! Float64 finite-difference gradient checks of the convolution and pooling layers, every
//! option: stride 2, padding (explicit and "same", incl. an even kernel), dilation, groups,
//! depthwise, fused activation, no bias, Conv1D and MaxPool1D. Same method as `gradcheck.rs`:
//! `L = Σ r_i · y_i` in f64, central differences of step `h·max(|x|, 1)`, every input and
//! parameter element. Max-pooling inputs are distinct values spaced well beyond the step, so
//! no perturbation changes a window's argmax. BatchNorm is checked in training mode (through
//! the batch statistics), including a channel of more than one chunk (M > 256).

mod common;

use common::{dot64, fd_check, LayerHarness, Rng};
use neuroxide::layers::{
    AvgPool2D, BatchNorm1D, BatchNorm2D, Conv1D, Conv2D, GlobalAveragePool2D, Layer, MaxPool1D,
    MaxPool2D, Padding, SpatialDropout2D,
};
use neuroxide::{Activation, Shape};

const RTOL: f64 = 1e-2;
const ATOL: f64 = 1e-3;

fn check(name: &str, layer: Box<dyn Layer>, input: &[usize], batch: usize, x: Option<Vec<f32>>) {
    let mut h = LayerHarness::new(layer, vec![Shape::new(input.to_vec())], batch, true);
    let mut rng = Rng::new(0xC0DE);
    let x = x.unwrap_or_else(|| rng.vec(h.input_len(0), -1.0, 1.0));
    assert_eq!(x.len(), h.input_len(0));
    let params: Vec<Vec<f32>> = h
        .param_specs
        .iter()
        .map(|p| rng.vec(p.shape.numel(), -1.0, 1.0))
        .collect();
    let r = rng.vec(h.output_len(), -1.0, 1.0);
    let inputs = vec![x];
    let (gi, gp) = h.backward(&inputs, &params, &r);
    let mut failures = fd_check(
        &format!("{name}: d/dx"),
        &inputs[0],
        &gi[0],
        1e-2,
        RTOL,
        ATOL,
        &mut |x| dot64(&r, &h.forward(&[x.to_vec()], &params)),
    );
    for p in 0..params.len() {
        failures.extend(fd_check(
            &format!("{name}: d/d{}", h.param_specs[p].name),
            &params[p],
            &gp[p],
            1e-2,
            RTOL,
            ATOL,
            &mut |v| {
                let mut ps = params.clone();
                ps[p] = v.to_vec();
                dot64(&r, &h.forward(&inputs, &ps))
            },
        ));
    }
    let nonzero = gi
        .iter()
        .chain(&gp)
        .flatten()
        .filter(|v| **v != 0.0)
        .count();
    assert!(nonzero > 0, "{name}: every analytic gradient is zero");
    assert!(
        failures.is_empty(),
        "{name}: {} gradient values disagree:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}

#[test]
fn batchnorm1d_training() {
    check("BatchNorm1D", Box::new(BatchNorm1D::new()), &[3], 5, None);
}

#[test]
fn batchnorm2d_training_affine_and_not() {
    check(
        "BatchNorm2D",
        Box::new(BatchNorm2D::new()),
        &[3, 3, 4],
        2,
        None,
    );
    check(
        "BatchNorm2D no affine",
        Box::new(BatchNorm2D::new().affine(false)),
        &[2, 2, 3],
        3,
        None,
    );
    // 3 images of 10×10: 300 values per channel, two chunks of the reduction.
    check(
        "BatchNorm2D two chunks",
        Box::new(BatchNorm2D::new().momentum(0.3)),
        &[2, 10, 10],
        3,
        None,
    );
}

#[test]
fn conv2d_valid() {
    check(
        "Conv2D valid",
        Box::new(Conv2D::new(3, (3, 3))),
        &[2, 5, 6],
        2,
        None,
    );
}

#[test]
fn conv2d_stride2_padding() {
    let l = Conv2D::new(4, (3, 3))
        .stride(2, 2)
        .padding(Padding::Explicit(1, 1));
    check("Conv2D stride 2 pad 1", Box::new(l), &[2, 7, 6], 2, None);
}

#[test]
fn conv2d_same_even_kernel_and_dilation() {
    check(
        "Conv2D same 2x4",
        Box::new(Conv2D::new(2, (2, 4)).same()),
        &[2, 5, 6],
        2,
        None,
    );
    let l = Conv2D::new(3, (3, 2))
        .dilation(2, 2)
        .padding(Padding::Explicit(2, 1));
    check("Conv2D dilation 2", Box::new(l), &[2, 7, 7], 2, None);
}

#[test]
fn conv2d_groups_and_depthwise() {
    check(
        "Conv2D groups 2",
        Box::new(Conv2D::new(4, (3, 3)).groups(2).same()),
        &[4, 5, 5],
        2,
        None,
    );
    let dw = Conv2D::new(3, (3, 3)).groups(3).same();
    check("Conv2D depthwise", Box::new(dw), &[3, 6, 5], 2, None);
}

#[test]
fn conv2d_fused_activation_and_no_bias() {
    let l = Conv2D::new(3, (3, 3)).same().activation(Activation::Tanh);
    check("Conv2D tanh", Box::new(l), &[2, 5, 5], 2, None);
    let l = Conv2D::new(3, (2, 2)).no_bias();
    check("Conv2D no bias", Box::new(l), &[2, 4, 5], 2, None);
}

#[test]
fn conv1d() {
    let l = Conv1D::new(3, 3).padding(Padding::Same).stride(2);
    check("Conv1D", Box::new(l), &[2, 9], 2, None);
}

/// Distinct values spaced 0.1 apart in random order (a ±1e-2 step never reorders them).
fn spaced(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut v: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.1).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.index(i + 1));
    }
    v
}

#[test]
fn max_pool2d() {
    let x = spaced(2 * 2 * 6 * 7, 1);
    check(
        "MaxPool2D 2x2",
        Box::new(MaxPool2D::new((2, 2))),
        &[2, 6, 7],
        2,
        Some(x),
    );
    let x = spaced(2 * 2 * 7 * 6, 2);
    let l = MaxPool2D::new((3, 3))
        .stride(2, 2)
        .padding(Padding::Explicit(1, 1));
    check(
        "MaxPool2D 3x3 s2 pad 1",
        Box::new(l),
        &[2, 7, 6],
        2,
        Some(x),
    );
}

#[test]
fn max_pool1d() {
    let x = spaced(2 * 3 * 9, 3);
    check(
        "MaxPool1D",
        Box::new(MaxPool1D::new(3).stride(2)),
        &[3, 9],
        2,
        Some(x),
    );
}

#[test]
fn avg_pool2d_and_global() {
    let l = AvgPool2D::new((3, 3))
        .stride(2, 2)
        .padding(Padding::Explicit(1, 1));
    check("AvgPool2D 3x3 s2 pad 1", Box::new(l), &[2, 7, 6], 2, None);
    check(
        "AvgPool2D 2x2",
        Box::new(AvgPool2D::new((2, 2))),
        &[2, 4, 6],
        2,
        None,
    );
    check(
        "GlobalAveragePool2D",
        Box::new(GlobalAveragePool2D::new()),
        &[3, 5, 4],
        2,
        None,
    );
}

#[test]
fn shapes_and_errors_name_the_layer() {
    let c = Conv2D::new(8, (3, 3)).same().stride(2, 2);
    assert_eq!(
        c.output_shape(&[Shape::new([3, 7, 8])]).unwrap(),
        Shape::new([8, 4, 4])
    );
    let e = Conv2D::new(8, (3, 3))
        .output_shape(&[Shape::new([784])])
        .unwrap_err();
    assert!(
        e.to_string().contains("Conv2D") && e.to_string().contains("[784]"),
        "{e}"
    );
    let e = Conv2D::new(8, (5, 5))
        .output_shape(&[Shape::new([1, 3, 3])])
        .unwrap_err();
    assert!(e.to_string().contains("does not fit"), "{e}");
    let e = Conv2D::new(6, (3, 3))
        .groups(4)
        .output_shape(&[Shape::new([4, 5, 5])])
        .unwrap_err();
    assert!(e.to_string().contains("divisible by groups"), "{e}");
    let p = MaxPool2D::new((2, 2));
    assert_eq!(
        p.output_shape(&[Shape::new([16, 28, 28])]).unwrap(),
        Shape::new([16, 14, 14])
    );
    assert_eq!(
        GlobalAveragePool2D::new()
            .output_shape(&[Shape::new([5, 3, 3])])
            .unwrap(),
        Shape::new([5])
    );
}

#[test]
fn spatial_dropout_drops_whole_channels() {
    let layer = SpatialDropout2D::new(0.5);
    check(
        "SpatialDropout2D",
        Box::new(layer.clone()),
        &[4, 3, 5],
        3,
        None,
    );
    let mut h = LayerHarness::new(Box::new(layer), vec![Shape::new([4, 3, 5])], 3, true);
    let x: Vec<f32> = (0..h.input_len(0)).map(|i| 1.0 + i as f32).collect();
    let y = h.forward(std::slice::from_ref(&x), &[]);
    let (mut kept, mut dropped) = (0, 0);
    for (yc, xc) in y.chunks(15).zip(x.chunks(15)) {
        if yc.iter().all(|&v| v == 0.0) {
            dropped += 1;
        } else {
            assert!(yc.iter().zip(xc).all(|(&a, &b)| a == b * 2.0), "{yc:?}");
            kept += 1;
        }
    }
    assert!(kept > 0 && dropped > 0, "kept {kept}, dropped {dropped}");
    let mut eval = LayerHarness::new(
        Box::new(SpatialDropout2D::new(0.5)),
        vec![Shape::new([4, 3, 5])],
        3,
        false,
    );
    assert_eq!(
        eval.forward(std::slice::from_ref(&x), &[]),
        x,
        "identity at inference"
    );
}
