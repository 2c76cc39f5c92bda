//! Reductions: global-norm clipping and accuracy counts (column sums and sums of squares are
//! chunked ops in `crate::ops::reduce`). Orders are those documented on the `Backend` methods.

use super::loss::Targets;

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
/// A class index that is negative or not below `cols` never counts as correct (the loss of
/// the same batch reports it as an error).
pub fn count_correct(
    pred: &[f32],
    targets: Targets<'_>,
    from_logits: bool,
    rows: usize,
    cols: usize,
) -> f32 {
    let mut count = 0.0f32;
    for i in 0..rows {
        let ok = if cols == 1 {
            let threshold = if from_logits { 0.0 } else { 0.5 };
            let positive = match targets {
                Targets::Dense(t) => t[i] >= 0.5,
                Targets::Classes(l) => l[i] >= 1,
            };
            (pred[i] >= threshold) == positive
        } else {
            let p = argmax(&pred[i * cols..(i + 1) * cols]);
            let t = match targets {
                Targets::Classes(l) => usize::try_from(l[i]).ok().filter(|&t| t < cols),
                Targets::Dense(t) => Some(argmax(&t[i * cols..(i + 1) * cols])),
            };
            t == Some(p)
        };
        if ok {
            count += 1.0;
        }
    }
    count
}
