//! The seam between a training step and data parallelism across processes: the step hands a
//! [`CrossRankReduce`] the gradients bucket by bucket while its backward runs, and waits for
//! the reductions before clipping and the update; `crate::distributed` implements it over
//! NCCL. (The graph floor defines the trait so that it never imports the transport.)

use crate::backend::{Backend, BufId};
use crate::error::Result;
use crate::ops::copy::{self, Copy2d};
use std::ops::Range;

/// One bucket of a data-parallel step: a range of the flat vector and the gradient buffers
/// whose values it carries.
pub struct ReduceBucket<'a> {
    /// The step's flat vector.
    pub flat: BufId,
    /// The bucket's values in it.
    pub range: Range<usize>,
    /// Values at the start of the range multiplied by `fl(1 / world_size)` after the sum (all
    /// but the correct counts).
    pub scaled: usize,
    /// `(gradient buffer, offset in the flat vector, values)`: copied in before the reduction
    /// ([`ReduceBucket::pack`]) and back out after it ([`ReduceBucket::unpack`]). The rest of
    /// the range (the losses and counts) is already in the vector and stays there.
    pub grads: &'a [(BufId, usize, usize)],
}

impl ReduceBucket<'_> {
    /// Copies the bucket's gradients into the flat vector.
    pub fn pack(&self, backend: &mut dyn Backend) -> Result<()> {
        for &(g, at, n) in self.grads {
            let c = Copy2d {
                dst_offset: at,
                ..Copy2d::plain(g, self.flat, n)
            };
            copy::copy_2d(backend, &c)?;
        }
        Ok(())
    }

    /// Copies the reduced values back into the gradient buffers.
    pub fn unpack(&self, backend: &mut dyn Backend) -> Result<()> {
        for &(g, at, n) in self.grads {
            let c = Copy2d {
                src_offset: at,
                ..Copy2d::plain(self.flat, g, n)
            };
            copy::copy_2d(backend, &c)?;
        }
        Ok(())
    }
}

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
    /// Packs the bucket's gradients into the flat vector ([`ReduceBucket::pack`]), replaces
    /// `flat[range]` on every rank by its sum over ranks, folded in rank order
    /// `((v0 + v1) + v2) + …` when exact, multiplies its first `scaled` values by
    /// `fl(1 / world_size)`, and unpacks the gradients. Ordered after the work already queued
    /// on the backend; may overlap with work queued after this call (which must not touch the
    /// bucket's gradients or `flat[range]`) until [`wait`](CrossRankReduce::wait).
    fn reduce(&mut self, backend: &mut dyn Backend, bucket: &ReduceBucket) -> Result<()>;
    /// Orders the work queued on the backend from now on after every reduction queued so far.
    fn wait(&mut self, backend: &mut dyn Backend) -> Result<()>;
    /// An error when another rank has died (checked before every step).
    fn check_alive(&self) -> Result<()>;
}
