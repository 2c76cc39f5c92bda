//! Loss kernels: the mean loss and its gradient in one pass. Formulas and the reduction order
//! are documented on [`LossKind`]; rows are processed in order, so the per-row sums and the total
//! are accumulated exactly as documented.

use crate::backend::LossKind;
use crate::error::{Error, Result};
use crate::math;
use crate::math::CHUNK;
use crate::ops::elementwise::activation::softplus;
use crate::ops::softmax::cpu::row_max_sum;

#[inline]
fn sign(d: f32) -> f32 {
    if d > 0.0 {
        1.0
    } else if d < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// A loss's or a metric's targets as the CPU kernels read them: dense f32 rows, or one i32
/// class index per row (never carried as a float).
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    Dense(&'a [f32]),
    Classes(&'a [i32]),
}

/// Class index of row `i`, checked against `cols` (negative ids included).
fn label(labels: &[i32], i: usize, cols: usize) -> Result<usize> {
    let t = labels[i];
    match usize::try_from(t) {
        Ok(l) if l < cols => Ok(l),
        _ => Err(Error::invalid(format!(
            "target of row {i} is {t}, not a class index in 0..{cols}"
        ))),
    }
}

/// Computes the mean loss and writes `grad` (rows × cols). Returns the loss.
pub fn loss(
    kind: LossKind,
    targets: Targets<'_>,
    pred: &[f32],
    grad: &mut [f32],
    rows: usize,
    cols: usize,
) -> Result<f32> {
    let n = rows * cols;
    let (target, labels): (&[f32], &[i32]) = match targets {
        Targets::Dense(t) => (t, &[]),
        Targets::Classes(l) => (&[], l),
    };
    let class_targets = matches!(targets, Targets::Classes(_));
    if class_targets && !matches!(kind, LossKind::CrossEntropy | LossKind::Nll) {
        return Err(Error::invalid(format!(
            "loss {kind:?} needs dense targets, got class indices"
        )));
    }
    let d_elem = n as f32;
    let d_rows = rows as f32;
    // The row sums are added in the chunked order of PARITY rule 2a (`ops::reduce::chunked`):
    // `chunk` sums the rows of one chunk of CHUNK rows from 0, `total` the chunk sums in order.
    let (mut total, mut chunk) = (0.0f32, 0.0f32);
    for i in 0..rows {
        let p = &pred[i * cols..(i + 1) * cols];
        let g = &mut grad[i * cols..(i + 1) * cols];
        let mut row_sum = 0.0f32;
        match kind {
            LossKind::CrossEntropy => {
                let (mx, s) = row_max_sum(p);
                let ls = math::log(s);
                let lab = if class_targets {
                    Some(label(labels, i, cols)?)
                } else {
                    None
                };
                for j in 0..cols {
                    let logsm = (p[j] - mx) - ls;
                    let t = match lab {
                        Some(l) => f32::from(u8::from(j == l)),
                        None => target[i * cols + j],
                    };
                    match lab {
                        Some(l) if l == j => row_sum += -logsm,
                        Some(_) => {}
                        None => row_sum += -(t * logsm),
                    }
                    let sm = math::exp(p[j] - mx) / s;
                    g[j] = (sm - t) / d_rows;
                }
            }
            LossKind::Nll => {
                let lab = if class_targets {
                    Some(label(labels, i, cols)?)
                } else {
                    None
                };
                for j in 0..cols {
                    let t = match lab {
                        Some(l) => f32::from(u8::from(j == l)),
                        None => target[i * cols + j],
                    };
                    match lab {
                        Some(l) if l == j => row_sum += -p[j],
                        Some(_) => {}
                        None => row_sum += -(t * p[j]),
                    }
                    g[j] = -t / d_rows;
                }
            }
            LossKind::KlDiv => {
                for j in 0..cols {
                    let t = target[i * cols + j];
                    if t > 0.0 {
                        row_sum += t * (math::log(t) - p[j]);
                    }
                    g[j] = -t / d_rows;
                }
            }
            _ => {
                for j in 0..cols {
                    let t = target[i * cols + j];
                    let (term, dterm) = elementwise(kind, p[j], t);
                    row_sum += term;
                    g[j] = dterm / d_elem;
                }
            }
        }
        chunk += row_sum;
        if (i + 1) % CHUNK == 0 || i + 1 == rows {
            total = if i < CHUNK { chunk } else { total + chunk };
            chunk = 0.0;
        }
    }
    let denom = match kind {
        LossKind::CrossEntropy | LossKind::Nll | LossKind::KlDiv => d_rows,
        _ => d_elem,
    };
    Ok(total / denom)
}

/// `(term, dterm)` of the elementwise losses, before division by the element count.
#[inline]
fn elementwise(kind: LossKind, p: f32, t: f32) -> (f32, f32) {
    match kind {
        LossKind::Mse => {
            let d = p - t;
            (d * d, 2.0 * d)
        }
        LossKind::Mae => {
            let d = p - t;
            (d.abs(), sign(d))
        }
        LossKind::Huber(delta) => {
            let d = p - t;
            let a = d.abs();
            if a <= delta {
                (0.5 * d * d, d)
            } else {
                (delta * (a - 0.5 * delta), delta * sign(d))
            }
        }
        LossKind::Bce => {
            let q = p.clamp(1e-7, 1.0 - 1e-7);
            let term = -(t * math::log(q) + (1.0 - t) * math::log(1.0 - q));
            (term, (q - t) / (q * (1.0 - q)))
        }
        LossKind::BceWithLogits => {
            let term = (p.max(0.0) - p * t) + softplus(-p.abs());
            (term, math::sigmoid(p) - t)
        }
        LossKind::CrossEntropy | LossKind::Nll | LossKind::KlDiv => (0.0, 0.0),
    }
}
