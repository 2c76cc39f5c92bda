//! Loss kernels: the mean loss and its gradient in one pass. Formulas and the reduction order
//! are documented on [`LossKind`]; rows are processed in order, so the per-row sums and the total
//! are accumulated exactly as documented.

use crate::backend::LossKind;
use crate::error::{Error, Result};
use crate::math;
use crate::math::CHUNK;
use crate::ops::elementwise::activation::softplus;
use crate::ops::matmul::cpu::Isa;
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
///
/// Runs the AVX2 + FMA build where [`Isa::fma_selected`]: the same operations, so the same
/// bits, but the `mul_add`s of `exp` and `log` become one instruction each instead of a call
/// to the software `fmaf` (measured: those calls were 1.5% of the CPU mini_transformer step,
/// as much as the loss itself).
pub fn loss(
    kind: LossKind,
    targets: Targets<'_>,
    pred: &[f32],
    grad: &mut [f32],
    rows: usize,
    cols: usize,
) -> Result<f32> {
    #[cfg(target_arch = "x86_64")]
    if Isa::fma_selected() {
        // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
        return unsafe { loss_fma(kind, targets, pred, grad, rows, cols) };
    }
    loss_rows(kind, targets, pred, grad, rows, cols)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn loss_fma(
    kind: LossKind,
    targets: Targets<'_>,
    pred: &[f32],
    grad: &mut [f32],
    rows: usize,
    cols: usize,
) -> Result<f32> {
    loss_rows(kind, targets, pred, grad, rows, cols)
}

#[inline(always)]
fn loss_rows(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 + FMA build gives the portable build's bits for every loss (both compute each
    /// `mul_add` as one rounding; only the instruction differs), on logits with signed zeros,
    /// denormals and large magnitudes, odd widths and a partial last chunk of rows.
    #[test]
    fn fma_build_matches_the_portable_loop() {
        #[cfg(target_arch = "x86_64")]
        {
            if !Isa::fma_selected() {
                println!("skipped: this CPU runs the portable loop only");
                return;
            }
            let (rows, cols) = (CHUNK + 3, 13);
            let special = [0.0, -0.0, 1e-40, -1e-40, 30.0, -30.0, 0.5, -2.25];
            let pred: Vec<f32> = (0..rows * cols)
                .map(|i| match i % 11 {
                    0..=7 => special[i % 8],
                    _ => ((i * 37 % 101) as f32 - 50.0) / 17.0,
                })
                .collect();
            // Probabilities in (0, 1) for the losses that take them, dense one-hot-ish targets.
            let prob: Vec<f32> = pred.iter().map(|&p| 1.0 / (1.0 + math::exp(-p))).collect();
            let dense: Vec<f32> = (0..rows * cols)
                .map(|i| {
                    if i % cols == i / cols % cols {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let labels: Vec<i32> = (0..rows).map(|r| (r * 5 % cols) as i32).collect();
            let kinds = [
                LossKind::Mse,
                LossKind::Mae,
                LossKind::Huber(1.0),
                LossKind::Bce,
                LossKind::BceWithLogits,
                LossKind::CrossEntropy,
                LossKind::Nll,
                LossKind::KlDiv,
            ];
            for kind in kinds {
                let input = if kind == LossKind::Bce { &prob } else { &pred };
                let mut cases = vec![Targets::Dense(&dense)];
                if matches!(kind, LossKind::CrossEntropy | LossKind::Nll) {
                    cases.push(Targets::Classes(&labels));
                }
                for t in cases {
                    let mut g_fma = vec![0.0f32; rows * cols];
                    let mut g_plain = vec![0.0f32; rows * cols];
                    // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
                    let l_fma =
                        unsafe { loss_fma(kind, t, input, &mut g_fma, rows, cols) }.unwrap();
                    let l_plain = loss_rows(kind, t, input, &mut g_plain, rows, cols).unwrap();
                    assert_eq!(l_fma.to_bits(), l_plain.to_bits(), "{kind:?} loss");
                    let differing = g_fma
                        .iter()
                        .zip(&g_plain)
                        .filter(|(a, b)| a.to_bits() != b.to_bits())
                        .count();
                    assert_eq!(differing, 0, "{kind:?}: gradient values differing");
                }
            }
        }
    }
}
