//! Float64 finite-difference gradient checks of every loss (split from gradcheck.rs): each
//! loss is evaluated through `ops::loss::loss` on a `CpuBackend`, and its gradient is checked
//! against central differences of its own value, inputs kept away from kinks.

mod common;

use neuroxide::ops::loss;

use common::{fd_check, Rng};
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::loss::LossArgs;

use neuroxide::ops::elementwise;
use neuroxide::{Backend, DType, HostData, LossKind, TargetKind};

const RTOL: f64 = 1e-2;
const ATOL: f64 = 1e-3;

/// Evaluates `ops::loss::loss` on fresh buffers: `(loss, dLoss/dpred)`.
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
    let g = be.alloc(pred.len()).unwrap();
    let out = be.alloc(3).unwrap();
    be.upload(p, 0, pred).unwrap();
    // Class indices go to the backend as i32 labels (the test writes them as small floats).
    let t = match target_kind {
        TargetKind::Dense => {
            let t = be.alloc(target.len()).unwrap();
            be.upload(t, 0, target).unwrap();
            t
        }
        TargetKind::ClassIndex => {
            let labels: Vec<i32> = target.iter().map(|&v| v as i32).collect();
            let t = be.alloc_typed(DType::I32, &[labels.len()]).unwrap();
            be.upload_values(t, 0, HostData::I32(&labels)).unwrap();
            t
        }
    };
    elementwise::fill(&mut be, g, pred.len(), f32::NAN).unwrap();
    loss::loss(
        &mut be,
        &LossArgs {
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
        },
    )
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
