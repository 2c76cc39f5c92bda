//! Sharded training steps: one global batch split into `R` equal shards whose gradients are
//! summed in a fixed order, so the result does not depend on where the shards run.
//!
//! The contract (the same on the CPU, on one GPU running the shards one after the other, and —
//! through `crate::distributed` — on `R` GPUs running one shard each):
//! - the global batch of `B` rows splits into `R` shards of `B / R` rows, shard `r` being rows
//!   `r·B/R .. (r+1)·B/R` (`B` not divisible by `R` is an error naming both);
//! - each shard's forward, loss and backward are exactly today's step on a batch of `B / R`
//!   rows (so the loss is the shard's mean, and its gradient that of the shard's mean); layers
//!   that normalise over the batch use per-shard statistics, as PyTorch DDP does by default;
//!   dropout draws shard `r`'s masks with the seed [`shard_seed`]`(seed, r)`;
//! - the global gradient of every parameter is the left fold in rank order
//!   `g = ((g0 + g1) + g2) + … + g(R-1)`, element by element, then `g · fl(1/R)`;
//! - the step's loss is reduced the same way, `((l0 + l1) + …) · fl(1/R)`, and only that
//!   reduced loss enters the epoch's running sum; correct predictions are counted per shard
//!   into the running count (integers below 2^24: every order gives the same bits);
//! - clipping (on the reduced gradient) and the optimizer update then run once, as today.
//!
//! `R = 1` is not a special case of this code: it takes the plain step, so it is today's
//! training bit for bit.
//!
//! Launch sequence (fixed for a given `B`, `R`, so a step records as one CUDA graph and
//! allocates nothing): per shard, one copy per model input and target out of the *batch set*
//! (the whole global batch, filled by `Model::train_step` or by the prefetch path) into the
//! planned input and target buffers, then forward, losses, backward. Shard 0's backward writes
//! into the gradient-sum set (the parameter gradient buffers are swapped for it on the host
//! while its kernels are queued); shards `1..R-1` write the parameter gradient buffers, added
//! into the sum set (`add_assign`); the last shard's gradient is added to the sum *in the
//! gradient buffer itself* — `g(R-1) + S` has the bits of `S + g(R-1)` (IEEE addition is
//! commutative) — and `scale` multiplies it by `fl(1/R)` in place. No atomics, no new kernels.

use super::targets::{batch_shape, target_layout};
use super::{Executor, LossSink, Scalar, StepSpec};
use crate::backend::BufId;
use crate::dtype::HostData;
use crate::error::{Error, Result};
use crate::graph::node::Node;
use crate::ops::copy::{self, Copy2d};
use crate::ops::{elementwise, reduce};

/// The buffers only sharded steps use.
#[derive(Default)]
pub(crate) struct ShardBuffers {
    /// The global batch: one buffer per model input, then one per target.
    batch: Vec<BufId>,
    /// Rows each batch-set buffer holds.
    batch_rows: usize,
    /// Values per row of each batch-set buffer, recorded when a batch enters it.
    widths: Vec<usize>,
    /// The model input node of each input buffer of the batch set.
    inputs: Vec<usize>,
    /// The running sum of the shard gradients, one buffer per parameter tensor.
    grad_sums: Vec<BufId>,
    /// The running sum of each output's shard losses.
    loss_sums: Option<BufId>,
}

impl ShardBuffers {
    /// The shard loss sums (allocated by [`Executor::ensure_shard_sums`]).
    pub(super) fn loss_sums(&self) -> Result<BufId> {
        self.loss_sums
            .ok_or_else(|| Error::invalid("sharded step: shard loss sums were not planned"))
    }
}

/// The dropout seed of shard `r`: `seed` for shard 0 (so a single shard draws today's masks),
/// `seed ^ (r · 0x9E3779B97F4A7C15)` (wrapping) otherwise, so shards do not share masks.
pub fn shard_seed(seed: u64, r: usize) -> u64 {
    seed ^ (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Rows per shard of a `batch`-row global batch split into `shards` shards; an error naming
/// both when it does not split evenly.
pub fn shard_rows(batch: usize, shards: usize) -> Result<usize> {
    if shards == 0 {
        return Err(Error::invalid("the shard count must be at least 1, got 0"));
    }
    if !batch.is_multiple_of(shards) {
        return Err(Error::invalid(format!(
            "a batch of {batch} rows does not split into {shards} equal shards; use a batch \
             size divisible by {shards}"
        )));
    }
    Ok(batch / shards)
}

impl Executor {
    /// Makes the batch set hold `rows` rows of every model input (`inputs`, node indices) and
    /// every target (full node width, which also fits class indices). Allocates (and forgets
    /// the recorded steps, which copy out of it) only when it grows.
    pub fn ensure_batch_set(
        &mut self,
        nodes: &[Node],
        inputs: &[usize],
        outputs: &[usize],
        rows: usize,
    ) -> Result<()> {
        let count = inputs.len() + outputs.len();
        // Checked every sharded step: no allocation here (the dtype the loss reads, not a layout).
        let target_dtype = self.target_dtype();
        let sb = &self.shard_bufs;
        let same_targets = sb
            .batch
            .get(inputs.len()..)
            .unwrap_or_default()
            .iter()
            .all(|&b| self.backend.buf_dtype(b) == Some(target_dtype));
        if sb.batch.len() == count && rows <= sb.batch_rows && sb.inputs == inputs && same_targets {
            return Ok(());
        }
        self.forget_recordings();
        for b in std::mem::take(&mut self.shard_bufs.batch) {
            self.backend.free(b)?;
        }
        let mut batch = Vec::with_capacity(count);
        // Inputs in their declared dtype; targets as the loss reads them (i32 class ids).
        for &n in inputs {
            let shape = batch_shape(rows, nodes[n].shape.dims());
            batch.push(self.backend.alloc_typed(nodes[n].dtype, &shape)?);
        }
        for &n in outputs {
            let (dtype, shape) = target_layout(self.target_kind, rows, &nodes[n].shape);
            batch.push(self.backend.alloc_typed(dtype, &shape)?);
        }
        let sb = &mut self.shard_bufs;
        sb.batch = batch;
        sb.batch_rows = rows;
        sb.widths = vec![0; count];
        sb.inputs = inputs.to_vec();
        Ok(())
    }

    /// Uploads `values` (`rows` rows) into batch-set buffer `i` (inputs first, then targets).
    pub fn upload_to_batch_set(
        &mut self,
        i: usize,
        values: HostData<'_>,
        rows: usize,
    ) -> Result<()> {
        let b = self.batch_set_buffer(i, rows)?;
        self.backend.upload_values(b, 0, values)?;
        self.shard_bufs.widths[i] = values.len() / rows.max(1);
        Ok(())
    }

    /// Batch-set buffer `i`, checked to hold `rows` rows.
    pub(super) fn batch_set_buffer(&self, i: usize, rows: usize) -> Result<BufId> {
        let sb = &self.shard_bufs;
        match sb.batch.get(i) {
            Some(&b) if rows <= sb.batch_rows => Ok(b),
            _ => Err(Error::invalid(format!(
                "sharded step: the batch set has no buffer {i} for {rows} rows"
            ))),
        }
    }

    /// Records that batch-set buffer `i` now holds rows of `width` values.
    pub(super) fn set_batch_width(&mut self, i: usize, width: usize) {
        self.shard_bufs.widths[i] = width;
    }

    /// Allocates the gradient-sum set and the shard loss sums (once; forgets the recorded
    /// steps when it allocates, since they may not allocate themselves).
    pub(super) fn ensure_shard_sums(&mut self, outputs: usize) -> Result<()> {
        if self.shard_bufs.grad_sums.len() == self.grads.len()
            && self.shard_bufs.loss_sums.is_some()
        {
            return Ok(());
        }
        self.forget_recordings();
        let mut sums = Vec::with_capacity(self.grads.len());
        for &g in &self.grads {
            let n = self.backend.buf_len(g);
            sums.push(self.backend.alloc(n)?);
        }
        self.shard_bufs.grad_sums = sums;
        self.shard_bufs.loss_sums = Some(self.backend.alloc(outputs.max(1))?);
        Ok(())
    }

    /// Queues one sharded training step (see the module doc for its arithmetic).
    pub(super) fn queue_sharded_step(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        spec: &StepSpec,
        batch: usize,
        seed: u64,
    ) -> Result<()> {
        let shards = spec.shards;
        let rows = shard_rows(batch, shards)?;
        if rows > self.capacity {
            return Err(Error::invalid(format!(
                "sharded step: shards of {rows} rows exceed the planned {} rows",
                self.capacity
            )));
        }
        for r in 0..shards {
            self.copy_shard_in(r, rows)?;
            let s = shard_seed(seed, r);
            self.forward(nodes, rows, true, s)?;
            let sink = LossSink::Shard(r);
            self.losses_into(nodes, outputs, &spec.loss, rows, spec.track_accuracy, sink)?;
            if r == 0 {
                // Shard 0's gradients go straight into the sum set.
                std::mem::swap(&mut self.grads, &mut self.shard_bufs.grad_sums);
                let done = self.backward(nodes, rows, s);
                std::mem::swap(&mut self.grads, &mut self.shard_bufs.grad_sums);
                done?;
                continue;
            }
            self.backward(nodes, rows, s)?;
            let last = r + 1 == shards;
            for (&g, &sum) in self.grads.iter().zip(&self.shard_bufs.grad_sums) {
                let n = self.backend.buf_len(g);
                if last {
                    elementwise::add_assign(&mut *self.backend, g, sum, n)?;
                } else {
                    elementwise::add_assign(&mut *self.backend, sum, g, n)?;
                }
            }
        }
        let inv = 1.0 / shards as f32;
        for &g in &self.grads {
            let n = self.backend.buf_len(g);
            elementwise::scale(&mut *self.backend, g, n, inv)?;
        }
        self.finish_shard_losses(outputs.len(), inv)?;
        if let Some(c) = spec.clip {
            self.clip_gradients(c)?;
        }
        self.update(spec.optimizer)
    }

    /// Copies shard `r` (of `rows` rows) of every batch-set buffer into the planned input and
    /// target buffers.
    fn copy_shard_in(&mut self, r: usize, rows: usize) -> Result<()> {
        let n_in = self.shard_bufs.inputs.len();
        for i in 0..self.shard_bufs.batch.len() {
            let width = self.shard_bufs.widths[i];
            if width == 0 {
                return Err(Error::invalid(
                    "sharded step: no batch was uploaded into the batch set",
                ));
            }
            let src = self.batch_set_buffer(i, (r + 1) * rows)?;
            let dst = match i.checked_sub(n_in) {
                None => self.out[self.shard_bufs.inputs[i]],
                Some(o) => self.targets[o],
            };
            let n = rows * width;
            copy::copy_2d(
                &mut *self.backend,
                &Copy2d {
                    src_offset: r * n,
                    ..Copy2d::plain(src, dst, n)
                },
            )?;
        }
        Ok(())
    }

    /// `loss(o) = loss_sum(o) · inv`, then adds it to output `o`'s running loss sum.
    fn finish_shard_losses(&mut self, outputs: usize, inv: f32) -> Result<()> {
        let sums = self.shard_bufs.loss_sums()?;
        elementwise::scale(&mut *self.backend, sums, outputs, inv)?;
        for o in 0..outputs {
            let loss = self.scalar_index(Scalar::Loss(o));
            self.copy_scalar(sums, o, self.scalars, loss)?;
            let running = self.scalar_index(Scalar::LossSum(o));
            reduce::accumulate_scalar(&mut *self.backend, sums, o, self.scalars, running)?;
        }
        Ok(())
    }
}
