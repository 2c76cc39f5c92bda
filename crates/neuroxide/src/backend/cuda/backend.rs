//! [`CudaBackend`]: buffers in device memory, exact kernels compiled by NVRTC, one stream per
//! backend (so several backends, e.g. one per thread, run concurrently on one GPU).
//!
//! Every method checks its arguments exactly as the CPU backend does (buffer sizes, aliasing of
//! outputs with inputs) and then queues its kernels on the backend's stream; nothing waits for
//! the device except [`Backend::download`] and [`Backend::synchronize`], which are counted in
//! [`BackendStats::syncs`]. Kernel formulas and reduction orders are the CPU's (see each `.cu`
//! file), so results are bit-identical.

use super::alloc::{size_class, Block, FreePool};
use super::compile::{self, Family};
use super::context::{self, drv, DeviceShared, Func};
use super::launch::{blocks_for, KArgs, BLOCK};
use crate::backend::{Activation, BackendStats, BufId};
use crate::dtype::{mismatch, DType};
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
    /// Per-row scratch of the two-pass kernels (loss, count_correct), grown on demand.
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
    /// Device tables of the multi-tensor optimizer: the buffer ids they were built for
    /// (`[param, grad, state0, state1]` per tensor) and the uploaded table.
    pub(super) optimizer_tables: Vec<(Vec<u32>, Block)>,
    /// [`crate::backend::Backend::constant_table`]'s tables (ordinary buffers).
    pub(super) constants: Vec<(String, BufId)>,
    /// Per-kernel timing (`NEUROXIDE_PROFILE_KERNELS=1`), printed when the backend is dropped.
    pub(super) profile: Option<super::profile::KernelProfile>,
}

/// Activation code and parameter as the kernels' `nx_act_*` functions take them.
pub(crate) fn act_code(act: Activation) -> (i32, f32) {
    match act {
        Activation::Linear => (0, 0.0),
        Activation::Relu => (1, 0.0),
        Activation::LeakyRelu(a) => (2, a),
        Activation::Elu(a) => (3, a),
        Activation::Selu => (4, 0.0),
        Activation::Sigmoid => (5, 0.0),
        Activation::Tanh => (6, 0.0),
        Activation::GeluTanh => (7, 0.0),
        Activation::GeluErf => (8, 0.0),
        Activation::Silu => (9, 0.0),
        Activation::Softplus => (10, 0.0),
    }
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
                optimizer_tables: Vec::new(),
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

    /// NVRTC's log for the matmul family (resource usage when `NEUROXIDE_NVRTC_VERBOSE` is set).
    pub fn matmul_compile_log(&mut self) -> Result<String> {
        self.func(compile::MATMUL, "nx_matmul_nn")?;
        Ok(self.dev.compile_log(compile::MATMUL).unwrap_or_default())
    }

    /// The raw CUDA stream this backend queues work on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The device pointers of an op's operands, checked exactly as the CPU backend's
    /// [`crate::backend::cpu::CpuBackend::operands`] checks them; binds the context.
    pub fn operands<const N: usize, const M: usize>(
        &mut self,
        kernel: &str,
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<([u64; N], [u64; M])> {
        self.bind()?;
        self.ios(kernel, ins, outs)
    }

    /// [`CudaBackend::operands`] with one more input first: an i32 buffer of ids or class
    /// labels (buffer, values touched), as the CPU's `operands_with_ids` checks it; the kernel
    /// takes it as `const int*`.
    #[allow(clippy::type_complexity)]
    pub fn operands_with_ids<const N: usize, const M: usize>(
        &mut self,
        kernel: &str,
        ids: (BufId, usize),
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<(u64, [u64; N], [u64; M])> {
        self.bind()?;
        let p = self.buf_typed(kernel, ids.0, ids.1, DType::I32)?;
        let (pi, po) = self.ios(kernel, ins, outs)?;
        Ok((p, pi, po))
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

    /// Scratch device memory of at least `len` f32 values for an op's intermediate results
    /// (contents undefined; valid until the next op that asks for scratch).
    pub fn op_scratch(&mut self, len: usize) -> Result<u64> {
        self.scratch(len)
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

    /// The device pointer of an f32 buffer holding at least `need` values.
    pub(crate) fn buf(&self, kernel: &str, id: BufId, need: usize) -> Result<u64> {
        self.buf_typed(kernel, id, need, DType::F32)
    }

    /// The device pointer of a `dtype` buffer holding at least `need` values; a buffer of
    /// another dtype is an error naming both.
    pub(crate) fn buf_typed(
        &self,
        kernel: &str,
        id: BufId,
        need: usize,
        dtype: DType,
    ) -> Result<u64> {
        let b = self
            .bufs
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| Error::backend(format!("cuda {kernel}: unknown buffer {}", id.0)))?;
        if b.dtype != dtype {
            return Err(mismatch(&format!("cuda {kernel}"), id.0, b.dtype, dtype));
        }
        if need > b.len {
            return Err(Error::backend(format!(
                "cuda {kernel}: buffer {} holds {} values, the kernel needs {need}",
                id.0, b.len
            )));
        }
        Ok(b.block.ptr)
    }

    /// The dtype a copy from `src` moves: the copy kernels move 4-byte words without
    /// arithmetic, so f32 and i32 buffers copy alike (source and destination must agree);
    /// 2-byte bf16 buffers have no copy kernel yet.
    pub(super) fn copy_dtype(&self, kernel: &str, src: BufId) -> Result<DType> {
        let b = self
            .bufs
            .get(src.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| Error::backend(format!("cuda {kernel}: unknown buffer {}", src.0)))?;
        if b.dtype.size_bytes() != 4 {
            return Err(Error::backend(format!(
                "cuda {kernel}: buffer {} holds {} values; the copy kernels move 4-byte values",
                src.0, b.dtype
            )));
        }
        Ok(b.dtype)
    }

    /// Checks `ins` and `outs` (buffer, needed length) like the CPU backend's `ios`: every
    /// buffer exists and is long enough; outputs of non-zero length are distinct from each
    /// other and from every input of non-zero length. Returns the device pointers.
    pub(super) fn ios<const N: usize, const M: usize>(
        &self,
        kernel: &str,
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<([u64; N], [u64; M])> {
        let mut pi = [0u64; N];
        let mut po = [0u64; M];
        for (p, &(id, len)) in pi.iter_mut().zip(ins.iter()) {
            *p = self.buf(kernel, id, len)?;
        }
        for (i, &(o, olen)) in outs.iter().enumerate() {
            po[i] = self.buf(kernel, o, olen)?;
            let clash = ins.iter().any(|&(id, len)| len > 0 && id == o)
                || outs[i + 1..].iter().any(|&(id, len)| len > 0 && id == o);
            if olen > 0 && clash {
                return Err(Error::backend(format!(
                    "cuda {kernel}: output buffer {} aliases another operand",
                    o.0
                )));
            }
        }
        Ok((pi, po))
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
        for (_, t) in self.optimizer_tables.drain(..) {
            pool.put(t);
        }
        if self.status.bytes > 0 {
            pool.put(self.status);
        }
        pool.absorb(&mut self.free);
    }
}
