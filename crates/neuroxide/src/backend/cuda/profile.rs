//! Per-kernel timing for `NEUROXIDE_PROFILE_KERNELS=1`: every launch outside a step recording
//! is bracketed by two timing events and waited for, and the totals per kernel name are
//! printed to stderr when the backend is dropped. Slow by design (one host wait per kernel):
//! it answers "where does a step's device time go", for docs/PERF.md, never for a benchmark.

use super::context::drv;
use crate::error::Result;
use cudarc::driver::{sys, CudaEvent, CudaStream};
use std::sync::Arc;

/// Kernel time totals of one backend.
#[derive(Default)]
pub struct KernelProfile {
    entries: Vec<(&'static str, u64, f64)>,
}

impl KernelProfile {
    /// A profile when `NEUROXIDE_PROFILE_KERNELS=1`, else `None`.
    pub fn from_env() -> Option<Self> {
        std::env::var("NEUROXIDE_PROFILE_KERNELS")
            .is_ok_and(|v| v == "1")
            .then(KernelProfile::default)
    }

    /// Records a start event before a launch.
    pub fn start(stream: &Arc<CudaStream>) -> Result<CudaEvent> {
        drv(
            "recording a profiling event",
            stream.record_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT)),
        )
    }

    /// Records the end of kernel `name` begun at `start`, waiting for it.
    pub fn end(
        &mut self,
        stream: &Arc<CudaStream>,
        name: &'static str,
        start: CudaEvent,
    ) -> Result<()> {
        let end = Self::start(stream)?;
        let ms = f64::from(drv("timing a kernel", start.elapsed_ms(&end))?);
        match self.entries.iter_mut().find(|e| e.0 == name) {
            Some(e) => {
                e.1 += 1;
                e.2 += ms;
            }
            None => self.entries.push((name, 1, ms)),
        }
        Ok(())
    }

    /// The totals as a table, slowest kernel first.
    pub fn table(&self) -> String {
        let mut rows = self.entries.clone();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2));
        let total: f64 = rows.iter().map(|r| r.2).sum();
        let mut s = format!(
            "kernel profile (NEUROXIDE_PROFILE_KERNELS=1): {total:.3} ms of kernel time\n\
             {:<28} {:>8} {:>10} {:>10} {:>6}\n",
            "kernel", "launches", "total ms", "us/launch", "share"
        );
        for (name, n, ms) in rows {
            s.push_str(&format!(
                "{name:<28} {n:>8} {ms:>10.3} {:>10.2} {:>5.1}%\n",
                ms * 1e3 / n as f64,
                100.0 * ms / total.max(1e-12)
            ));
        }
        s
    }
}
