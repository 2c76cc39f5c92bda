//! Asynchronous input for [`super::CudaBackend`]: pinned host staging memory, a copy stream and
//! events (see [`crate::backend::Backend::upload_staged`] for the contract).
//!
//! Why: `cuMemcpyHtoDAsync` from pageable memory is staged by the driver and serialised with
//! the compute stream, so the upload of batch `n + 1` cannot run while batch `n` computes. From
//! pinned memory on a second stream the copy engine moves the data while the SMs run kernels.
//!
//! Ordering, by construction:
//! - *Device buffers.* A group's copies are queued on the copy stream after a wait on `fence`,
//!   an event on the compute stream recorded either by `release` (after the caller's last read
//!   of the staged destinations) or, when no release was made or buffers were allocated or
//!   freed since, at the start of the group (a full join). The compute stream waits on the
//!   group's `done` event in `wait` before any kernel that reads the destinations. `alloc`/`free`
//!   on the backend make the compute stream wait for every staged copy (so a freed block is
//!   never reused while a copy into it is in flight) and force the next full join.
//! - *Pinned memory.* Groups alternate between two sets of pinned slots. Before group `g + 2`
//!   overwrites the slots of group `g`, the host checks `done` of group `g` (`cuEventQuery`)
//!   and waits only when the copy is still running (counted in `syncs`). In a loop that reads
//!   the loss every step this never blocks: that read already waited for the step that
//!   consumed group `g`, which itself waited for group `g`'s copies.
//! - *Allocation.* Slots are created and grown only when a group has more uploads or a larger
//!   upload than ever before; steady state allocates nothing (host or device).

use super::context::{drv, DeviceShared};
use crate::backend::{BackendStats, StagedSpan};
use crate::error::{Error, Result};
use cudarc::driver::{result as cu, sys, CudaEvent, CudaStream};
use std::sync::Arc;

/// One pinned host buffer of `cap` bytes (null while `cap == 0`). Bytes, because a staged
/// upload carries values of the destination buffer's dtype (f32 features, i32 ids).
struct Pinned {
    ptr: *mut u8,
    cap: usize,
}

// SAFETY: the pointer is owned by this struct (pinned memory of the process, usable from any
// thread); it is only touched through `&mut Staging`.
unsafe impl Send for Pinned {}

impl Pinned {
    /// Makes room for `bytes` bytes. The caller guarantees no copy out of the old memory is in
    /// flight (the group's `done` event has completed).
    fn grow(&mut self, bytes: usize, stats: &mut BackendStats) -> Result<()> {
        if bytes <= self.cap {
            return Ok(());
        }
        self.release()?;
        // SAFETY: plain page-locked host allocation; the context is bound by the caller.
        let p = unsafe { cu::malloc_host(bytes, 0) }.map_err(|e| {
            Error::backend(format!(
                "cuda: allocating {bytes} bytes of pinned host staging memory failed: {e}"
            ))
        })?;
        self.ptr = p.cast::<u8>();
        self.cap = bytes;
        stats.pinned_allocs += 1;
        Ok(())
    }

    fn release(&mut self) -> Result<()> {
        if self.cap > 0 {
            // SAFETY: allocated by `cuMemHostAlloc`, no copy out of it is in flight.
            drv("cuMemFreeHost", unsafe { cu::free_host(self.ptr.cast()) })?;
        }
        self.ptr = std::ptr::null_mut();
        self.cap = 0;
        Ok(())
    }
}

/// The pinned slots of one group and the event marking the end of its copies.
struct Group {
    slots: Vec<Pinned>,
    done: CudaEvent,
    /// `done` has been recorded at least once.
    recorded: bool,
}

/// Timing events of one group: `[compute before done, copy start, copy end, consumed]`.
struct Timeline {
    base: CudaEvent,
    spans: Vec<[CudaEvent; 4]>,
    used: usize,
    /// The current group's first two events are recorded (a group that began before the
    /// timeline started is not timed).
    open: bool,
}

/// The staging state of one backend (created at its first staged upload).
pub struct Staging {
    copy: Arc<CudaStream>,
    groups: [Group; 2],
    /// The group being filled.
    cur: usize,
    /// Uploads made into the current group.
    filled: usize,
    /// On the compute stream: the copy stream waits on it before each group.
    fence: CudaEvent,
    /// `fence` was recorded by `release` since the last group started.
    released: bool,
    /// A buffer was allocated or freed since: the next group must join the compute stream.
    join_needed: bool,
    timeline: Option<Timeline>,
}

impl Staging {
    pub fn new(dev: &DeviceShared) -> Result<Self> {
        let copy = drv("creating the copy stream", dev.ctx.new_stream())?;
        let event = || drv("creating an event", dev.ctx.new_event(None));
        let group = || -> Result<Group> {
            Ok(Group {
                slots: Vec::new(),
                done: event()?,
                recorded: false,
            })
        };
        Ok(Staging {
            copy,
            groups: [group()?, group()?],
            cur: 0,
            filled: 0,
            fence: event()?,
            released: false,
            join_needed: true,
            timeline: None,
        })
    }

    /// Queues the copy of the bytes `src` to device address `dst` (checked by the caller to
    /// hold them, in the buffer's dtype) on the copy stream.
    pub fn upload(
        &mut self,
        compute: &CudaStream,
        dst: u64,
        src: &[u8],
        stats: &mut BackendStats,
    ) -> Result<()> {
        if self.filled == 0 {
            self.begin_group(compute, stats)?;
        }
        let g = &mut self.groups[self.cur];
        if g.slots.len() <= self.filled {
            g.slots.push(Pinned {
                ptr: std::ptr::null_mut(),
                cap: 0,
            });
        }
        let slot = &mut g.slots[self.filled];
        slot.grow(src.len(), stats)?;
        // SAFETY: the slot holds at least `src.len()` bytes and no copy out of it is in
        // flight (`begin_group` checked the group's previous copies completed).
        let host = unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), slot.ptr, src.len());
            std::slice::from_raw_parts(slot.ptr, src.len())
        };
        // SAFETY: `dst` holds `src.len()` bytes; `host` is pinned memory that stays untouched
        // until `done` (recorded below) has completed.
        drv("staged upload", unsafe {
            cu::memcpy_htod_async(dst, host, self.copy.cu_stream())
        })?;
        drv("recording an event", g.done.record(&self.copy))?;
        g.recorded = true;
        self.filled += 1;
        // Copy end for the timeline: recorded right behind the copy, so it timestamps the
        // copy's completion (recording it later, in `wait`, would timestamp the host's call).
        if let Some(t) = &self.timeline {
            if t.open {
                drv("recording an event", t.spans[t.used][2].record(&self.copy))?;
            }
        }
        Ok(())
    }

    fn begin_group(&mut self, compute: &CudaStream, stats: &mut BackendStats) -> Result<()> {
        let g = &self.groups[self.cur];
        if g.recorded && !drv("querying an event", g.done.try_is_complete())? {
            drv("waiting for a staged copy", g.done.synchronize())?;
            stats.syncs += 1;
        }
        if !self.released || self.join_needed {
            drv("recording an event", self.fence.record(compute))?;
        }
        drv("ordering the copy stream", self.copy.wait(&self.fence))?;
        self.released = false;
        self.join_needed = false;
        if let Some(t) = &mut self.timeline {
            if let Some(ev) = t.spans.get(t.used) {
                drv("recording an event", ev[0].record(compute))?;
                drv("recording an event", ev[1].record(&self.copy))?;
                t.open = true;
            }
        }
        Ok(())
    }

    /// Makes `compute` wait for the current group's copies and starts the next group.
    pub fn wait(&mut self, compute: &CudaStream) -> Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let g = &self.groups[self.cur];
        let timed = self.timeline.as_ref().is_some_and(|t| t.open);
        drv("waiting for staged copies", compute.wait(&g.done))?;
        if let (true, Some(t)) = (timed, &mut self.timeline) {
            drv("recording an event", t.spans[t.used][3].record(compute))?;
            t.used += 1;
            t.open = false;
        }
        self.cur ^= 1;
        self.filled = 0;
        Ok(())
    }

    /// The compute stream no longer reads the staged destinations after this point.
    pub fn release(&mut self, compute: &CudaStream) -> Result<()> {
        drv("recording an event", self.fence.record(compute))?;
        self.released = true;
        Ok(())
    }

    /// Called on every device allocation and free: later compute work runs after every staged
    /// copy queued so far, and the next group joins the compute stream.
    pub fn order_after_copies(&mut self, compute: &CudaStream) -> Result<()> {
        for g in &self.groups {
            if g.recorded {
                drv("waiting for staged copies", compute.wait(&g.done))?;
            }
        }
        self.join_needed = true;
        Ok(())
    }

    /// Waits for every queued copy (host wait).
    pub fn synchronize(&self) -> Result<()> {
        drv("synchronising the copy stream", self.copy.synchronize())
    }

    /// Records timestamps of the next `groups` groups, relative to now on `compute`.
    pub fn timeline_start(
        &mut self,
        dev: &DeviceShared,
        compute: &CudaStream,
        groups: usize,
    ) -> Result<()> {
        let timed = || {
            drv(
                "creating an event",
                dev.ctx
                    .new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT)),
            )
        };
        let mut spans = Vec::with_capacity(groups);
        for _ in 0..groups {
            spans.push([timed()?, timed()?, timed()?, timed()?]);
        }
        let base = timed()?;
        drv("recording an event", base.record(compute))?;
        self.timeline = Some(Timeline {
            base,
            spans,
            used: 0,
            open: false,
        });
        Ok(())
    }

    /// The completed spans of the timeline (waits for their events).
    pub fn timeline(&self) -> Result<Vec<StagedSpan>> {
        let Some(t) = &self.timeline else {
            return Ok(Vec::new());
        };
        let ms = |e: &CudaEvent| drv("reading an event", t.base.elapsed_ms(e));
        t.spans[..t.used]
            .iter()
            .map(|ev| {
                Ok(StagedSpan {
                    compute_before_done_ms: ms(&ev[0])?,
                    copy_start_ms: ms(&ev[1])?,
                    copy_end_ms: ms(&ev[2])?,
                    consumed_ms: ms(&ev[3])?,
                })
            })
            .collect()
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Pinned memory may be freed only once no copy reads it.
        if self.copy.synchronize().is_err() {
            return; // broken context: leak rather than free memory a copy may still read
        }
        for g in &mut self.groups {
            for s in &mut g.slots {
                let _ = s.release();
            }
        }
    }
}
