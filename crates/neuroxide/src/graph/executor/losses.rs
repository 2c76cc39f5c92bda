//! Losses of a step: each output's loss value and gradient, the running sums, and the count of
//! correct predictions — for plain, sharded (`shards.rs`) and data-parallel (`cross_rank.rs`)
//! steps.

use super::{Executor, Scalar};
use crate::error::{Error, Result};
use crate::graph::node::Node;
use crate::loss::Loss;
use crate::ops::loss::{loss as loss_op, LossArgs};
use crate::ops::reduce::{self, CountCorrect};

/// Where [`Executor::losses_into`] puts each output's loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LossSink {
    /// `Scalar::Loss` and the running sum; correct predictions into the running count.
    Running,
    /// Shard `r` of a sharded step: into the shard loss sums (see `executor/shards.rs`).
    Shard(usize),
    /// `Scalar::Loss` only, and correct predictions into the step counts (a data-parallel
    /// step reduces both across ranks first; see `executor/cross_rank.rs`).
    Alone,
}

impl Executor {
    /// Evaluates each output's loss (value into `Scalar::Loss`, gradient into the output node's
    /// gradient buffer), adds it to the running sum and, when asked, counts correct predictions.
    pub fn losses(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        loss: &Loss,
        batch: usize,
        count_correct: bool,
    ) -> Result<()> {
        self.losses_into(
            nodes,
            outputs,
            loss,
            batch,
            count_correct,
            LossSink::Running,
        )
    }

    /// [`Executor::losses`] into `sink`: for a shard of a sharded step each value is added into
    /// the shard loss sums in rank order (see `executor/shards.rs`) instead of the running sum,
    /// which receives the reduced loss once per step; correct predictions are counted into the
    /// running count (integers: every order gives the same bits), or into the step counts.
    pub(super) fn losses_into(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        loss: &Loss,
        batch: usize,
        count_correct: bool,
        sink: LossSink,
    ) -> Result<()> {
        for (o, &node) in outputs.iter().enumerate() {
            let cols = nodes[node].shape.last();
            let rows = batch * nodes[node].shape.numel() / cols;
            let grad = self.grad[node].ok_or_else(|| {
                Error::invalid(format!(
                    "output '{}' is a model input; it has nothing to train",
                    nodes[node].name
                ))
            })?;
            let loss_index = self.scalar_index(Scalar::Loss(o));
            let (loss_out, loss_index, running_index) = match sink {
                LossSink::Running => (
                    self.scalars,
                    loss_index,
                    Some(self.scalar_index(Scalar::LossSum(o))),
                ),
                LossSink::Shard(0) => (self.shard_bufs.loss_sums()?, o, None),
                LossSink::Shard(_) | LossSink::Alone => (self.scalars, loss_index, None),
            };
            loss_op(
                &mut *self.backend,
                &LossArgs {
                    kind: loss.kind,
                    target_kind: loss.targets,
                    rows,
                    cols,
                    pred: self.out[node],
                    target: self.targets[o],
                    grad,
                    loss_out,
                    loss_index,
                    running_index,
                },
            )?;
            if matches!(sink, LossSink::Shard(r) if r > 0) {
                let sums = self.shard_bufs.loss_sums()?;
                reduce::accumulate_scalar(&mut *self.backend, self.scalars, loss_index, sums, o)?;
            }
            if count_correct {
                let (out, index) = match (sink, self.step_counts) {
                    (LossSink::Alone, Some(counts)) => (counts, o),
                    _ => (self.scalars, self.scalar_index(Scalar::Correct(o))),
                };
                let args = CountCorrect {
                    pred: self.out[node],
                    target: self.targets[o],
                    target_kind: loss.targets,
                    from_logits: loss.from_logits(),
                    rows,
                    cols,
                    out,
                    out_index: index,
                };
                reduce::count_correct(&mut *self.backend, &args)?;
            }
        }
        Ok(())
    }
}
