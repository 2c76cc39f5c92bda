//! The training step of one rank of a data-parallel job (see `graph/cross_rank.rs`): the
//! rank's shard runs forward, loss and backward as a plain step with the shard's dropout seed
//! ([`super::shard_seed`]); then the gradients, the loss and the correct count are packed into
//! one flat vector — `[every gradient, in parameter order | loss of each output | correct
//! count of each output]` — reduced across ranks (gradients and losses scaled by `fl(1/R)`,
//! counts only summed), unpacked, and clipping and the update follow. With an exact reduction
//! this is, value for value, the sharded step of `executor/shards.rs` with `R` = the world
//! size: the same left fold in rank order, the same scaling, the same running sums.
//!
//! Such a step is queued, never recorded (the NCCL calls stay outside CUDA graphs), and costs
//! one copy of the gradients into and out of the flat vector.

use super::{Executor, LossSink, Scalar, StepSpec};
use crate::error::{Error, Result};
use crate::graph::node::Node;
use crate::ops::copy::{self, Copy2d};
use crate::ops::{elementwise, reduce};

impl Executor {
    /// Allocates the flat vector and the per-step counts (once).
    fn ensure_flat(&mut self, outputs: usize) -> Result<usize> {
        let grads: usize = self.grads.iter().map(|&g| self.backend.buf_len(g)).sum();
        let n = grads + 2 * outputs;
        if self.flat.is_none_or(|(_, len)| len < n) {
            if let Some((b, _)) = self.flat.take() {
                self.backend.free(b)?;
            }
            self.flat = Some((self.backend.alloc(n)?, n));
        }
        if self.step_counts.is_none() {
            self.step_counts = Some(self.backend.alloc(outputs.max(1))?);
        }
        Ok(grads)
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
        let done = self.cross_rank_step_with(nodes, outputs, spec, batch, seed, &mut *reducer);
        self.cross_rank = Some(reducer);
        done
    }

    fn cross_rank_step_with(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        spec: &StepSpec,
        batch: usize,
        seed: u64,
        reducer: &mut dyn crate::graph::CrossRankReduce,
    ) -> Result<()> {
        reducer.check_alive()?;
        let n_out = outputs.len();
        let grad_len = self.ensure_flat(n_out)?;
        let (flat, _) = self
            .flat
            .ok_or_else(|| Error::invalid("flat vector missing"))?;
        let counts = self
            .step_counts
            .ok_or_else(|| Error::invalid("step counts missing"))?;
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
        self.backward(nodes, batch, s)?;
        // Pack.
        let mut at = 0;
        for &g in &self.grads {
            let n = self.backend.buf_len(g);
            copy::copy_2d(
                &mut *self.backend,
                &Copy2d {
                    dst_offset: at,
                    ..Copy2d::plain(g, flat, n)
                },
            )?;
            at += n;
        }
        for o in 0..n_out {
            let loss = self.scalar_index(Scalar::Loss(o));
            self.copy_scalar(self.scalars, loss, flat, grad_len + o)?;
            self.copy_scalar(counts, o, flat, grad_len + n_out + o)?;
        }
        reducer.reduce(
            self.backend.as_mut(),
            flat,
            grad_len + 2 * n_out,
            grad_len + n_out,
        )?;
        // Unpack.
        let mut at = 0;
        for &g in &self.grads {
            let n = self.backend.buf_len(g);
            copy::copy_2d(
                &mut *self.backend,
                &Copy2d {
                    src_offset: at,
                    ..Copy2d::plain(flat, g, n)
                },
            )?;
            at += n;
        }
        for o in 0..n_out {
            let loss = self.scalar_index(Scalar::Loss(o));
            self.copy_scalar(flat, grad_len + o, self.scalars, loss)?;
            let running = self.scalar_index(Scalar::LossSum(o));
            reduce::accumulate_scalar(
                &mut *self.backend,
                flat,
                grad_len + o,
                self.scalars,
                running,
            )?;
            if spec.track_accuracy {
                let correct = self.scalar_index(Scalar::Correct(o));
                reduce::accumulate_scalar(
                    &mut *self.backend,
                    flat,
                    grad_len + n_out + o,
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
