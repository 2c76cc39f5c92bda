//! The training step of one rank of a data-parallel job (see `graph/cross_rank.rs`): the
//! rank's shard runs forward, loss and backward as a plain step with the shard's dropout seed
//! ([`super::shard_seed`]). The gradients, the loss and the correct count travel in one flat
//! vector laid out by gradient bucket (`grad_buckets.rs`): as soon as node `i`'s backward has
//! made a bucket's gradients final, the bucket's cross-rank reduction is queued — the reducer
//! copies the gradients into the vector, reduces, and copies them back, all while the backward
//! of the earlier layers goes on (on CUDA, on a side stream); the last bucket (with the losses
//! and counts) follows the whole backward. Then the step waits for the reductions, and
//! clipping and the update follow.
//! Gradients and losses are scaled by `fl(1/R)`, counts only summed. With an exact reduction
//! this is, value for value, the sharded step of `executor/shards.rs` with `R` = the world
//! size: the same left fold in rank order, the same scaling, the same running sums; the
//! buckets only change when each value is reduced.
//!
//! Such a step is queued, never recorded (the NCCL calls stay outside CUDA graphs), and costs
//! one copy of the gradients into and out of the flat vector.

use super::grad_buckets::GradBuckets;
use super::{Executor, LossSink, Scalar, StepSpec};
use crate::backend::BufId;
use crate::error::{Error, Result};
use crate::graph::node::Node;
use crate::graph::{CrossRankReduce, ReduceBucket};
use crate::ops::copy::{self, Copy2d};
use crate::ops::{elementwise, reduce};

impl Executor {
    /// Plans the buckets and allocates the flat vector and the per-step counts (once, or
    /// again when the bucket size or the outputs changed). The gradient buffers a plan names
    /// live as long as the executor. Runs before the step's first kernel: the previous step
    /// ended with the compute stream waiting for every reduction, so a flat vector freed here
    /// is no longer read.
    fn ensure_buckets(&mut self, nodes: &[Node], outputs: usize) -> Result<()> {
        let fresh = self
            .dp_buckets
            .as_ref()
            .is_some_and(|p| p.cap == self.dp_bucket_cap && p.outputs == outputs);
        if !fresh {
            let grads: Vec<_> = self
                .grads
                .iter()
                .map(|&g| (g, self.backend.buf_len(g)))
                .collect();
            self.dp_buckets = Some(GradBuckets::plan(
                nodes,
                &grads,
                outputs,
                self.dp_bucket_cap,
            ));
        }
        let n = self.dp_buckets.as_ref().map_or(0, GradBuckets::flat_len);
        if self.flat.is_none_or(|(_, len)| len < n) {
            if let Some((b, _)) = self.flat.take() {
                self.backend.free(b)?;
            }
            self.flat = Some((self.backend.alloc(n.max(1))?, n));
        }
        if self.step_counts.is_none() {
            self.step_counts = Some(self.backend.alloc(outputs.max(1))?);
        }
        Ok(())
    }

    /// Gradient buckets of the data-parallel step, i.e. cross-rank reductions per step (`None`
    /// before the first such step has planned them).
    pub fn dp_bucket_count(&self) -> Option<usize> {
        self.dp_buckets.as_ref().map(|p| p.buckets.len())
    }

    /// One rank's step of `batch` (local) rows; see the module doc.
    pub(super) fn cross_rank_step(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        spec: &StepSpec,
        batch: usize,
        seed: u64,
    ) -> Result<()> {
        let mut reducer = self
            .cross_rank
            .take()
            .ok_or_else(|| Error::invalid("data-parallel step without a reducer"))?;
        let done = self.ensure_buckets(nodes, outputs.len()).and_then(|()| {
            let plan = self
                .dp_buckets
                .take()
                .ok_or_else(|| Error::invalid("gradient buckets missing"))?;
            let done =
                self.cross_rank_step_with(nodes, outputs, spec, batch, seed, &plan, &mut *reducer);
            self.dp_buckets = Some(plan);
            done
        });
        self.cross_rank = Some(reducer);
        done
    }

    #[allow(clippy::too_many_arguments)]
    fn cross_rank_step_with(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        spec: &StepSpec,
        batch: usize,
        seed: u64,
        plan: &GradBuckets,
        reducer: &mut dyn CrossRankReduce,
    ) -> Result<()> {
        reducer.check_alive()?;
        let n_out = outputs.len();
        let (flat, _) = self
            .flat
            .ok_or_else(|| Error::invalid("flat vector missing"))?;
        let counts = self
            .step_counts
            .ok_or_else(|| Error::invalid("step counts missing"))?;
        reducer.prepare(self.backend.as_mut(), plan.largest())?;
        let s = super::shard_seed(seed, reducer.rank());
        self.forward(nodes, batch, true, s)?;
        elementwise::fill(&mut *self.backend, counts, n_out, 0.0)?;
        self.losses_into(
            nodes,
            outputs,
            &spec.loss,
            batch,
            spec.track_accuracy,
            LossSink::Alone,
        )?;
        let tail = plan.grad_len;
        for o in 0..n_out {
            let loss = self.scalar_index(Scalar::Loss(o));
            self.copy_scalar(self.scalars, loss, flat, tail + o)?;
            self.copy_scalar(counts, o, flat, tail + n_out + o)?;
        }
        self.backward_then(nodes, batch, s, &mut |ex, i| match plan.close_after[i] {
            Some(b) => ex.reduce_bucket(plan, b, flat, reducer),
            None => Ok(()),
        })?;
        self.reduce_bucket(plan, plan.buckets.len() - 1, flat, reducer)?;
        reducer.wait(self.backend.as_mut())?;
        for o in 0..n_out {
            let loss = self.scalar_index(Scalar::Loss(o));
            self.copy_scalar(flat, tail + o, self.scalars, loss)?;
            let running = self.scalar_index(Scalar::LossSum(o));
            reduce::accumulate_scalar(&mut *self.backend, flat, tail + o, self.scalars, running)?;
            if spec.track_accuracy {
                let correct = self.scalar_index(Scalar::Correct(o));
                reduce::accumulate_scalar(
                    &mut *self.backend,
                    flat,
                    tail + n_out + o,
                    self.scalars,
                    correct,
                )?;
            }
        }
        if let Some(c) = spec.clip {
            self.clip_gradients(c)?;
        }
        self.update(spec.optimizer)
    }

    /// Queues bucket `b`'s reduction (the reducer copies its gradients in and out).
    fn reduce_bucket(
        &mut self,
        plan: &GradBuckets,
        b: usize,
        flat: BufId,
        reducer: &mut dyn CrossRankReduce,
    ) -> Result<()> {
        let bucket = &plan.buckets[b];
        if bucket.range.is_empty() {
            return Ok(());
        }
        let r = ReduceBucket {
            flat,
            range: bucket.range.clone(),
            scaled: plan.scaled(b),
            grads: &bucket.grads,
        };
        reducer.reduce(self.backend.as_mut(), &r)
    }

    /// `dst[di] = src[si]`.
    pub(super) fn copy_scalar(
        &mut self,
        src: crate::backend::BufId,
        si: usize,
        dst: crate::backend::BufId,
        di: usize,
    ) -> Result<()> {
        copy::copy_2d(
            &mut *self.backend,
            &Copy2d {
                src_offset: si,
                dst_offset: di,
                ..Copy2d::plain(src, dst, 1)
            },
        )
    }
}
