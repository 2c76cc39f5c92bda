//! Reductions: column sums (bias gradients), sums of squares, global-norm clipping, accuracy
//! counts. Orders are those documented on the `Backend` methods.

use super::pool::{par_rows, ThreadPool};
use crate::backend::TargetKind;

/// `out[j] = Σ_i x[i*cols + j]`, i increasing, from 0. Parallel over column blocks.
pub fn sum_rows(pool: &ThreadPool, x: &[f32], out: &mut [f32], rows: usize, cols: usize) {
    // Treat `out` as `cols` rows of length 1 so tasks own disjoint column ranges.
    par_rows(pool, out, cols, 1, &|j0, block| {
        for o in block.iter_mut() {
            *o = 0.0;
        }
        for i in 0..rows {
            let xr = &x[i * cols + j0..i * cols + j0 + block.len()];
            for (o, &v) in block.iter_mut().zip(xr) {
                *o += v;
            }
        }
    });
}

/// `Σ x*x`, i increasing, with fma.
pub fn sum_squares(x: &[f32]) -> f32 {
    let mut acc = 0.0f32;
    for &v in x {
        acc = v.mul_add(v, acc);
    }
    acc
}

/// The factor global-norm clipping multiplies every gradient by, or `None` when the norm is
/// within `max_norm`.
pub fn clip_factor(partials: &[f32], max_norm: f32) -> Option<f32> {
    let mut total = 0.0f32;
    for &p in partials {
        total += p;
    }
    let norm = total.sqrt();
    (norm > max_norm).then(|| max_norm / (norm + 1e-6))
}

/// Index of the first maximum of a row.
#[inline]
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// Number of correct predictions (see `Backend::count_correct`).
pub fn count_correct(
    pred: &[f32],
    target: &[f32],
    target_kind: TargetKind,
    from_logits: bool,
    rows: usize,
    cols: usize,
) -> f32 {
    let mut count = 0.0f32;
    for i in 0..rows {
        let ok = if cols == 1 {
            let threshold = if from_logits { 0.0 } else { 0.5 };
            (pred[i] >= threshold) == (target[i] >= 0.5)
        } else {
            let p = argmax(&pred[i * cols..(i + 1) * cols]);
            let t = match target_kind {
                TargetKind::ClassIndex => target[i] as usize,
                TargetKind::Dense => argmax(&target[i * cols..(i + 1) * cols]),
            };
            p == t
        };
        if ok {
            count += 1.0;
        }
    }
    count
}
