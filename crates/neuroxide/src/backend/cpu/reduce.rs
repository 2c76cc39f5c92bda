//! Reductions: global-norm clipping and accuracy counts (column sums and sums of squares are
//! chunked ops in `crate::ops::reduce`). Orders are those documented on the `Backend` methods.

use crate::backend::TargetKind;

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
