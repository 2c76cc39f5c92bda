//! The CPU backend: buffers in host memory and an allocation-free thread pool (`pool.rs`) for
//! the ops' CPU kernels (`crate::ops`).
//!
//! This file owns the backend; `buffers.rs` the dtype-tagged buffer table, which checks every
//! kernel's operands (sizes, dtypes, aliasing) before an op borrows them
//! ([`CpuBackend::operands`]), so a planning bug is an error, not UB.

mod buffers;
pub mod pool;

use crate::backend::device::Device;
use crate::backend::{Backend, BufId};
use crate::dtype::{DType, HostData, HostDataMut};
use crate::error::Result;
use buffers::Buffers;
use pool::ThreadPool;

/// Number of CPU threads to use when the caller says 0: `NEUROXIDE_THREADS`, else all cores.
pub fn default_threads() -> usize {
    std::env::var("NEUROXIDE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The CPU backend.
pub struct CpuBackend {
    bufs: Buffers,
    pool: ThreadPool,
    /// [`Backend::constant_table`]'s tables.
    constants: Vec<(String, BufId)>,
}

pub use buffers::KernelOperands;

impl CpuBackend {
    /// A CPU backend with `threads` threads (0 = [`default_threads`]).
    pub fn new(threads: usize) -> Self {
        let threads = if threads == 0 {
            default_threads()
        } else {
            threads
        };
        CpuBackend {
            bufs: Buffers::default(),
            pool: ThreadPool::new(threads),
            constants: Vec::new(),
        }
    }

    /// The thread pool kernels run on.
    pub fn pool(&self) -> &ThreadPool {
        &self.pool
    }

    /// An f32 buffer's values.
    pub fn slice(&self, id: BufId) -> Result<&[f32]> {
        self.bufs.slice(id)
    }

    /// The operands of an op's CPU kernel: `N` inputs and `M` outputs, each given as (buffer,
    /// values the kernel touches), checked as every kernel's are (sizes; outputs distinct from
    /// each other and from the inputs; a length of 0 marks an unused operand), and the pool to
    /// run on.
    pub fn operands<const N: usize, const M: usize>(
        &mut self,
        kernel: &str,
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<(&ThreadPool, KernelOperands<'_, N, M>)> {
        let ops = self.bufs.ios(kernel, ins, outs)?;
        Ok((&self.pool, ops))
    }

    /// [`CpuBackend::operands`] with one more input first: an i32 buffer of ids or class
    /// labels (buffer, values touched), borrowed as `&[i32]`. An f32 buffer there is a dtype
    /// error naming both dtypes.
    #[allow(clippy::type_complexity)]
    pub fn operands_with_ids<const N: usize, const M: usize>(
        &mut self,
        kernel: &str,
        ids: (BufId, usize),
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<(&ThreadPool, &[i32], KernelOperands<'_, N, M>)> {
        let (ids, ops) = self.bufs.ios_with_ids(kernel, ids, ins, outs)?;
        Ok((&self.pool, ids, ops))
    }

    /// Copies spans of `cols` values from buffer `src` (first `src_need` values touched) to
    /// `dst` (first `dst_need`), one per `(src_start, dst_start)` in order, for buffers of any
    /// one dtype (a copy does no arithmetic; `ops::copy` is the op). `src == dst` is allowed
    /// when the spans do not overlap.
    pub fn copy_spans(
        &mut self,
        kernel: &str,
        src: (BufId, usize),
        dst: (BufId, usize),
        cols: usize,
        spans: impl Iterator<Item = (usize, usize)>,
    ) -> Result<()> {
        self.bufs.copy_spans(kernel, src, dst, cols, spans)
    }
}

impl Backend for CpuBackend {
    fn kernels(&mut self) -> crate::backend::Kernels<'_> {
        crate::backend::Kernels::Cpu(self)
    }
    fn name(&self) -> String {
        format!("cpu ({} threads)", self.pool.threads())
    }
    fn device(&self) -> Device {
        Device::Cpu {
            threads: self.pool.threads(),
        }
    }
    fn alloc_typed(&mut self, dtype: DType, shape: &[usize]) -> Result<BufId> {
        self.bufs.alloc(dtype, shape)
    }
    fn free(&mut self, buf: BufId) -> Result<()> {
        self.bufs.free(buf)
    }
    fn buf_dtype(&self, buf: BufId) -> Option<DType> {
        self.bufs.dtype(buf)
    }
    fn buf_shape(&self, buf: BufId) -> Option<Vec<usize>> {
        self.bufs.get(buf).ok().map(|b| b.shape.clone())
    }
    fn buf_len(&self, buf: BufId) -> usize {
        self.bufs.len(buf)
    }
    fn upload_values(&mut self, dst: BufId, offset: usize, src: HostData<'_>) -> Result<()> {
        self.bufs.upload(&self.pool, dst, offset, src)
    }
    fn download_values(&mut self, src: BufId, offset: usize, dst: HostDataMut<'_>) -> Result<()> {
        self.bufs.download(src, offset, dst)
    }
    fn synchronize(&mut self) -> Result<()> {
        Ok(())
    }
    fn constant_tables(&mut self) -> &mut Vec<(String, BufId)> {
        &mut self.constants
    }
}
