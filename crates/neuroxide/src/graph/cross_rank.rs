//! The seam between a training step and data parallelism across processes: the step hands a
//! [`CrossRankReduce`] the gradients bucket by bucket while its backward runs, and waits for
//! the reductions before clipping and the update; `crate::distributed` implements it over
//! NCCL. (The graph floor defines the trait so that it never imports the transport.)

use crate::backend::{Backend, BufId};
use crate::error::Result;
use std::ops::Range;

/// A reduction across the processes (ranks) of a data-parallel job, each training shard
/// `rank` of every global batch of `world_size` shards.
///
/// A step calls [`prepare`](CrossRankReduce::prepare) once before its backward, then
/// [`reduce`](CrossRankReduce::reduce) for consecutive ranges of one flat vector as soon as
/// the values of each are final (every rank calls it for the same ranges in the same order),
/// then [`wait`](CrossRankReduce::wait) before it reads any of them.
pub trait CrossRankReduce: Send {
    /// This process's rank.
    fn rank(&self) -> usize;
    /// Ranks in the job.
    fn world_size(&self) -> usize;
    /// Makes ready everything the reductions of ranges of up to `largest` values need
    /// (nothing may be allocated once the step's backward has started: a reduction may still
    /// be running on the device).
    fn prepare(&mut self, backend: &mut dyn Backend, largest: usize) -> Result<()>;
    /// Replaces `flat[range]` on every rank by its sum over ranks, folded in rank order
    /// `((v0 + v1) + v2) + …` when exact; then multiplies the first `scaled` values of the
    /// range by `fl(1 / world_size)`. Ordered after the work already queued on the backend;
    /// may overlap with work queued after this call (which must not touch `flat[range]`)
    /// until [`wait`](CrossRankReduce::wait).
    fn reduce(
        &mut self,
        backend: &mut dyn Backend,
        flat: BufId,
        range: Range<usize>,
        scaled: usize,
    ) -> Result<()>;
    /// Orders the work queued on the backend from now on after every reduction queued so far.
    fn wait(&mut self, backend: &mut dyn Backend) -> Result<()>;
    /// An error when another rank has died (checked before every step).
    fn check_alive(&self) -> Result<()>;
}
