//! [`CudaBackend`]: buffers in device memory, one stream per backend (so several backends, e.g.
//! one per thread, run concurrently on one GPU), and the launch path of the ops' kernels.
//!
//! Ops check their operands through [`CudaBackend::operands`] exactly as the CPU backend does
//! (buffer sizes, aliasing of outputs with inputs) and queue kernels through `launch_op*`, the
//! one path the launch counter, the kernel profiler and step recording see; nothing waits for
//! the device except [`Backend::download`] and [`Backend::synchronize`], which are counted in
//! [`BackendStats::syncs`].

use super::alloc::{size_class, Block, FreePool};
use super::compile::{self, Family};
use super::context::{self, drv, DeviceShared, Func};
use super::launch::{blocks_for, KArgs, BLOCK};
use crate::backend::{BackendStats, BufId};
use crate::dtype::DType;
use crate::error::{Error, Result};
use cudarc::driver::{result as cu, sys, CudaStream};
use std::collections::HashMap;
use std::sync::Arc;

/// The statistics a [`CudaBackend`] keeps (see [`BackendStats`]).
pub type CudaStats = BackendStats;

/// A live buffer: its block, its length in values, its dtype and shape (the buffer table
/// entry every transfer and operand check reads).
#[derive(Clone)]
pub(super) struct Buf {
    pub(super) block: Block,
    pub(super) len: usize,
    pub(super) dtype: DType,
    pub(super) shape: Vec<usize>,
}

/// The CUDA backend.
pub struct CudaBackend {
    pub(super) dev: Arc<DeviceShared>,
    pub(super) stream: Arc<CudaStream>,
    pub(super) bufs: Vec<Option<Buf>>,
    pub(super) free: FreePool,
    pub(super) funcs: HashMap<&'static str, Func>,
    /// Scratch of the two-pass ops (loss, count_correct, chunked reductions), grown on demand.
    pub(super) scratch: Option<Block>,
    /// One u64 on the device: the smallest `(row << 32 | value bits)` of an invalid class index
    /// seen by a loss kernel, or all ones.
    pub(super) status: Block,
    /// `cols` of the last class-index loss whose status is not yet checked.
    pub(super) status_cols: Option<usize>,
    pub(super) stats: BackendStats,
    pub(super) blas: Option<super::blas::Blas>,
    /// Copy stream and pinned staging memory of [`Backend::upload_staged`], created at the
    /// first staged upload.
    pub(super) staging: Option<super::staging::Staging>,
    /// Recorded steps (CUDA graphs) and the capture in progress.
    pub(super) recorder: super::graph::Recorder,
    /// Device tables uploaded by ops (the multi-tensor optimizer's buffer table): the buffer
    /// ids each was built for, and the uploaded block.
    pub(super) tables: Vec<(Vec<u32>, Block)>,
    /// [`crate::backend::Backend::constant_table`]'s tables (ordinary buffers).
    pub(super) constants: Vec<(String, BufId)>,
    /// Per-kernel timing (`NEUROXIDE_PROFILE_KERNELS=1`), printed when the backend is dropped.
    pub(super) profile: Option<super::profile::KernelProfile>,
}

pub(super) const F32: usize = std::mem::size_of::<f32>();

impl CudaBackend {
    /// A backend on GPU `ordinal` with its own stream.
    pub fn new(ordinal: usize) -> Result<Self> {
        let dev = context::device(ordinal)?;
        context::guarded("creating a CUDA stream", || {
            let stream = drv("creating a stream", dev.ctx.new_stream())?;
            let mut b = CudaBackend {
                dev: dev.clone(),
                stream,
                bufs: Vec::new(),
                free: FreePool::default(),
                funcs: HashMap::new(),
                scratch: None,
                status: Block { ptr: 0, bytes: 0 },
                status_cols: None,
                stats: BackendStats::default(),
                blas: None,
                staging: None,
                recorder: super::graph::Recorder::default(),
                profile: super::profile::KernelProfile::from_env(),
                tables: Vec::new(),
                constants: Vec::new(),
            };
            b.status = b.raw_alloc(8)?;
            b.reset_status()?;
            Ok(b)
        })
    }

    /// The GPU's shared state (name, compute capability, multiprocessor count).
    pub fn device_info(&self) -> (&str, (i32, i32), u32) {
        (&self.dev.name, self.dev.cc, self.dev.sm_count)
    }

    /// Allocation and synchronisation counters.
    pub fn stats(&self) -> CudaStats {
        self.stats
    }

    /// NVRTC's log for `family` (compiled for this card first if needed, by loading `kernel`;
    /// resource usage when `NEUROXIDE_NVRTC_VERBOSE` is set).
    pub fn compile_log(&mut self, family: Family, kernel: &'static str) -> Result<String> {
        self.func(family, kernel)?;
        Ok(self.dev.compile_log(family).unwrap_or_default())
    }

    /// The raw CUDA stream this backend queues work on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Launches kernel `name` of an op's family on this backend's stream (counted in
    /// [`BackendStats::kernel_launches`]).
    pub fn launch_op(
        &mut self,
        family: Family,
        name: &'static str,
        grid: (u32, u32, u32),
        block: u32,
        args: KArgs,
    ) -> Result<()> {
        self.launch(family, name, grid, block, args)
    }

    /// A grid-stride launch of an op's kernel over `n` items ([`BLOCK`] threads per block).
    pub fn launch_op_1d(
        &mut self,
        family: Family,
        name: &'static str,
        n: usize,
        args: KArgs,
    ) -> Result<()> {
        self.launch_1d(family, name, n, args)
    }

    /// A warp-per-row launch of an op's kernel over `rows` rows ([`BLOCK`] threads per block).
    pub fn launch_op_rows(
        &mut self,
        family: Family,
        name: &'static str,
        rows: usize,
        args: KArgs,
    ) -> Result<()> {
        self.launch_rows(family, name, rows, args)
    }

    /// Scratch device memory of at least `len` f32 values for an op's intermediate results
    /// (contents undefined; valid until the next op that asks for scratch).
    pub fn op_scratch(&mut self, len: usize) -> Result<u64> {
        self.scratch(len)
    }

    /// The device word where a kernel records the smallest `(row << 32 | value bits)` of an
    /// invalid class index it met (all ones when none); an error cannot leave the device.
    pub fn status_word(&self) -> u64 {
        self.status.ptr
    }

    /// Has the next synchronisation read [`CudaBackend::status_word`] and raise an error
    /// naming the row when a class index outside `0..cols` was recorded.
    pub fn check_class_indices_at_sync(&mut self, cols: usize) {
        self.status_cols = Some(cols);
    }

    /// A device table of u64 words an op uploaded earlier (see [`CudaBackend::upload_table`])
    /// whose key `matches`: looked up without allocating, so a recorded step reuses it.
    pub fn cached_table(&self, matches: impl Fn(&[u32]) -> bool) -> Option<u64> {
        self.tables
            .iter()
            .find(|(key, _)| matches(key))
            .map(|(_, b)| b.ptr)
    }

    /// Uploads `words` as a device table remembered under `key` (the buffer ids it was built
    /// from) until the backend is dropped; returns its device address.
    pub fn upload_table(&mut self, key: Vec<u32>, words: &[u64]) -> Result<u64> {
        let block = self.raw_alloc(words.len().max(1) * 8)?;
        // SAFETY: `block` holds `words.len()` u64 values; the pageable source is staged by the
        // driver before the call returns.
        drv("uploading a device table", unsafe {
            cu::memcpy_htod_async(block.ptr, words, self.stream.cu_stream())
        })?;
        self.tables.push((key, block));
        Ok(block.ptr)
    }

    /// Multiprocessors on the card (for launch shapes).
    pub fn sm_count(&self) -> u32 {
        self.dev.sm_count
    }

    pub(crate) fn bind(&self) -> Result<()> {
        drv("binding the context", self.dev.ctx.bind_to_thread())
    }

    pub(super) fn reset_status(&mut self) -> Result<()> {
        // SAFETY: the status block is 8 bytes of device memory owned by this backend.
        drv("resetting the status word", unsafe {
            cu::memset_d8_async(self.status.ptr, 0xff, 8, self.stream.cu_stream())
        })
    }

    /// A device block of at least `bytes`, from this backend's free list, the GPU's pool, or
    /// the driver (after releasing cached blocks if the driver is out of memory).
    /// Refuses `what` while a step is being captured: allocations, frees and host waits
    /// cannot be part of a recorded step.
    pub(super) fn not_capturing(&self, what: &str) -> Result<()> {
        if self.recorder.capturing() {
            return Err(Error::backend(format!(
                "cuda: {what} while a step is being captured (a recorded step must not \
                 allocate, free or wait)"
            )));
        }
        Ok(())
    }

    pub(super) fn raw_alloc(&mut self, bytes: usize) -> Result<Block> {
        self.not_capturing("allocating device memory")?;
        let class = size_class(bytes);
        if let Some(b) = self.free.take(class) {
            self.stats.reused_allocs += 1;
            return Ok(b);
        }
        if let Some(b) = self
            .dev
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(class)
        {
            self.stats.reused_allocs += 1;
            self.stats.bytes_allocated += class as u64;
            return Ok(b);
        }
        // More than the card has free fails anyway (or, with some drivers, takes the process
        // down): say so first, naming the sizes (issue 12: sizes are checked before allocating).
        if let Ok((free, _)) = cu::mem_get_info() {
            if class > free {
                self.release_cached()?;
                let (free, total) = cu::mem_get_info().unwrap_or((free, 0));
                if class > free {
                    return Err(Error::backend(format!(
                        "cuda:{}: a buffer of {} needs more device memory than is free ({} of {} \
                         free); use a smaller model or batch",
                        self.dev.ordinal,
                        crate::memory::human(bytes as u64),
                        crate::memory::human(free as u64),
                        crate::memory::human(total as u64)
                    )));
                }
            }
        }
        // SAFETY: plain allocation; the context is bound by the caller.
        let first = unsafe { cu::malloc_sync(class) };
        let ptr = match first {
            Ok(p) => p,
            Err(cu::DriverError(sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY)) => {
                self.release_cached()?;
                // SAFETY: as above.
                unsafe { cu::malloc_sync(class) }.map_err(|e| {
                    let (free, total) = cu::mem_get_info().unwrap_or((0, 0));
                    Error::backend(format!(
                        "cuda:{}: out of device memory allocating {bytes} bytes \
                         ({class} with rounding; {free} of {total} bytes free): {e}",
                        self.dev.ordinal
                    ))
                })?
            }
            Err(e) => {
                return Err(Error::backend(format!(
                    "cuda:{}: allocating {bytes} bytes failed: {e}",
                    self.dev.ordinal
                )))
            }
        };
        self.stats.device_allocs += 1;
        self.stats.bytes_allocated += class as u64;
        Ok(Block { ptr, bytes: class })
    }

    /// Returns every cached free block (this backend's and the GPU pool's) to the driver.
    pub(super) fn release_cached(&mut self) -> Result<()> {
        drv(
            "synchronising before releasing memory",
            self.stream.synchronize(),
        )?;
        self.stats.syncs += 1;
        let mut blocks = self.free.drain();
        self.stats.bytes_allocated -= blocks.iter().map(|b| b.bytes as u64).sum::<u64>();
        blocks.extend(
            self.dev
                .pool
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(),
        );
        for b in blocks {
            // SAFETY: cached blocks are not referenced by any buffer.
            drv("cuMemFree", unsafe { cu::free_sync(b.ptr) })?;
        }
        Ok(())
    }

    pub(super) fn func(&mut self, family: Family, name: &'static str) -> Result<Func> {
        if let Some(f) = self.funcs.get(name) {
            return Ok(*f);
        }
        let f = self.dev.function(family, name)?;
        self.funcs.insert(name, f);
        Ok(f)
    }

    pub(super) fn launch(
        &mut self,
        family: Family,
        name: &'static str,
        grid: (u32, u32, u32),
        block: u32,
        mut args: KArgs,
    ) -> Result<()> {
        let f = self.func(family, name)?;
        let (mut params, n) = args.params();
        let timing = match &self.profile {
            Some(_) if !self.recorder.capturing() => {
                Some(super::profile::KernelProfile::start(&self.stream)?)
            }
            _ => None,
        };
        // SAFETY: the arguments match the kernel's signature (see the .cu files) and every
        // pointer was checked to hold the values the kernel touches.
        drv(format!("launching {name}"), unsafe {
            cu::launch_kernel(
                f.0,
                grid,
                (block, 1, 1),
                0,
                self.stream.cu_stream(),
                &mut params[..n],
            )
        })?;
        self.stats.kernel_launches += 1;
        if let (Some(p), Some(start)) = (self.profile.as_mut(), timing) {
            p.end(&self.stream, name, start)?;
        }
        Ok(())
    }

    /// A grid-stride launch over `n` items.
    pub(super) fn launch_1d(
        &mut self,
        family: Family,
        name: &'static str,
        n: usize,
        args: KArgs,
    ) -> Result<()> {
        let cap = self.dev.sm_count * 32;
        let g = blocks_for(n, BLOCK as usize, cap);
        self.launch(family, name, (g, 1, 1), BLOCK, args)
    }

    /// A warp-per-row launch over `rows` rows.
    pub(super) fn launch_rows(
        &mut self,
        family: Family,
        name: &'static str,
        rows: usize,
        args: KArgs,
    ) -> Result<()> {
        let cap = self.dev.sm_count * 16;
        let g = blocks_for(rows, (BLOCK / 32) as usize, cap);
        self.launch(family, name, (g, 1, 1), BLOCK, args)
    }

    /// Scratch of at least `len` f32 values (contents undefined).
    pub(super) fn scratch(&mut self, len: usize) -> Result<u64> {
        let bytes = len.max(1) * F32;
        if let Some(s) = self.scratch {
            if s.bytes >= bytes {
                return Ok(s.ptr);
            }
            // Stream order makes the old block reusable by later work at once.
            self.free.put(s);
            self.scratch = None;
        }
        let b = self.raw_alloc(bytes)?;
        self.scratch = Some(b);
        Ok(b.ptr)
    }

    /// Raises the error a loss kernel recorded (invalid class index), if any. Call after a sync.
    pub(super) fn check_status(&mut self) -> Result<()> {
        let Some(cols) = self.status_cols.take() else {
            return Ok(());
        };
        let mut word = [0u64; 1];
        // SAFETY: 8 bytes from the backend's status block into a local; the stream is idle.
        drv("reading the status word", unsafe {
            cu::memcpy_dtoh_sync(&mut word, self.status.ptr)
        })?;
        if word[0] == u64::MAX {
            return Ok(());
        }
        self.reset_status()?;
        let row = word[0] >> 32;
        let t = word[0] as u32 as i32;
        Err(Error::invalid(format!(
            "target of row {row} is {t}, not a class index in 0..{cols} (reported by the cuda \
             loss kernel at the next synchronisation)"
        )))
    }

    /// Before a device allocation or free: later compute work must follow every staged copy
    /// (a freed block may be reused at once in compute-stream order), and the next staged
    /// group must follow the compute stream (a new buffer is zero-filled on it).
    pub(super) fn order_after_staged(&mut self) -> Result<()> {
        match &mut self.staging {
            Some(s) => s.order_after_copies(&self.stream),
            None => Ok(()),
        }
    }

    pub(super) fn sync_stream(&mut self) -> Result<()> {
        self.not_capturing("waiting for the device")?;
        self.bind()?;
        drv("synchronising the stream", self.stream.synchronize())?;
        self.stats.syncs += 1;
        self.check_status()
    }

    /// Milliseconds of device time taken by `f`'s work, measured with CUDA events on this
    /// backend's stream (waits for the work to finish).
    pub fn time_ms(&mut self, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<f32> {
        self.bind()?;
        let start = drv(
            "recording an event",
            self.stream
                .record_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT)),
        )?;
        f(self)?;
        let end = drv(
            "recording an event",
            self.stream
                .record_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT)),
        )?;
        drv("waiting for an event", end.synchronize())?;
        self.stats.syncs += 1;
        drv("reading an event", start.elapsed_ms(&end))
    }
}

/// A function of `math.cuh`, for [`CudaBackend::eval_math`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathFn {
    Exp,
    Expm1,
    Log,
    Log1p,
    Tanh,
    Sigmoid,
    Erf,
    Softplus,
    /// `uniform01` of the input's bit pattern.
    Uniform01,
}

impl CudaBackend {
    /// `y[i] = f(x[i])` with the device's copy of Neuroxide's math (for tests against
    /// `crate::math`).
    pub fn eval_math(&mut self, f: MathFn, x: BufId, y: BufId, n: usize) -> Result<()> {
        self.bind()?;
        let ([px], [py]) = self.ios("eval_math", [(x, n)], [(y, n)])?;
        if n == 0 {
            return Ok(());
        }
        let args = KArgs::new().i32(f as i32).ptr(px).ptr(py).u64(n);
        self.launch_1d(compile::MATH_EVAL, "nx_math_eval", n, args)
    }
    /// Philox4x32-10 on the device: item `i` reads counter and key from the bit patterns of
    /// `input[6i..6i+6]` and writes its four words to `out[4i..4i+4]`.
    pub fn eval_philox(&mut self, input: BufId, out: BufId, n: usize) -> Result<()> {
        self.bind()?;
        let ([pi], [po]) = self.ios("eval_philox", [(input, 6 * n)], [(out, 4 * n)])?;
        if n == 0 {
            return Ok(());
        }
        let args = KArgs::new().ptr(pi).ptr(po).u64(n);
        self.launch_1d(compile::MATH_EVAL, "nx_philox_eval", n, args)
    }
}

impl Drop for CudaBackend {
    fn drop(&mut self) {
        if let Some(p) = &self.profile {
            eprint!("{}", p.table());
        }
        // Wait for queued work, then hand every block to the GPU's pool for other backends.
        if self.bind().is_err() || self.stream.synchronize().is_err() {
            return; // the context is broken; leak rather than hand out blocks still in use
        }
        // Staged copies may still be writing into buffers about to go to the pool.
        if self
            .staging
            .as_ref()
            .is_some_and(|s| s.synchronize().is_err())
        {
            return;
        }
        self.blas = None;
        let mut pool = self.dev.pool.lock().unwrap_or_else(|e| e.into_inner());
        for b in self.bufs.drain(..).flatten() {
            pool.put(b.block);
        }
        if let Some(s) = self.scratch.take() {
            pool.put(s);
        }
        for (_, t) in self.tables.drain(..) {
            pool.put(t);
        }
        if self.status.bytes > 0 {
            pool.put(self.status);
        }
        pool.absorb(&mut self.free);
    }
}
