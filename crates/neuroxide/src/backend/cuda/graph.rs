//! Recorded steps: a training step queued once under CUDA stream capture becomes a CUDA graph,
//! replayed later with one launch instead of one host call per kernel.
//!
//! Why it is safe here: a planned step is a fixed list of kernel launches over buffers that do
//! not move, with no allocation and no host wait, and every value that changes from one step
//! to the next is read by the kernels from the per-step scalar block
//! ([`crate::backend::StepBlock`]), refreshed by a host-to-device copy *outside* the graph.
//! Capture uses the backend's own stream (never the legacy default stream) in thread-local
//! mode, so other threads' backends keep working. Allocations and host waits are refused while
//! capturing (they would break the capture or be recorded wrongly).

use super::context::drv;
use crate::error::{Error, Result};
use cudarc::driver::{sys, CudaGraph, CudaStream};
use std::sync::Arc;

/// One recorded step.
struct Recorded {
    graph: CudaGraph,
    /// Kernels recorded (what one replay launches).
    launches: u64,
    /// Class count of a class-index loss in the step, whose invalid-label status must be
    /// checked at the next synchronisation after a replay.
    status_cols: Option<usize>,
}

// SAFETY: a graph's handles are plain driver objects, usable from any thread once the owning
// context is bound (every entry point of the backend binds it first); the backend that owns
// them is used by one thread at a time (`&mut self`).
unsafe impl Send for Recorded {}

/// The recorded steps of one backend and the capture in progress.
#[derive(Default)]
pub struct Recorder {
    graphs: Vec<Recorded>,
    /// Launch counter when the capture in progress began.
    capturing: Option<u64>,
}

impl Recorder {
    /// Whether a capture is in progress.
    pub fn capturing(&self) -> bool {
        self.capturing.is_some()
    }

    /// Starts capturing `stream`; `launches` is the backend's launch counter now.
    pub fn begin(&mut self, stream: &Arc<CudaStream>, launches: u64) -> Result<()> {
        if self.capturing.is_some() {
            return Err(Error::backend(
                "cuda: a step capture is already in progress",
            ));
        }
        drv(
            "beginning a CUDA graph capture",
            stream.begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
        )?;
        self.capturing = Some(launches);
        Ok(())
    }

    /// Ends the capture and instantiates the graph; returns its id.
    pub fn end(
        &mut self,
        stream: &Arc<CudaStream>,
        launches: u64,
        status_cols: Option<usize>,
    ) -> Result<usize> {
        let start = self
            .capturing
            .take()
            .ok_or_else(|| Error::backend("cuda: end_capture without begin_capture"))?;
        let graph = drv(
            "ending a CUDA graph capture",
            stream.end_capture(sys::CUgraphInstantiate_flags(0)),
        )?
        .ok_or_else(|| Error::backend("cuda: the captured step recorded no work"))?;
        drv("uploading a CUDA graph", graph.upload())?;
        self.graphs.push(Recorded {
            graph,
            launches: launches - start,
            status_cols,
        });
        Ok(self.graphs.len() - 1)
    }

    /// Abandons a capture after an error inside it (the stream leaves capture mode).
    pub fn abort(&mut self, stream: &Arc<CudaStream>) {
        if self.capturing.take().is_some() {
            // The partial graph, or the error that invalidated it, is dropped on purpose: the
            // caller reports the error that made it abort.
            let _ = stream.end_capture(sys::CUgraphInstantiate_flags(0));
        }
    }

    /// Launches recorded step `id`; returns its kernel count and class-index status columns.
    pub fn replay(&self, id: usize) -> Result<(u64, Option<usize>)> {
        let r = self
            .graphs
            .get(id)
            .ok_or_else(|| Error::backend(format!("cuda: no recorded step {id}")))?;
        drv("replaying a CUDA graph", r.graph.launch())?;
        Ok((r.launches, r.status_cols))
    }

    /// Forgets every recorded step.
    pub fn clear(&mut self) {
        self.graphs.clear();
    }
}
