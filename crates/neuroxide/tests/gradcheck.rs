//! Float64 finite-difference gradient checks for every layer, every activation and every loss.
//!
//! Layers run directly on a `CpuBackend` (see `common::LayerHarness`). The scalar objective is
//! `L = Σ r_i · y_i` with fixed random `r`, evaluated in f64 from the layer's f32 outputs; the
//! analytic gradient is the layer's backward with `r` as the output gradient. Losses use
//! `Backend::loss` directly and check the loss value against its own gradient. Each input value
//! (and each parameter value) is perturbed by `±h` in f32 and the step actually taken is the
//! divisor of the central difference. Inputs are kept away from kinks (ReLU-like activations at
//! 0, MAE at 0, Huber at ±δ) so the function is smooth on the stencil.

mod common;

use common::{dot64, fd_check, LayerHarness, Rng};
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::backend::LossArgs;
use neuroxide::layers::{
    ActivationLayer, Add, AvgPool2D, Concat, Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten,
    GlobalAveragePool2D, Layer, LayerNorm, MaxPool1D, MaxPool2D, MultiHeadAttention, Multiply,
    PositionEmbedding, Reshape, RmsNorm, SequencePooling, SpatialDropout2D,
};
use neuroxide::{Activation, Backend, LossKind, Shape, TargetKind};

const RTOL: f64 = 1e-2;
const ATOL: f64 = 1e-3;

/// Runs the full check of one layer: every input and every parameter, all elements.
fn check_layer(
    name: &str,
    h: &mut LayerHarness,
    inputs: &[Vec<f32>],
    params: &[Vec<f32>],
    step: f32,
) {
    let mut rng = Rng::new(0xC0FFEE);
    let r = rng.vec(h.output_len(), -1.0, 1.0);
    let y = h.forward(inputs, params);
    assert!(
        y.iter().all(|v| v.is_finite()),
        "{name}: non-finite output {y:?}"
    );
    let (gi, gp) = h.backward(inputs, params, &r);
    let mut failures = Vec::new();
    let mut checked = 0usize;
    let mut nonzero = 0usize;
    for i in 0..inputs.len() {
        let label = format!("{name}: d/d input {i}");
        nonzero += gi[i].iter().filter(|v| **v != 0.0).count();
        checked += gi[i].len();
        failures.extend(fd_check(
            &label,
            &inputs[i],
            &gi[i],
            step,
            RTOL,
            ATOL,
            &mut |x| {
                let mut ins = inputs.to_vec();
                ins[i] = x.to_vec();
                dot64(&r, &h.forward(&ins, params))
            },
        ));
    }
    let names: Vec<&str> = h.param_specs.iter().map(|p| p.name).collect();
    for p in 0..params.len() {
        let label = format!("{name}: d/d {}", names[p]);
        nonzero += gp[p].iter().filter(|v| **v != 0.0).count();
        checked += gp[p].len();
        failures.extend(fd_check(
            &label,
            &params[p],
            &gp[p],
            step,
            RTOL,
            ATOL,
            &mut |x| {
                let mut ps = params.to_vec();
                ps[p] = x.to_vec();
                dot64(&r, &h.forward(inputs, &ps))
            },
        ));
    }
    assert!(checked > 0, "{name}: nothing was checked");
    assert!(nonzero > 0, "{name}: every analytic gradient is zero");
    assert!(
        failures.is_empty(),
        "{name}: {} of {checked} gradient values disagree with finite differences:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Random parameters for a harness, uniform in [-1, 1).
fn random_params(h: &LayerHarness, rng: &mut Rng) -> Vec<Vec<f32>> {
    h.param_specs
        .iter()
        .map(|p| rng.vec(p.shape.numel(), -1.0, 1.0))
        .collect()
}

fn shapes(s: &[&[usize]]) -> Vec<Shape> {
    s.iter().map(|d| Shape::new(d.to_vec())).collect()
}

// ---------------------------------------------------------------- activations (as layers)

/// Input range and kinks to avoid for an activation's gradient check.
fn activation_inputs(act: Activation, n: usize, rng: &mut Rng) -> Vec<f32> {
    match act {
        // kink (or derivative jump) at 0
        Activation::Relu | Activation::LeakyRelu(_) | Activation::Elu(_) | Activation::Selu => {
            rng.vec_avoiding(n, -3.0, 3.0, &[0.0], 0.1)
        }
        // also exercise the linear branch above PyTorch's threshold of 20
        Activation::Softplus => {
            let mut v = rng.vec(n, -4.0, 4.0);
            v[0] = 23.5;
            v[1] = -12.0;
            v
        }
        _ => rng.vec(n, -4.0, 4.0),
    }
}

fn check_activation(act: Activation) {
    let name = format!("Activation({act:?})");
    let mut h = LayerHarness::new(
        Box::new(ActivationLayer::new(act)),
        shapes(&[&[7]]),
        3,
        true,
    );
    let mut rng = Rng::new(11);
    let x = activation_inputs(act, h.input_len(0), &mut rng);
    check_layer(&name, &mut h, &[x], &[], 1e-2);
}

macro_rules! activation_tests {
    ($($test:ident => $act:expr;)*) => {$(
        #[test]
        fn $test() {
            check_activation($act);
        }
    )*};
}

activation_tests! {
    activation_linear => Activation::Linear;
    activation_relu => Activation::Relu;
    activation_leaky_relu => Activation::LeakyRelu(0.1);
    activation_leaky_relu_large_alpha => Activation::LeakyRelu(0.35);
    activation_elu => Activation::Elu(1.0);
    activation_elu_alpha => Activation::Elu(0.7);
    activation_selu => Activation::Selu;
    activation_sigmoid => Activation::Sigmoid;
    activation_tanh => Activation::Tanh;
    activation_gelu_tanh => Activation::GeluTanh;
    activation_silu => Activation::Silu;
    activation_softplus => Activation::Softplus;
}

/// GELU (erf form). Fails while `math::erf` is the placeholder that returns `x` (the forward
/// then is not `0.5·x·(1 + erf(x/√2))`, but the backward uses the Gaussian pdf); the math
/// branch replaces it with the exact erf. Remove the `ignore` once that is merged.
#[test]
fn activation_gelu_erf() {
    check_activation(Activation::GeluErf);
}

#[test]
fn activation_softmax() {
    let mut h = LayerHarness::new(
        Box::new(ActivationLayer::softmax()),
        shapes(&[&[6]]),
        4,
        true,
    );
    let x = Rng::new(12).vec(h.input_len(0), -3.0, 3.0);
    check_layer("Softmax", &mut h, &[x], &[], 1e-2);
}

#[test]
fn activation_log_softmax() {
    let mut h = LayerHarness::new(
        Box::new(ActivationLayer::log_softmax()),
        shapes(&[&[6]]),
        4,
        true,
    );
    let x = Rng::new(13).vec(h.input_len(0), -3.0, 3.0);
    check_layer("LogSoftmax", &mut h, &[x], &[], 1e-2);
}

/// Softmax over the last axis of a rank-2 sample (rows of a sequence).
#[test]
fn activation_softmax_rank2() {
    let mut h = LayerHarness::new(
        Box::new(ActivationLayer::softmax()),
        shapes(&[&[3, 5]]),
        2,
        true,
    );
    let x = Rng::new(14).vec(h.input_len(0), -3.0, 3.0);
    check_layer("Softmax[3,5]", &mut h, &[x], &[], 1e-2);
}

// ---------------------------------------------------------------- Dense

#[test]
fn dense_linear() {
    let mut h = LayerHarness::new(Box::new(Dense::new(5)), shapes(&[&[4]]), 3, true);
    let mut rng = Rng::new(21);
    let x = rng.vec(h.input_len(0), -1.0, 1.0);
    let p = random_params(&h, &mut rng);
    check_layer("Dense(5)", &mut h, &[x], &p, 1e-2);
}

#[test]
fn dense_no_bias() {
    let mut h = LayerHarness::new(Box::new(Dense::new(3).no_bias()), shapes(&[&[6]]), 4, true);
    assert_eq!(
        h.param_specs.len(),
        1,
        "no_bias must declare only the kernel"
    );
    let mut rng = Rng::new(22);
    let x = rng.vec(h.input_len(0), -1.0, 1.0);
    let p = random_params(&h, &mut rng);
    check_layer("Dense(3, no bias)", &mut h, &[x], &p, 1e-2);
}

/// Dense on a `[T, d]` sample applies to the last axis, row by row.
#[test]
fn dense_rank2_input() {
    let mut h = LayerHarness::new(
        Box::new(Dense::new(3).activation(Activation::Tanh)),
        shapes(&[&[2, 4]]),
        3,
        true,
    );
    assert_eq!(h.output_shape, Shape::new([2, 3]));
    let mut rng = Rng::new(23);
    let x = rng.vec(h.input_len(0), -1.0, 1.0);
    let p = random_params(&h, &mut rng);
    check_layer("Dense(3, tanh) on [2,4]", &mut h, &[x], &p, 1e-2);
}

/// Dense with a fused activation. For activations with a kink at 0 the data are re-drawn until
/// every pre-activation is at least 0.05 from 0 (a perturbation moves it by ≤ 0.02).
fn check_dense_fused(act: Activation) {
    let name = format!("Dense(5, {act:?})");
    let kinked = matches!(
        act,
        Activation::Relu | Activation::LeakyRelu(_) | Activation::Elu(_) | Activation::Selu
    );
    let mut h = LayerHarness::new(
        Box::new(Dense::new(5).activation(act)),
        shapes(&[&[4]]),
        3,
        true,
    );
    let mut rng = Rng::new(31);
    for _attempt in 0..1000 {
        let x = rng.vec(h.input_len(0), -1.0, 1.0);
        let p = random_params(&h, &mut rng);
        h.forward(std::slice::from_ref(&x), &p);
        // workspace 0 is the pre-activation of a fused Dense
        let z = h.workspace(0, h.output_len());
        if kinked && z.iter().any(|v| v.abs() < 0.05) {
            continue;
        }
        let has_neg = z.iter().any(|v| *v < 0.0);
        let has_pos = z.iter().any(|v| *v > 0.0);
        assert!(has_neg && has_pos, "{name}: want both signs of z");
        check_layer(&name, &mut h, &[x], &p, 1e-2);
        return;
    }
    panic!("{name}: no data with pre-activations away from 0 found");
}

macro_rules! dense_fused_tests {
    ($($test:ident => $act:expr;)*) => {$(
        #[test]
        fn $test() {
            check_dense_fused($act);
        }
    )*};
}

dense_fused_tests! {
    dense_fused_relu => Activation::Relu;
    dense_fused_leaky_relu => Activation::LeakyRelu(0.2);
    dense_fused_elu => Activation::Elu(0.8);
    dense_fused_selu => Activation::Selu;
    dense_fused_sigmoid => Activation::Sigmoid;
    dense_fused_tanh => Activation::Tanh;
    dense_fused_gelu_tanh => Activation::GeluTanh;
    dense_fused_silu => Activation::Silu;
    dense_fused_softplus => Activation::Softplus;
}

/// See `activation_gelu_erf`.
#[test]
fn dense_fused_gelu_erf() {
    check_dense_fused(Activation::GeluErf);
}

// ---------------------------------------------------------------- Dropout, Flatten, Reshape

#[test]
fn dropout_training() {
    let rate = 0.3f32;
    let mut h = LayerHarness::new(Box::new(Dropout::new(rate)), shapes(&[&[50]]), 4, true);
    let x = Rng::new(41).vec(h.input_len(0), -2.0, 2.0);
    let y = h.forward(std::slice::from_ref(&x), &[]);
    let scale = 1.0 / (1.0 - rate);
    let mut dropped = 0;
    for (i, (&xi, &yi)) in x.iter().zip(&y).enumerate() {
        if yi == 0.0 {
            dropped += 1;
        } else {
            assert_eq!(yi.to_bits(), (xi * scale).to_bits(), "kept value {i}");
        }
    }
    // 200 values, p = 0.3: 60 expected; ±5σ ≈ ±32.
    assert!(
        (30..=95).contains(&dropped),
        "dropped {dropped} of 200 at rate {rate}"
    );
    check_layer("Dropout(0.3) training", &mut h, &[x], &[], 1e-2);
}

#[test]
fn dropout_inference_is_identity() {
    let mut h = LayerHarness::new(Box::new(Dropout::new(0.5)), shapes(&[&[9]]), 3, false);
    let x = Rng::new(42).vec(h.input_len(0), -2.0, 2.0);
    let y = h.forward(std::slice::from_ref(&x), &[]);
    assert_eq!(y, x, "inference dropout must copy its input");
    check_layer("Dropout(0.5) inference", &mut h, &[x], &[], 1e-2);
}

#[test]
fn flatten() {
    let mut h = LayerHarness::new(Box::new(Flatten::new()), shapes(&[&[2, 3]]), 3, true);
    assert_eq!(h.output_shape, Shape::new([6]));
    let x = Rng::new(43).vec(h.input_len(0), -2.0, 2.0);
    check_layer("Flatten", &mut h, &[x], &[], 1e-2);
}

#[test]
fn reshape() {
    let mut h = LayerHarness::new(Box::new(Reshape::new([3, 0])), shapes(&[&[6]]), 2, true);
    assert_eq!(h.output_shape, Shape::new([3, 2]));
    let x = Rng::new(44).vec(h.input_len(0), -2.0, 2.0);
    check_layer("Reshape([3, 0])", &mut h, &[x], &[], 1e-2);
}

// ---------------------------------------------------------------- merge layers

#[test]
fn add_two_inputs() {
    let mut h = LayerHarness::new(Box::new(Add), shapes(&[&[5], &[5]]), 3, true);
    let mut rng = Rng::new(51);
    let xs = vec![rng.vec(15, -2.0, 2.0), rng.vec(15, -2.0, 2.0)];
    check_layer("Add(2)", &mut h, &xs, &[], 1e-2);
}

#[test]
fn add_three_inputs() {
    let mut h = LayerHarness::new(Box::new(Add), shapes(&[&[4], &[4], &[4]]), 2, true);
    let mut rng = Rng::new(52);
    let xs = vec![
        rng.vec(8, -2.0, 2.0),
        rng.vec(8, -2.0, 2.0),
        rng.vec(8, -2.0, 2.0),
    ];
    check_layer("Add(3)", &mut h, &xs, &[], 1e-2);
}

#[test]
fn concat_three_inputs() {
    let mut h = LayerHarness::new(Box::new(Concat), shapes(&[&[3], &[2], &[4]]), 3, true);
    assert_eq!(h.output_shape, Shape::new([9]));
    let mut rng = Rng::new(53);
    let xs = vec![
        rng.vec(9, -2.0, 2.0),
        rng.vec(6, -2.0, 2.0),
        rng.vec(12, -2.0, 2.0),
    ];
    let y = h.forward(&xs, &[]);
    // row 1 of the output is [x0 row 1, x1 row 1, x2 row 1]
    let mut row1 = xs[0][3..6].to_vec();
    row1.extend_from_slice(&xs[1][2..4]);
    row1.extend_from_slice(&xs[2][4..8]);
    assert_eq!(&y[9..18], &row1[..], "concat row 1");
    check_layer("Concat(3)", &mut h, &xs, &[], 1e-2);
}

#[test]
fn concat_rank2_inputs() {
    let mut h = LayerHarness::new(Box::new(Concat), shapes(&[&[2, 3], &[2, 1]]), 2, true);
    assert_eq!(h.output_shape, Shape::new([2, 4]));
    let mut rng = Rng::new(54);
    let xs = vec![rng.vec(12, -2.0, 2.0), rng.vec(4, -2.0, 2.0)];
    check_layer("Concat([2,3],[2,1])", &mut h, &xs, &[], 1e-2);
}

#[test]
fn multiply() {
    let mut h = LayerHarness::new(Box::new(Multiply), shapes(&[&[6], &[6]]), 3, true);
    let mut rng = Rng::new(55);
    let xs = vec![rng.vec(18, -2.0, 2.0), rng.vec(18, -2.0, 2.0)];
    check_layer("Multiply", &mut h, &xs, &[], 1e-2);
}

/// Every layer type the library exports is covered above; this guards the list against a new
/// layer being added without a gradient check.
#[test]
fn every_layer_kind_is_checked() {
    let covered = [
        "Dense",
        "Activation",
        "Dropout",
        "Flatten",
        "Reshape",
        "Add",
        "Concat",
        "Multiply",
        // Convolution and pooling layers: tests/gradcheck_conv.rs.
        "Conv2D",
        "Conv1D",
        "MaxPool2D",
        "MaxPool1D",
        "AvgPool2D",
        "GlobalAveragePool2D",
        "SpatialDropout2D",
        // gradcheck_transformer.rs
        "Embedding",
        "PositionEmbedding",
        "LayerNorm",
        "MultiHeadAttention",
        "RmsNorm",
        "SequencePooling",
    ];
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Dense::new(1)),
        Box::new(ActivationLayer::softmax()),
        Box::new(Dropout::new(0.1)),
        Box::new(Flatten::new()),
        Box::new(Reshape::new([1])),
        Box::new(Add),
        Box::new(Concat),
        Box::new(Multiply),
        Box::new(Conv2D::new(1, (1, 1))),
        Box::new(Conv1D::new(1, 1)),
        Box::new(MaxPool2D::new((2, 2))),
        Box::new(MaxPool1D::new(2)),
        Box::new(AvgPool2D::new((2, 2))),
        Box::new(GlobalAveragePool2D::new()),
        Box::new(SpatialDropout2D::new(0.1)),
        Box::new(Embedding::new(2, 2)),
        Box::new(PositionEmbedding::new()),
        Box::new(LayerNorm::new()),
        Box::new(MultiHeadAttention::new(1)),
        Box::new(RmsNorm::new()),
        Box::new(SequencePooling::mean()),
    ];
    for l in &layers {
        assert!(covered.contains(&l.kind()), "{} has no gradcheck", l.kind());
    }
}

// ---------------------------------------------------------------- losses

/// Evaluates `Backend::loss` on fresh buffers: `(loss, dLoss/dpred)`.
fn eval_loss(
    kind: LossKind,
    target_kind: TargetKind,
    pred: &[f32],
    target: &[f32],
    rows: usize,
    cols: usize,
) -> (f32, Vec<f32>) {
    let mut be = CpuBackend::new(1);
    let p = be.alloc(pred.len()).unwrap();
    let t = be.alloc(target.len()).unwrap();
    let g = be.alloc(pred.len()).unwrap();
    let out = be.alloc(3).unwrap();
    be.upload(p, 0, pred).unwrap();
    be.upload(t, 0, target).unwrap();
    be.fill(g, pred.len(), f32::NAN).unwrap();
    be.loss(&LossArgs {
        kind,
        target_kind,
        rows,
        cols,
        pred: p,
        target: t,
        grad: g,
        loss_out: out,
        loss_index: 1,
        running_index: None,
    })
    .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    let mut v = [0.0f32; 3];
    be.download(out, 0, &mut v).unwrap();
    assert_eq!(v[0], 0.0, "{kind:?} wrote outside loss_index");
    assert_eq!(v[2], 0.0, "{kind:?} wrote outside loss_index");
    let mut grad = vec![0.0; pred.len()];
    be.download(g, 0, &mut grad).unwrap();
    (v[1], grad)
}

#[allow(clippy::too_many_arguments)]
fn check_loss(
    name: &str,
    kind: LossKind,
    target_kind: TargetKind,
    pred: &[f32],
    target: &[f32],
    rows: usize,
    cols: usize,
    step: f32,
    expected_loss: f64,
) {
    let (loss, grad) = eval_loss(kind, target_kind, pred, target, rows, cols);
    let rel = (f64::from(loss) - expected_loss).abs() / expected_loss.abs().max(1e-6);
    assert!(
        rel < 1e-5,
        "{name}: loss {loss} but the f64 reference is {expected_loss}"
    );
    assert!(grad.iter().any(|g| *g != 0.0), "{name}: zero gradient");
    let failures = fd_check(
        &format!("{name}: d/d pred"),
        pred,
        &grad,
        step,
        RTOL,
        ATOL,
        &mut |p| f64::from(eval_loss(kind, target_kind, p, target, rows, cols).0),
    );
    assert!(
        failures.is_empty(),
        "{name}: {} of {} gradient values disagree:\n{}",
        failures.len(),
        grad.len(),
        failures.join("\n")
    );
}

const R: usize = 3;
const C: usize = 4;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn ln_softmax64(row: &[f64]) -> Vec<f64> {
    let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = row.iter().map(|v| (v - mx).exp()).sum();
    row.iter().map(|v| v - mx - s.ln()).collect()
}

#[test]
fn loss_mse() {
    let mut rng = Rng::new(61);
    let (p, t) = (rng.vec(R * C, -2.0, 2.0), rng.vec(R * C, -2.0, 2.0));
    let want: f64 = f64s(&p)
        .iter()
        .zip(f64s(&t))
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        / (R * C) as f64;
    check_loss(
        "MSE",
        LossKind::Mse,
        TargetKind::Dense,
        &p,
        &t,
        R,
        C,
        1e-2,
        want,
    );
}

#[test]
fn loss_mae() {
    let mut rng = Rng::new(62);
    let t = rng.vec(R * C, -2.0, 2.0);
    let d = rng.vec_avoiding(R * C, -1.5, 1.5, &[0.0], 0.1);
    let p: Vec<f32> = t.iter().zip(&d).map(|(a, b)| a + b).collect();
    let want: f64 = f64s(&p)
        .iter()
        .zip(f64s(&t))
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / (R * C) as f64;
    check_loss(
        "MAE",
        LossKind::Mae,
        TargetKind::Dense,
        &p,
        &t,
        R,
        C,
        1e-2,
        want,
    );
}

fn check_huber(delta: f32, seed: u64) {
    let mut rng = Rng::new(seed);
    let t = rng.vec(R * C, -2.0, 2.0);
    let d = rng.vec_avoiding(R * C, -2.5, 2.5, &[-delta, delta], 0.1);
    assert!(d.iter().any(|v| v.abs() < delta) && d.iter().any(|v| v.abs() > delta));
    let p: Vec<f32> = t.iter().zip(&d).map(|(a, b)| a + b).collect();
    let dl = f64::from(delta);
    let want: f64 = f64s(&p)
        .iter()
        .zip(f64s(&t))
        .map(|(a, b)| {
            let d = (a - b).abs();
            if d <= dl {
                0.5 * d * d
            } else {
                dl * (d - 0.5 * dl)
            }
        })
        .sum::<f64>()
        / (R * C) as f64;
    check_loss(
        &format!("Huber({delta})"),
        LossKind::Huber(delta),
        TargetKind::Dense,
        &p,
        &t,
        R,
        C,
        1e-2,
        want,
    );
}

#[test]
fn loss_huber() {
    check_huber(1.0, 63);
    check_huber(0.5, 64);
}

fn bce_ref(p: &[f32], t: &[f32]) -> f64 {
    f64s(p)
        .iter()
        .zip(f64s(t))
        .map(|(q, t)| -(t * q.ln() + (1.0 - t) * (1.0 - q).ln()))
        .sum::<f64>()
        / p.len() as f64
}

#[test]
fn loss_bce_soft_targets() {
    let mut rng = Rng::new(65);
    let (p, t) = (rng.vec(R * C, 0.1, 0.9), rng.vec(R * C, 0.0, 1.0));
    let want = bce_ref(&p, &t);
    check_loss(
        "BCE",
        LossKind::Bce,
        TargetKind::Dense,
        &p,
        &t,
        R,
        C,
        2e-3,
        want,
    );
}

#[test]
fn loss_bce_hard_targets() {
    let mut rng = Rng::new(66);
    let p = rng.vec(R * C, 0.1, 0.9);
    let t: Vec<f32> = (0..R * C).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let want = bce_ref(&p, &t);
    check_loss(
        "BCE 0/1",
        LossKind::Bce,
        TargetKind::Dense,
        &p,
        &t,
        R,
        C,
        2e-3,
        want,
    );
}

#[test]
fn loss_bce_with_logits() {
    let mut rng = Rng::new(67);
    let (p, t) = (rng.vec(R * C, -4.0, 4.0), rng.vec(R * C, 0.0, 1.0));
    let want: f64 = f64s(&p)
        .iter()
        .zip(f64s(&t))
        .map(|(x, t)| {
            let s = 1.0 / (1.0 + (-x).exp());
            -(t * s.ln() + (1.0 - t) * (1.0 - s).ln())
        })
        .sum::<f64>()
        / (R * C) as f64;
    check_loss(
        "BCEWithLogits",
        LossKind::BceWithLogits,
        TargetKind::Dense,
        &p,
        &t,
        R,
        C,
        1e-2,
        want,
    );
}

#[test]
fn loss_cross_entropy_class_index() {
    let mut rng = Rng::new(68);
    let p = rng.vec(R * C, -3.0, 3.0);
    let labels = [2.0f32, 0.0, 3.0];
    let mut want = 0.0;
    for i in 0..R {
        let ls = ln_softmax64(&f64s(&p[i * C..(i + 1) * C]));
        want -= ls[labels[i] as usize];
    }
    want /= R as f64;
    check_loss(
        "CrossEntropy(class index)",
        LossKind::CrossEntropy,
        TargetKind::ClassIndex,
        &p,
        &labels,
        R,
        C,
        1e-2,
        want,
    );
}

/// Soft target rows that sum to 1 (probability distributions).
fn soft_targets(rng: &mut Rng, with_zero: bool) -> Vec<f32> {
    let mut t = rng.vec(R * C, 0.05, 1.0);
    if with_zero {
        t[1] = 0.0;
        t[C + 2] = 0.0;
    }
    for row in t.chunks_mut(C) {
        let s: f32 = row.iter().sum();
        for v in row.iter_mut() {
            *v /= s;
        }
    }
    t
}

#[test]
fn loss_cross_entropy_soft_targets() {
    let mut rng = Rng::new(69);
    let p = rng.vec(R * C, -3.0, 3.0);
    let t = soft_targets(&mut rng, false);
    let mut want = 0.0;
    for i in 0..R {
        let ls = ln_softmax64(&f64s(&p[i * C..(i + 1) * C]));
        for j in 0..C {
            want -= f64::from(t[i * C + j]) * ls[j];
        }
    }
    want /= R as f64;
    check_loss(
        "CrossEntropy(soft)",
        LossKind::CrossEntropy,
        TargetKind::Dense,
        &p,
        &t,
        R,
        C,
        1e-2,
        want,
    );
}

/// Log-probabilities of random logits.
fn log_probs(rng: &mut Rng) -> Vec<f32> {
    let z = rng.vec(R * C, -2.0, 2.0);
    z.chunks(C)
        .flat_map(|row| ln_softmax64(&f64s(row)))
        .map(|v| v as f32)
        .collect()
}

#[test]
fn loss_nll_class_index() {
    let mut rng = Rng::new(70);
    let p = log_probs(&mut rng);
    let labels = [1.0f32, 3.0, 0.0];
    let want = -(0..R)
        .map(|i| f64::from(p[i * C + labels[i] as usize]))
        .sum::<f64>()
        / R as f64;
    check_loss(
        "NLL(class index)",
        LossKind::Nll,
        TargetKind::ClassIndex,
        &p,
        &labels,
        R,
        C,
        1e-2,
        want,
    );
}

#[test]
fn loss_nll_dense_targets() {
    let mut rng = Rng::new(71);
    let p = log_probs(&mut rng);
    let t = soft_targets(&mut rng, false);
    let want = -f64s(&p)
        .iter()
        .zip(f64s(&t))
        .map(|(a, b)| a * b)
        .sum::<f64>()
        / R as f64;
    check_loss(
        "NLL(dense)",
        LossKind::Nll,
        TargetKind::Dense,
        &p,
        &t,
        R,
        C,
        1e-2,
        want,
    );
}

#[test]
fn loss_kl_div() {
    let mut rng = Rng::new(72);
    let p = log_probs(&mut rng);
    let t = soft_targets(&mut rng, true);
    let want = f64s(&p)
        .iter()
        .zip(f64s(&t))
        .map(|(lp, t)| if t > 0.0 { t * (t.ln() - lp) } else { 0.0 })
        .sum::<f64>()
        / R as f64;
    check_loss(
        "KLDiv",
        LossKind::KlDiv,
        TargetKind::Dense,
        &p,
        &t,
        R,
        C,
        1e-2,
        want,
    );
}
