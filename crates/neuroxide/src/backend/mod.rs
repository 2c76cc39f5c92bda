//! The `Backend` trait: what is not an op. Buffers (owned by the backend, named by [`BufId`]),
//! transfers, staged input, synchronisation, step recording and counters; the kernels are the
//! ops of `crate::ops`, which reach the concrete backend through [`Backend::kernels`].
//!
//! Layers and ops are written once against this trait and never know which device they run on.
//! Every op takes explicit sizes, so the same planned buffers serve any batch up to the planned
//! maximum (a kernel uses only the prefix it needs). Each op documents its exact-mode
//! arithmetic and reduction order on its args (`../../shared/PARITY.md`); the value types the
//! kernels switch on are in `kinds.rs`, and their CUDA codes are generated from there
//! (`cuda/header.rs`).

pub mod cpu;
pub mod cuda;
pub mod device;
mod kinds;

pub use kinds::{host_scalars, Activation, LossKind, OptimizerKind, StepBlock, TargetKind};

use crate::dtype::{DType, HostData, HostDataMut};
use crate::error::Result;

/// Handle of a buffer owned by a backend (an index into its buffer table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub u32);

/// Numeric mode. `Exact` kernels obey PARITY.md; `Fast` kernels may reorder reductions or use
/// vendor libraries and reduced precision, and are compared with a stated tolerance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    #[default]
    Exact,
    Fast,
}

/// Counters a backend keeps about its memory traffic and host waits (for tests that prove a
/// training step allocates nothing and synchronises once, and for `neuroxide bench`).
/// Backends without counters report zeros.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Device allocations requested from the driver (a cache miss of the allocator).
    pub device_allocs: u64,
    /// Allocations served from the allocator's cache of freed blocks.
    pub reused_allocs: u64,
    /// Bytes currently obtained from the driver by this backend (cached blocks included).
    pub bytes_allocated: u64,
    /// Times the host waited for the device (`synchronize`, `download`).
    pub syncs: u64,
    /// Kernels launched.
    pub kernel_launches: u64,
    /// Pinned (page-locked) host staging buffers obtained from the driver for
    /// [`Backend::upload_staged`]; grows only when a batch is larger than any before.
    pub pinned_allocs: u64,
    /// Recorded steps launched with [`Backend::replay`].
    pub graph_replays: u64,
}

/// Device timestamps of one group of staged uploads (one prefetched batch), in milliseconds
/// since [`Backend::staged_timeline_start`]. Recorded with events on the two streams, so they
/// show whether the copy of batch `n + 1` ran while batch `n` was computing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StagedSpan {
    /// When the compute stream finished all work queued before this group's first upload
    /// (for a batch prefetched right after step `n` was queued: the end of step `n`).
    pub compute_before_done_ms: f32,
    /// When the copy stream started this group's host→device copies.
    pub copy_start_ms: f32,
    /// When the copy stream finished them.
    pub copy_end_ms: f32,
    /// When the compute stream passed [`Backend::wait_staged`] for this group.
    pub consumed_ms: f32,
}

/// The concrete backend behind a `dyn Backend`, for op dispatch: an op in `crate::ops` checks its
/// arguments once, then matches on this to run its CPU kernel or launch its CUDA kernel (as
/// candle dispatches one op definition to each backend's storage).
pub enum Kernels<'a> {
    Cpu(&'a mut cpu::CpuBackend),
    Cuda(&'a mut cuda::CudaBackend),
}

/// The kernels. All sizes are in elements; kernel operands are f32 buffers unless a method
/// says otherwise (class-index targets are i32). A kernel's output buffer must not be one of its
/// inputs unless the method says so; backends return an error on such aliasing.
pub trait Backend: Send {
    /// The concrete backend, for the ops of `crate::ops` (see [`Kernels`]).
    fn kernels(&mut self) -> Kernels<'_>;
    /// Human-readable name, e.g. `cpu (2 threads)` or `cuda:0 (NVIDIA H100 80GB HBM3)`.
    fn name(&self) -> String;
    /// The device this backend runs on.
    fn device(&self) -> device::Device;
    /// Allocates a zero-filled buffer of `dtype` values with shape `shape` (its length is the
    /// product). The backend's buffer table records both: transfers and kernel operands are
    /// checked against the dtype ([`crate::dtype::mismatch`] names both).
    fn alloc_typed(&mut self, dtype: DType, shape: &[usize]) -> Result<BufId>;
    /// Allocates a zero-filled buffer of `len` f32 values (shape `[len]`).
    fn alloc(&mut self, len: usize) -> Result<BufId> {
        self.alloc_typed(DType::F32, &[len])
    }
    /// A buffer's dtype (`None` for an unknown or freed buffer).
    fn buf_dtype(&self, buf: BufId) -> Option<DType>;
    /// A buffer's shape as allocated (`None` for an unknown or freed buffer).
    fn buf_shape(&self, buf: BufId) -> Option<Vec<usize>>;
    /// Releases a buffer: `buf` must not be used again, and its memory may serve a later
    /// [`Backend::alloc`]. Backends that do not recycle memory keep it until they are dropped.
    fn free(&mut self, buf: BufId) -> Result<()> {
        let _ = buf;
        Ok(())
    }
    /// Length of a buffer in values of its dtype.
    fn buf_len(&self, buf: BufId) -> usize;
    /// Copies `src` into `dst[offset..offset + src.len()]`; `src` must have the buffer's dtype
    /// (an error naming the buffer and both dtypes otherwise: values are never converted).
    fn upload_values(&mut self, dst: BufId, offset: usize, src: HostData<'_>) -> Result<()>;
    /// Copies `src[offset..offset + dst.len()]` into `dst`, which must have the buffer's
    /// dtype; waits for pending work.
    fn download_values(&mut self, src: BufId, offset: usize, dst: HostDataMut<'_>) -> Result<()>;
    /// Copies f32 `src` into `dst[offset..offset + src.len()]` (an f32 buffer).
    fn upload(&mut self, dst: BufId, offset: usize, src: &[f32]) -> Result<()> {
        self.upload_values(dst, offset, HostData::F32(src))
    }
    /// Copies `src[offset..offset + dst.len()]` of an f32 buffer into `dst`; waits for
    /// pending work.
    fn download(&mut self, src: BufId, offset: usize, dst: &mut [f32]) -> Result<()> {
        self.download_values(src, offset, HostDataMut::F32(dst))
    }
    /// Waits until every queued kernel has finished.
    fn synchronize(&mut self) -> Result<()>;

    /// The constant tables of [`Backend::constant_table`] as (key, buffer), kept by the backend.
    fn constant_tables(&mut self) -> &mut Vec<(String, BufId)>;
    /// A buffer holding a constant table computed on the host (RoPE's cos/sin angles, the
    /// sinusoidal position encoding; PARITY.md rules 7 and 8a: computed once with
    /// `math::host`, then copied, so every backend reads the same bits). `make` runs and its
    /// values are uploaded the first time `key` is asked for; later calls return the same
    /// buffer for the backend's lifetime. The first step of a kind runs queued, so a recorded
    /// step never uploads. The key names the table and every number it depends on.
    fn constant_table(&mut self, key: &str, make: &dyn Fn() -> Vec<f32>) -> Result<BufId> {
        if let Some((_, b)) = self.constant_tables().iter().find(|(k, _)| k == key) {
            return Ok(*b);
        }
        let values = make();
        let buf = self.alloc(values.len())?;
        self.upload(buf, 0, &values)?;
        self.constant_tables().push((key.to_string(), buf));
        Ok(buf)
    }

    /// Asynchronous upload for double-buffered input: copies `src` into `dst[0..src.len()]`
    /// without making the compute work wait for the host.
    ///
    /// Why: a synchronous upload from pageable memory serialises "copy batch n+1" and
    /// "compute batch n". A backend with a separate copy engine (CUDA) copies `src` into pinned
    /// host staging memory and queues the host→device copy on a *copy stream*, so it runs while
    /// the kernels already queued on the compute stream execute. `src` may be reused as soon as
    /// this returns.
    ///
    /// Ordering contract (what callers must do and what they get):
    /// - Uploads between two [`Backend::wait_staged`] calls form one *group* (one batch). The
    ///   group's copies start only after the compute stream has reached the last
    ///   [`Backend::release_staged`] point (or, when none was made since the previous group or
    ///   buffers were allocated or freed since, everything queued on the compute stream so far).
    /// - `dst` must not be read by any kernel until [`Backend::wait_staged`] has been called;
    ///   kernels queued after it see the uploaded values.
    /// - Host staging memory is double-buffered by group: the pinned memory of group `g` is
    ///   overwritten at group `g + 2` only after group `g`'s copies have completed (the host
    ///   waits, counted in [`BackendStats::syncs`], only if they have not).
    ///
    /// Default (backends without a copy engine, the CPU): [`Backend::upload`] at offset 0.
    fn upload_staged(&mut self, dst: BufId, src: HostData<'_>) -> Result<()> {
        self.upload_values(dst, 0, src)
    }
    /// Ends the current group of [`Backend::upload_staged`] calls: kernels queued from now on
    /// run after the group's copies have completed. On CUDA this is a device-side wait
    /// (`cuStreamWaitEvent`); the host never waits. Does nothing when no upload is pending.
    fn wait_staged(&mut self) -> Result<()> {
        Ok(())
    }
    /// Marks the point on the compute stream after which the destinations of staged uploads
    /// are no longer read (the caller has queued its copies out of them), so the next group of
    /// [`Backend::upload_staged`] may overwrite them as soon as the device reaches this point
    /// instead of waiting for all later work.
    fn release_staged(&mut self) -> Result<()> {
        Ok(())
    }
    /// Starts recording device timestamps of the next `groups` groups of staged uploads (for
    /// tests and benchmarks that prove copy/compute overlap). Returns `false` when the backend
    /// has no such timeline (the default; the CPU).
    fn staged_timeline_start(&mut self, groups: usize) -> Result<bool> {
        let _ = groups;
        Ok(false)
    }
    /// The spans recorded since [`Backend::staged_timeline_start`], oldest first; waits for
    /// the recorded events. Empty by default.
    fn staged_timeline(&mut self) -> Result<Vec<StagedSpan>> {
        Ok(Vec::new())
    }

    /// Starts recording the kernels queued from now on as one replayable step (on CUDA, a CUDA
    /// graph) instead of running them. Returns `false`, changing nothing, on a backend that
    /// cannot record (the CPU, the default). While recording, allocations, frees and host waits
    /// are errors.
    fn begin_capture(&mut self) -> Result<bool> {
        Ok(false)
    }
    /// Ends the recording begun by [`Backend::begin_capture`] and returns the recorded step's
    /// id. Nothing recorded has run yet: [`Backend::replay`] runs it.
    fn end_capture(&mut self) -> Result<usize> {
        Err(crate::error::Error::backend(
            "this backend cannot record steps",
        ))
    }
    /// Abandons a recording after an error inside it.
    fn abort_capture(&mut self) {}
    /// Runs recorded step `id` (every kernel it recorded, in order, on the same buffers);
    /// returns the number of kernels it launched.
    fn replay(&mut self, id: usize) -> Result<u64> {
        let _ = id;
        Err(crate::error::Error::backend(
            "this backend cannot record steps",
        ))
    }
    /// Forgets every recorded step (before buffers they use are freed or replanned).
    fn clear_captures(&mut self) {}

    /// Allocation and synchronisation counters (see [`BackendStats`]); zeros by default.
    fn stats(&self) -> BackendStats {
        BackendStats::default()
    }
}
