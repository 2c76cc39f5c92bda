//! Optimizer updates, one parameter tensor at a time (formulas on `OptimizerStep`).

use super::pool::{par_rows, ThreadPool};
use crate::backend::{OptimizerKind, OptimizerStep};

/// Applies one update to `w` using gradient `g` and the state slices.
pub fn step(
    pool: &ThreadPool,
    s: &OptimizerStep,
    w: &mut [f32],
    g: &[f32],
    s0: Option<&mut [f32]>,
    s1: Option<&mut [f32]>,
) {
    let n = w.len();
    let s0 = s0.map(super::pool::SharedMut::new);
    let s1 = s1.map(super::pool::SharedMut::new);
    let sc = s.scalars;
    let kind = s.kind;
    par_rows(pool, w, n, 1, &|i0, ws| {
        let len = ws.len();
        // SAFETY: every task owns the index range i0..i0+len of each state buffer.
        let mut st0 = s0.map(|b| unsafe { b.slice(i0, len) });
        let mut st1 = s1.map(|b| unsafe { b.slice(i0, len) });
        for d in 0..len {
            let i = i0 + d;
            let w_old = ws[d];
            ws[d] = match kind {
                OptimizerKind::Sgd {
                    lr,
                    momentum,
                    nesterov,
                    weight_decay,
                } => {
                    let mut gi = g[i];
                    if weight_decay != 0.0 {
                        gi += weight_decay * w_old;
                    }
                    if let (true, Some(buf)) = (momentum != 0.0, st0.as_deref_mut()) {
                        let b = &mut buf[d];
                        *b = momentum * *b + gi;
                        gi = if nesterov { gi + momentum * *b } else { *b };
                    }
                    w_old - lr * gi
                }
                OptimizerKind::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    decoupled,
                    ..
                } => {
                    let (step_size, bc2_sqrt, decay, c1, c2) = (sc[0], sc[1], sc[2], sc[3], sc[4]);
                    let mut gi = g[i];
                    let mut wv = w_old;
                    if decoupled {
                        wv *= decay;
                    } else if weight_decay != 0.0 {
                        gi += weight_decay * wv;
                    }
                    let (m, v) = match (st0.as_deref_mut(), st1.as_deref_mut()) {
                        (Some(m), Some(v)) => (&mut m[d], &mut v[d]),
                        _ => return,
                    };
                    *m = beta1 * *m + c1 * gi;
                    *v = beta2 * *v + c2 * (gi * gi);
                    let den = v.sqrt() / bc2_sqrt + eps;
                    wv - step_size * (*m / den)
                }
                OptimizerKind::RmsProp {
                    lr,
                    alpha,
                    eps,
                    momentum,
                    weight_decay,
                } => {
                    let c = sc[0];
                    let mut gi = g[i];
                    if weight_decay != 0.0 {
                        gi += weight_decay * w_old;
                    }
                    let v = match st0.as_deref_mut() {
                        Some(v) => &mut v[d],
                        None => return,
                    };
                    *v = alpha * *v + c * (gi * gi);
                    let den = v.sqrt() + eps;
                    if momentum != 0.0 {
                        let b = match st1.as_deref_mut() {
                            Some(b) => &mut b[d],
                            None => return,
                        };
                        *b = momentum * *b + gi / den;
                        w_old - lr * *b
                    } else {
                        w_old - lr * (gi / den)
                    }
                }
            };
        }
    });
}
