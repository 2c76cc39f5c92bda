//! A stream beside the backend's compute stream, for work that overlaps with it: the
//! data-parallel gradient reduction (`distributed/nccl.rs`) runs a bucket's copies, NCCL
//! transfers and fold kernels on a side stream while the compute stream goes on with the
//! backward. Ordering between the two is explicit, with two events: work queued on the side
//! stream ([`CudaBackend::on_side_stream`]) starts after everything queued on the compute
//! stream before it, and [`CudaBackend::join_side_stream`] makes the compute stream's later
//! work wait for everything queued on the side stream.

use super::backend::CudaBackend;
use super::context::drv;
use crate::error::Result;
use cudarc::driver::{CudaEvent, CudaStream};
use std::sync::Arc;

/// A side stream and the two events that order it against the compute stream.
pub struct SideStream {
    stream: Arc<CudaStream>,
    /// Recorded on the compute stream before side work is queued; the side stream waits on it.
    ready: CudaEvent,
    /// Recorded on the side stream at a join; the compute stream waits on it.
    done: CudaEvent,
    /// Side work was queued since the last join.
    pending: bool,
}

impl CudaBackend {
    /// A new side stream on this backend's GPU, at the highest priority the GPU offers (CUDA
    /// schedules its waiting blocks before the compute stream's; the requested priority is
    /// clamped to the supported range).
    pub fn new_side_stream(&self) -> Result<SideStream> {
        let ctx = &self.dev.ctx;
        Ok(SideStream {
            stream: drv(
                "creating a side stream",
                ctx.new_stream_with_priority(i32::MIN / 2),
            )?,
            ready: drv("creating an event", ctx.new_event(None))?,
            done: drv("creating an event", ctx.new_event(None))?,
            pending: false,
        })
    }

    /// Runs `f` with every launch of this backend queued on `side`, after everything queued on
    /// the compute stream so far, then restores the compute stream (also when `f` fails). `f`
    /// must not allocate or free: the allocator orders reuse on the compute stream only.
    pub fn on_side_stream<T>(
        &mut self,
        side: &mut SideStream,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        drv("recording an event", side.ready.record(&self.stream))?;
        drv("ordering the side stream", side.stream.wait(&side.ready))?;
        side.pending = true;
        let own = std::mem::replace(&mut self.stream, side.stream.clone());
        let done = f(self);
        self.stream = own;
        done
    }

    /// Orders the compute stream's later work after everything queued on `side` (nothing to
    /// do when no side work was queued since the last join).
    pub fn join_side_stream(&mut self, side: &mut SideStream) -> Result<()> {
        if side.pending {
            drv("recording an event", side.done.record(&side.stream))?;
            drv("waiting for the side stream", self.stream.wait(&side.done))?;
            side.pending = false;
        }
        Ok(())
    }
}
