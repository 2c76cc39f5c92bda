//! Operand checks of the CUDA backend: every op's buffers exist, hold the dtype the kernel
//! reads and enough values, and outputs alias no other operand (the CPU's `operands` rules),
//! before their device pointers go to a launch.

use super::backend::CudaBackend;
use crate::backend::BufId;
use crate::dtype::{mismatch, DType};
use crate::error::{Error, Result};

impl CudaBackend {
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
    pub(crate) fn copy_dtype(&self, kernel: &str, src: BufId) -> Result<DType> {
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
}
