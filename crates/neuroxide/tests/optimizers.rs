//! Optimizer updates through `ops::optimizer::step`, three steps each, against
//! (a) PyTorch's update rules evaluated in f64 in this file (hyper-parameters are the f32 values
//!     the user passed, widened), within 1e-6 relative, and
//! (b) a straightforward f32 re-implementation of the formulas documented on `OptimizerStep`,
//!     bit for bit.

// The reference formulas are written `a = a + b*c` exactly as documented on `OptimizerStep`.
#![allow(clippy::assign_op_pattern)]

mod common;

use common::Rng;
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::optimizer;
use neuroxide::ops::optimizer::OptimizerStep;

use neuroxide::optim::{self, OptimizerKind};
use neuroxide::Backend;

const N: usize = 24;
const STEPS: usize = 3;

/// Parameter, state 0 and state 1 after one step.
type Snapshot<T> = (Vec<T>, Vec<T>, Vec<T>);

/// Initial weights and per-step gradients. Each element keeps the sign of its gradient across
/// steps so that momentum-like states do not cancel (a relative comparison stays meaningful).
fn data(seed: u64) -> (Vec<f32>, Vec<Vec<f32>>) {
    let mut rng = Rng::new(seed);
    let w0 = rng.vec(N, -0.5, 0.5);
    let signs: Vec<f32> = (0..N)
        .map(|_| {
            if rng.uniform(0.0, 1.0) < 0.5 {
                -1.0
            } else {
                1.0
            }
        })
        .collect();
    let grads = (0..STEPS)
        .map(|_| signs.iter().map(|s| s * rng.uniform(0.05, 1.5)).collect())
        .collect();
    (w0, grads)
}

/// Runs the CPU kernel; returns the snapshot after every step.
fn run_kernel(kind: OptimizerKind, w0: &[f32], grads: &[Vec<f32>]) -> Vec<Snapshot<f32>> {
    let mut be = CpuBackend::new(1);
    let w = be.alloc(N).unwrap();
    let g = be.alloc(N).unwrap();
    let s0 = be.alloc(N).unwrap();
    let s1 = be.alloc(N).unwrap();
    be.upload(w, 0, w0).unwrap();
    let state = match kind.state_count() {
        0 => [None, None],
        1 => [Some(s0), None],
        _ => [Some(s0), Some(s1)],
    };
    let mut out = Vec::new();
    for (t, gt) in grads.iter().enumerate() {
        be.upload(g, 0, gt).unwrap();
        let step = OptimizerStep::new(kind, t as u64 + 1, w, g, state, N);
        optimizer::step(&mut be, &step).unwrap();
        let mut snap = (vec![0.0; N], vec![0.0; N], vec![0.0; N]);
        be.download(w, 0, &mut snap.0).unwrap();
        be.download(s0, 0, &mut snap.1).unwrap();
        be.download(s1, 0, &mut snap.2).unwrap();
        out.push(snap);
    }
    out
}

/// PyTorch's rules in f64 (torch.optim.SGD with dampening 0, Adam, AdamW, RMSprop not centred);
/// bias corrections are computed in f64 as PyTorch does (Python floats).
fn reference_f64(kind: OptimizerKind, w0: &[f32], grads: &[Vec<f32>]) -> Vec<Snapshot<f64>> {
    let f = f64::from;
    let mut w: Vec<f64> = w0.iter().map(|&v| f(v)).collect();
    let (mut s0, mut s1) = (vec![0.0f64; N], vec![0.0f64; N]);
    let mut out = Vec::new();
    for (ti, gt) in grads.iter().enumerate() {
        let t = ti as i32 + 1;
        for i in 0..N {
            let mut g = f(gt[i]);
            match kind {
                OptimizerKind::Sgd {
                    lr,
                    momentum,
                    nesterov,
                    weight_decay,
                } => {
                    g += f(weight_decay) * w[i];
                    if momentum != 0.0 {
                        // PyTorch starts the buffer at the first gradient: same as from 0.
                        s0[i] = if t == 1 { g } else { f(momentum) * s0[i] + g };
                        g = if nesterov {
                            g + f(momentum) * s0[i]
                        } else {
                            s0[i]
                        };
                    }
                    w[i] -= f(lr) * g;
                }
                OptimizerKind::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    decoupled,
                } => {
                    let (lr, b1, b2) = (f(lr), f(beta1), f(beta2));
                    if decoupled {
                        w[i] *= 1.0 - lr * f(weight_decay);
                    } else {
                        g += f(weight_decay) * w[i];
                    }
                    s0[i] = b1 * s0[i] + (1.0 - b1) * g;
                    s1[i] = b2 * s1[i] + (1.0 - b2) * g * g;
                    let bc1 = 1.0 - b1.powi(t);
                    let bc2 = 1.0 - b2.powi(t);
                    let denom = s1[i].sqrt() / bc2.sqrt() + f(eps);
                    w[i] -= lr / bc1 * s0[i] / denom;
                }
                OptimizerKind::RmsProp {
                    lr,
                    alpha,
                    eps,
                    momentum,
                    weight_decay,
                } => {
                    g += f(weight_decay) * w[i];
                    s0[i] = f(alpha) * s0[i] + (1.0 - f(alpha)) * g * g;
                    let avg = s0[i].sqrt() + f(eps);
                    if momentum != 0.0 {
                        s1[i] = f(momentum) * s1[i] + g / avg;
                        w[i] -= f(lr) * s1[i];
                    } else {
                        w[i] -= f(lr) * g / avg;
                    }
                }
            }
        }
        out.push((w.clone(), s0.clone(), s1.clone()));
    }
    out
}

/// The host scalars `OptimizerStep::new` passes for step `t` (the kernel's inputs).
fn host_scalars(kind: OptimizerKind, t: i32) -> [f32; 5] {
    let b = neuroxide::BufId(0);
    OptimizerStep::new(kind, t as u64, b, b, [None, None], N).scalars
}

/// The formulas of `OptimizerStep`'s doc, line by line in f32 (separate multiply and add), with
/// the host scalars of `OptimizerStep::new`.
fn reference_f32(kind: OptimizerKind, w0: &[f32], grads: &[Vec<f32>]) -> Vec<Snapshot<f32>> {
    let mut w = w0.to_vec();
    let (mut s0, mut s1) = (vec![0.0f32; N], vec![0.0f32; N]);
    let mut out = Vec::new();
    for (ti, gt) in grads.iter().enumerate() {
        let t = ti as i32 + 1;
        for i in 0..N {
            let mut g = gt[i];
            match kind {
                OptimizerKind::Sgd {
                    lr,
                    momentum,
                    nesterov,
                    weight_decay,
                } => {
                    if weight_decay != 0.0 {
                        g = g + weight_decay * w[i];
                    }
                    if momentum != 0.0 {
                        s0[i] = momentum * s0[i] + g;
                        g = if nesterov {
                            g + momentum * s0[i]
                        } else {
                            s0[i]
                        };
                    }
                    w[i] = w[i] - lr * g;
                }
                OptimizerKind::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    decoupled,
                    ..
                } => {
                    let [step_size, bc2_sqrt, decay, c1, c2] = host_scalars(kind, t);
                    if decoupled {
                        w[i] = w[i] * decay;
                    } else if weight_decay != 0.0 {
                        g = g + weight_decay * w[i];
                    }
                    s0[i] = beta1 * s0[i] + c1 * g;
                    s1[i] = beta2 * s1[i] + c2 * (g * g);
                    let den = s1[i].sqrt() / bc2_sqrt + eps;
                    w[i] = w[i] - step_size * (s0[i] / den);
                }
                OptimizerKind::RmsProp {
                    lr,
                    alpha,
                    eps,
                    momentum,
                    weight_decay,
                } => {
                    if weight_decay != 0.0 {
                        g = g + weight_decay * w[i];
                    }
                    let c = host_scalars(kind, t)[0];
                    assert_eq!(c, 1.0 - alpha);
                    s0[i] = alpha * s0[i] + c * (g * g);
                    let den = s0[i].sqrt() + eps;
                    if momentum != 0.0 {
                        s1[i] = momentum * s1[i] + g / den;
                        w[i] = w[i] - lr * s1[i];
                    } else {
                        w[i] = w[i] - lr * (g / den);
                    }
                }
            }
        }
        out.push((w.clone(), s0.clone(), s1.clone()));
    }
    out
}

/// Kernel vs the f64 PyTorch rule (within 1e-6 relative) and vs the f32 formula (bit for bit).
fn check(name: &str, kind: OptimizerKind, seed: u64) {
    check_f64(name, kind, seed);
    check_bits(name, kind, seed);
}

fn check_f64(name: &str, kind: OptimizerKind, seed: u64) {
    let (w0, grads) = data(seed);
    let got = run_kernel(kind, &w0, &grads);
    let want = reference_f64(kind, &w0, &grads);
    let slots = kind.state_count();
    let mut worst = 0.0f64;
    for t in 0..STEPS {
        let (gw, gs0, gs1) = &got[t];
        let (rw, rs0, rs1) = &want[t];
        for i in 0..N {
            // Weights: relative to the larger of the new and previous reference weight, so an
            // update that crosses zero is still measured against its own size.
            let prev = if t == 0 {
                f64::from(w0[i])
            } else {
                want[t - 1].0[i]
            };
            let base = rw[i].abs().max(prev.abs());
            let err = (f64::from(gw[i]) - rw[i]).abs() / base;
            worst = worst.max(err);
            assert!(
                err <= 1e-6,
                "{name} step {}: w[{i}] = {} but PyTorch's rule in f64 gives {} (rel. err {err:.2e})",
                t + 1,
                gw[i],
                rw[i]
            );
            for (slot, (g, r)) in [(gs0, rs0), (gs1, rs1)].into_iter().enumerate().take(slots) {
                let err = (f64::from(g[i]) - r[i]).abs() / r[i].abs().max(1e-30);
                worst = worst.max(err);
                assert!(
                    err <= 1e-6,
                    "{name} step {}: state {slot}[{i}] = {} but f64 gives {} (rel. err {err:.2e})",
                    t + 1,
                    g[i],
                    r[i]
                );
            }
        }
    }
    eprintln!("{name}: worst relative error vs f64 {worst:.2e}");
}

fn check_bits(name: &str, kind: OptimizerKind, seed: u64) {
    let (w0, grads) = data(seed);
    let got = run_kernel(kind, &w0, &grads);
    let bits = reference_f32(kind, &w0, &grads);
    let slots = kind.state_count();
    for t in 0..STEPS {
        let (gw, gs0, gs1) = &got[t];
        let (bw, bs0, bs1) = &bits[t];
        for (what, g, b) in [("w", gw, bw), ("state 0", gs0, bs0), ("state 1", gs1, bs1)]
            .into_iter()
            .take(1 + slots)
        {
            for i in 0..N {
                assert_eq!(
                    g[i].to_bits(),
                    b[i].to_bits(),
                    "{name} step {}: {what}[{i}] = {} but the documented f32 formula gives {}",
                    t + 1,
                    g[i],
                    b[i]
                );
            }
        }
        // Every step must move every weight.
        let before = if t == 0 { &w0 } else { &got[t - 1].0 };
        assert!(
            gw.iter().zip(before).all(|(a, b)| a != b),
            "{name} step {}: some weight did not change",
            t + 1
        );
    }
}

#[test]
fn sgd_plain() {
    check("SGD", optim::sgd(0.1), 1);
}

#[test]
fn sgd_weight_decay() {
    check("SGD wd", optim::sgd_momentum(0.1, 0.0, false, 0.05), 2);
}

#[test]
fn sgd_momentum() {
    check("SGD momentum", optim::sgd_momentum(0.1, 0.9, false, 0.0), 3);
}

#[test]
fn sgd_nesterov_weight_decay() {
    check(
        "SGD Nesterov wd",
        optim::sgd_momentum(0.05, 0.9, true, 0.01),
        4,
    );
}

#[test]
fn adam() {
    check_bits("Adam", optim::adam(0.05), 5);
}

/// Adam with β2 = 0.999 against PyTorch's rule. `OptimizerStep::new` computes the bias
/// correction `1 − β2^t` in f32, which loses ~6e-6 relative at t = 2, 3 (cancellation), so the
/// update is ~3e-6 relative off PyTorch's (f64) value.
#[test]
fn adam_matches_pytorch_f64() {
    check_f64("Adam", optim::adam(0.05), 5);
}

#[test]
fn adam_l2_weight_decay() {
    let kind = OptimizerKind::Adam {
        lr: 0.01,
        beta1: 0.8,
        beta2: 0.95,
        eps: 1e-6,
        weight_decay: 0.1,
        decoupled: false,
    };
    check("Adam L2", kind, 6);
}

#[test]
fn adamw() {
    check_bits("AdamW", optim::adamw(0.05, 0.1), 7);
}

/// See `adam_matches_pytorch_f64`.
#[test]
fn adamw_matches_pytorch_f64() {
    check_f64("AdamW", optim::adamw(0.05, 0.1), 7);
}

#[test]
fn rmsprop() {
    check("RMSprop", optim::rmsprop(0.01), 8);
}

#[test]
fn rmsprop_momentum_weight_decay() {
    let kind = OptimizerKind::RmsProp {
        lr: 0.01,
        alpha: 0.9,
        eps: 1e-7,
        momentum: 0.9,
        weight_decay: 0.05,
    };
    check("RMSprop momentum wd", kind, 9);
}

/// The constructors use PyTorch's defaults.
#[test]
fn constructor_defaults() {
    assert_eq!(
        optim::adam(0.001),
        OptimizerKind::Adam {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false
        }
    );
    assert_eq!(
        optim::rmsprop(0.01),
        OptimizerKind::RmsProp {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            weight_decay: 0.0
        }
    );
    assert_eq!(optim::sgd(0.1).state_count(), 0);
    assert_eq!(optim::sgd_momentum(0.1, 0.9, false, 0.0).state_count(), 1);
    assert_eq!(optim::adamw(0.1, 0.01).state_count(), 2);
    assert_eq!(optim::rmsprop(0.1).state_count(), 1);
}
