//! Gradient buckets of a data-parallel step: which parameter gradients are final after which
//! node's backward, grouped into buckets of about `cap` values and laid out one after the
//! other in the flat vector the step reduces. Backward produces the last layers' gradients
//! first, so the reduction of the first buckets runs while the backward of the first layers is
//! still computing (PyTorch DDP's `bucket_cap_mb`, 25 MB by default there and here).
//!
//! Bucketing changes no bit: the cross-rank sum is elementwise, and every value gets the same
//! rank-order fold and the same scaling whichever bucket carries it.
//!
//! Layout of the flat vector: the buckets' gradients in bucket order (inside a bucket, the
//! parameters in the order they become final, then by parameter index), then the loss of each
//! output, then the correct count of each output. The last bucket holds the gradients no
//! node's backward finishes early (none in a connected model) and the losses and counts; it is
//! reduced after the whole backward.

use crate::backend::BufId;
use crate::error::{Error, Result};
use crate::graph::node::Node;
use std::ops::Range;

/// Bytes of gradients per bucket by default (PyTorch DDP's `bucket_cap_mb = 25`).
pub(crate) const DEFAULT_BUCKET_BYTES: usize = 25 << 20;

/// Values per bucket: [`DEFAULT_BUCKET_BYTES`], or `NEUROXIDE_DP_BUCKET_MB` MiB (0 puts every
/// gradient in the last bucket, reduced after the whole backward).
pub(crate) fn default_cap_values() -> Result<usize> {
    let mb = match std::env::var("NEUROXIDE_DP_BUCKET_MB") {
        Err(_) => return Ok(cap_from_bytes(DEFAULT_BUCKET_BYTES)),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|m| *m >= 0.0 && m.is_finite())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "NEUROXIDE_DP_BUCKET_MB='{v}' is not a number of MiB ≥ 0"
                ))
            })?,
    };
    Ok(cap_from_bytes((mb * 1024.0 * 1024.0) as usize))
}

/// Values per bucket for a size in bytes (0: no early buckets).
pub(crate) fn cap_from_bytes(bytes: usize) -> usize {
    if bytes == 0 {
        usize::MAX
    } else {
        (bytes / 4).max(1)
    }
}

/// One bucket: its gradients and its range of the flat vector.
#[derive(Debug, Default)]
pub(super) struct Bucket {
    /// `(gradient buffer, offset in the flat vector, values)`.
    pub grads: Vec<(BufId, usize, usize)>,
    pub range: Range<usize>,
}

/// The bucket plan of a model (see the module doc).
#[derive(Debug)]
pub(super) struct GradBuckets {
    /// In reduction order; the last one is reduced after the whole backward.
    pub buckets: Vec<Bucket>,
    /// `close_after[i]`: the bucket to reduce once node `i`'s backward is done.
    pub close_after: Vec<Option<usize>>,
    /// Values of the flat vector holding gradients (the losses and counts follow).
    pub grad_len: usize,
    /// The cap this plan was made for.
    pub cap: usize,
    /// Outputs (a loss and a count each) this plan was made for.
    pub outputs: usize,
}

impl GradBuckets {
    /// Plans the buckets of `nodes` whose parameters' gradients are `grads` (buffer, values).
    pub fn plan(nodes: &[Node], grads: &[(BufId, usize)], outputs: usize, cap: usize) -> Self {
        // Backward visits nodes in reverse: a gradient is final after the lowest node using it.
        let mut last_writer = vec![None; grads.len()];
        for (i, node) in nodes.iter().enumerate().rev() {
            for p in node.params.clone() {
                last_writer[p] = Some(i);
            }
        }
        let mut final_at: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        let mut never = Vec::new();
        for (p, w) in last_writer.iter().enumerate() {
            match *w {
                Some(i) => final_at[i].push(p),
                None => never.push(p),
            }
        }
        let mut buckets = Vec::new();
        let mut close_after = vec![None; nodes.len()];
        let mut current = Bucket::default();
        let mut at = 0;
        for i in (0..nodes.len()).rev() {
            for &p in &final_at[i] {
                let (g, n) = grads[p];
                current.grads.push((g, at, n));
                at += n;
            }
            if !current.grads.is_empty() && at - current.range.start >= cap {
                current.range.end = at;
                close_after[i] = Some(buckets.len());
                buckets.push(std::mem::take(&mut current));
                current.range.start = at;
            }
        }
        for p in never {
            let (g, n) = grads[p];
            current.grads.push((g, at, n));
            at += n;
        }
        current.range.end = at + 2 * outputs;
        buckets.push(current);
        GradBuckets {
            buckets,
            close_after,
            grad_len: at,
            cap,
            outputs,
        }
    }

    /// Values of the flat vector.
    pub fn flat_len(&self) -> usize {
        self.grad_len + 2 * self.outputs
    }

    /// Values of the largest bucket.
    pub fn largest(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| b.range.len())
            .max()
            .unwrap_or(0)
    }

    /// Values of bucket `b` that are scaled by `1/R`: all but the correct counts.
    pub fn scaled(&self, b: usize) -> usize {
        let r = &self.buckets[b].range;
        r.end.min(self.grad_len + self.outputs) - r.start
    }
}
