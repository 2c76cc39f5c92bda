//! The seam between a training step and data parallelism across processes: the step calls a
//! [`CrossRankReduce`] between backward and the update; `crate::distributed` implements it
//! over NCCL. (The graph floor defines the trait so that it never imports the transport.)

use crate::backend::{Backend, BufId};
use crate::error::Result;

/// A reduction across the processes (ranks) of a data-parallel job, each training shard
/// `rank` of every global batch of `world_size` shards.
pub trait CrossRankReduce: Send {
    /// This process's rank.
    fn rank(&self) -> usize;
    /// Ranks in the job.
    fn world_size(&self) -> usize;
    /// Replaces the first `n` values of `flat` on every rank by their sum over ranks, folded in
    /// rank order `((v0 + v1) + v2) + …` when exact; then multiplies the first `scaled` of
    /// them by `fl(1 / world_size)`. Queued on the backend's stream like a kernel.
    fn reduce(
        &mut self,
        backend: &mut dyn Backend,
        flat: BufId,
        n: usize,
        scaled: usize,
    ) -> Result<()>;
    /// An error when another rank has died (checked before every step).
    fn check_alive(&self) -> Result<()>;
}
