//! The CPU backend: buffers in host memory and an allocation-free thread pool (`pool.rs`) for
//! the ops' CPU kernels (`crate::ops`).
//!
//! This file owns the buffer table and checks every kernel's operands (sizes, aliasing) before
//! an op borrows them ([`CpuBackend::operands`]), so a planning bug is an error, not UB.

pub mod pool;

use crate::backend::device::Device;
use crate::backend::{Backend, BufId};
use crate::error::{Error, Result};
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
}

/// Borrowed kernel operands: `N` inputs and `M` outputs.
pub type KernelOperands<'a, const N: usize, const M: usize> = ([&'a [f32]; N], [&'a mut [f32]; M]);

/// The buffer table, with checked borrows for kernels.
struct Buffers(Vec<Vec<f32>>);

impl CpuBackend {
    /// A CPU backend with `threads` threads (0 = [`default_threads`]).
    pub fn new(threads: usize) -> Self {
        let threads = if threads == 0 {
            default_threads()
        } else {
            threads
        };
        CpuBackend {
            bufs: Buffers(Vec::new()),
            pool: ThreadPool::new(threads),
        }
    }

    /// The thread pool kernels run on.
    pub fn pool(&self) -> &ThreadPool {
        &self.pool
    }

    /// A buffer's values.
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
}

impl Buffers {
    fn slice(&self, id: BufId) -> Result<&[f32]> {
        self.0
            .get(id.0 as usize)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::backend(format!("cpu: unknown buffer {}", id.0)))
    }

    pub fn check(&self, kernel: &str, id: BufId, need: usize) -> Result<()> {
        let have = self.slice(id)?.len();
        if need > have {
            return Err(Error::backend(format!(
                "cpu {kernel}: buffer {} holds {have} values, the kernel needs {need}",
                id.0
            )));
        }
        Ok(())
    }

    /// Borrows `N` input buffers and `M` output buffers (first `len` values of each). Outputs
    /// must be distinct from each other and from the inputs; an entry of length 0 is unused and
    /// yields an empty slice.
    pub fn ios<const N: usize, const M: usize>(
        &mut self,
        kernel: &str,
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<KernelOperands<'_, N, M>> {
        for &(id, len) in ins.iter().chain(outs.iter()) {
            self.check(kernel, id, len)?;
        }
        for (i, &(o, olen)) in outs.iter().enumerate() {
            let clash = ins.iter().any(|&(id, len)| len > 0 && id == o)
                || outs[i + 1..].iter().any(|&(id, len)| len > 0 && id == o);
            if olen > 0 && clash {
                return Err(Error::backend(format!(
                    "cpu {kernel}: output buffer {} aliases another operand",
                    o.0
                )));
            }
        }
        let base = self.0.as_mut_ptr();
        // SAFETY: indices were checked above, and every non-empty output is distinct from all
        // other operands, so no mutable borrow aliases another borrow. Borrows end with `&mut self`.
        unsafe {
            let ins = ins.map(|(id, len)| &(&*base.add(id.0 as usize))[..len]);
            let outs = outs.map(|(id, len)| {
                if len == 0 {
                    &mut [][..]
                } else {
                    &mut (&mut *base.add(id.0 as usize))[..len]
                }
            });
            Ok((ins, outs))
        }
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
    fn alloc(&mut self, len: usize) -> Result<BufId> {
        let id = u32::try_from(self.bufs.0.len())
            .map_err(|_| Error::backend("cpu: too many buffers"))?;
        self.bufs.0.push(vec![0.0; len]);
        Ok(BufId(id))
    }
    fn free(&mut self, buf: BufId) -> Result<()> {
        let b = self
            .bufs
            .0
            .get_mut(buf.0 as usize)
            .ok_or_else(|| Error::backend(format!("cpu: unknown buffer {}", buf.0)))?;
        *b = Vec::new();
        Ok(())
    }
    fn buf_len(&self, buf: BufId) -> usize {
        self.bufs.slice(buf).map_or(0, <[f32]>::len)
    }
    fn upload(&mut self, dst: BufId, offset: usize, src: &[f32]) -> Result<()> {
        self.bufs.check("upload", dst, offset + src.len())?;
        self.bufs.0[dst.0 as usize][offset..offset + src.len()].copy_from_slice(src);
        Ok(())
    }
    fn download(&mut self, src: BufId, offset: usize, dst: &mut [f32]) -> Result<()> {
        self.bufs.check("download", src, offset + dst.len())?;
        dst.copy_from_slice(&self.bufs.0[src.0 as usize][offset..offset + dst.len()]);
        Ok(())
    }
    fn synchronize(&mut self) -> Result<()> {
        Ok(())
    }
}
