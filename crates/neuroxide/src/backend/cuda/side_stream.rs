//! Streams beside the backend's compute stream, for work that overlaps with it: the
//! data-parallel gradient reduction (`distributed/nccl.rs`) runs a bucket's NCCL transfers and
//! its fold kernels on a side stream while the compute stream goes on with the backward.
//! Ordering between the two is explicit, with events: the side stream waits for an event
//! recorded on the compute stream after the bucket's gradients were written, and the compute
//! stream waits for one recorded on the side stream before it reads the results.

use super::backend::CudaBackend;
use super::context::drv;
use crate::error::Result;
use cudarc::driver::{CudaEvent, CudaStream};
use std::sync::Arc;

impl CudaBackend {
    /// A new stream on this backend's GPU, at the highest priority the GPU offers (the
    /// scheduler starts its kernels before the compute stream's waiting ones, so a short
    /// reduction is not held up behind a long backward; CUDA clamps the requested priority
    /// to the supported range).
    pub fn new_side_stream(&self) -> Result<Arc<CudaStream>> {
        drv(
            "creating a side stream",
            self.dev.ctx.new_stream_with_priority(i32::MIN / 2),
        )
    }

    /// A new event (no timing) on this backend's GPU.
    pub fn new_event(&self) -> Result<CudaEvent> {
        drv("creating an event", self.dev.ctx.new_event(None))
    }

    /// Runs `f` with every launch of this backend queued on `stream` instead of the compute
    /// stream, then restores the compute stream (also when `f` fails). `f` must not allocate
    /// or free: the allocator orders reuse on the compute stream only.
    pub fn on_stream<T>(
        &mut self,
        stream: &Arc<CudaStream>,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let own = std::mem::replace(&mut self.stream, stream.clone());
        let done = f(self);
        self.stream = own;
        done
    }
}
