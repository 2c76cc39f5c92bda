//! Strided batched matmul with the fused epilogue of the exact matmul (`backend::Matmul`):
//! `C[b] = act(op(A[b]) · op(B[b]) + bias[b])`, for attention scores and per-head products.
//!
//! Operand `b` of the batch starts at `b * a_stride` in `a` (`b * b_stride` in `b`,
//! `b * bias_stride` in `bias`); a stride of 0 broadcasts one operand to every batch entry.
//! `op(A[b])` is `m × k`, stored row-major as `m × k`, or as `k × m` when `a_trans`; `op(B[b])`
//! is `k × n`, stored as `k × n`, or as `n × k` when `b_trans`. `C` (and `pre_act`) are dense
//! `batch × m × n`.
//!
//! Order (the contract, the same per element as `backend::Matmul`, so a batch of one gives the
//! exact matmul's bits), for every output `(b, i, j)`:
//! ```text
//! acc = 0.0
//! for p in 0..k:  acc = fma(A[b][i,p], B[b][p,j], acc)   // p increasing, one accumulator
//! z = acc + bias[b*bias_stride + j]                       // only when bias is given
//! pre_act[b,i,j] = z                                      // only when pre_act is given
//! C[b,i,j] = act(z)                                       // backend::Activation
//! ```
//! Parallelism is across outputs only. The CUDA kernel (`batched_matmul.cu`) tiles `k` in
//! shared memory and carries each accumulator across tiles; the part of the last tile past `k`
//! never enters an accumulator (PARITY rule 2b).

mod cpu;

use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Activation, Backend, BufId, Kernels};
use crate::error::{Error, Result};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new(
    "ops/batched_matmul/batched_matmul.cu",
    include_str!("batched_matmul.cu"),
);

/// Output tile edge of the CUDA kernel (`NX_BMM_T` in `batched_matmul.cu`).
const CUDA_TILE: usize = 64;

/// `C[b] = act(op(A[b]) · op(B[b]) + bias[b])`; see the module doc for the order.
#[derive(Clone, Copy, Debug)]
pub struct BatchedMatmul {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: BufId,
    pub a_trans: bool,
    /// Values between consecutive batch entries of `a` (0 broadcasts one matrix).
    pub a_stride: usize,
    pub b: BufId,
    pub b_trans: bool,
    /// Values between consecutive batch entries of `b` (0 broadcasts one matrix).
    pub b_stride: usize,
    /// Dense `batch × m × n`.
    pub c: BufId,
    /// `n` values per batch entry, `bias_stride` apart (0: one bias for every entry).
    pub bias: Option<BufId>,
    pub bias_stride: usize,
    /// Dense `batch × m × n` copy of the pre-activation `z`.
    pub pre_act: Option<BufId>,
    pub act: Activation,
}

impl BatchedMatmul {
    /// Values of a strided operand: the last entry's start plus one entry.
    fn span(&self, stride: usize, entry: usize) -> usize {
        if self.batch == 0 || entry == 0 {
            0
        } else {
            (self.batch - 1) * stride + entry
        }
    }
    pub fn a_len(&self) -> usize {
        self.span(self.a_stride, self.m * self.k)
    }
    pub fn b_len(&self) -> usize {
        self.span(self.b_stride, self.k * self.n)
    }
    pub fn c_len(&self) -> usize {
        self.batch * self.m * self.n
    }
    pub fn bias_len(&self) -> usize {
        self.bias.map_or(0, |_| self.span(self.bias_stride, self.n))
    }

    /// Checks the dimensions (the buffers' sizes are checked by the backends' operand check).
    pub fn check(&self) -> Result<()> {
        let lim = i32::MAX as usize;
        if self.m > lim || self.n > lim || self.k > lim {
            return Err(Error::Shape(format!(
                "batched_matmul: {}x{} by {}x{} exceeds the 32-bit matrix dimensions",
                self.m, self.k, self.k, self.n
            )));
        }
        if self.m.div_ceil(CUDA_TILE) > 65_535 {
            return Err(Error::Shape(format!(
                "batched_matmul: m = {} rows exceed the {} the kernel's grid covers",
                self.m,
                65_535 * CUDA_TILE
            )));
        }
        let total = [self.a_len(), self.b_len(), self.c_len(), self.bias_len()];
        if total.iter().any(|&v| v >= 1 << 46) {
            return Err(Error::Shape(format!(
                "batched_matmul: operands too large ({self:?})"
            )));
        }
        Ok(())
    }
}

/// Runs [`BatchedMatmul`].
pub fn batched_matmul(backend: &mut dyn Backend, a: &BatchedMatmul) -> Result<()> {
    a.check()?;
    let ins = [
        (a.a, a.a_len()),
        (a.b, a.b_len()),
        (a.bias.unwrap_or(a.a), a.bias_len()),
    ];
    let outs = [
        (a.c, a.c_len()),
        (a.pre_act.unwrap_or(a.c), a.pre_act.map_or(0, |_| a.c_len())),
    ];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, y, bias], [c, pre])) = cpu.operands("batched_matmul", ins, outs)?;
            let bias = a.bias.map(|_| bias);
            let pre = a.pre_act.map(|_| pre);
            cpu::batched_matmul(pool, a, x, y, bias, c, pre);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, y, bias], [c, pre]) = cuda.operands("batched_matmul", ins, outs)?;
            if a.c_len() == 0 {
                return Ok(());
            }
            let (code, alpha) = a.act.kernel_args();
            let args = KArgs::new()
                .i32(a.m as i32)
                .i32(a.n as i32)
                .i32(a.k as i32)
                .u64(a.batch)
                .ptr(x)
                .u64(a.a_stride)
                .ptr(y)
                .u64(a.b_stride)
                .ptr(c)
                .ptr(if a.bias.is_some() { bias } else { 0 })
                .u64(a.bias_stride)
                .ptr(if a.pre_act.is_some() { pre } else { 0 })
                .i32(code)
                .f32(alpha);
            let name = match (a.a_trans, a.b_trans) {
                (false, false) => "nx_batched_matmul_nn",
                (false, true) => "nx_batched_matmul_nt",
                (true, false) => "nx_batched_matmul_tn",
                (true, true) => "nx_batched_matmul_tt",
            };
            // One block per 64×64 output tile and batch entry: grid.z walks the batch (in
            // steps of 65535 beyond that), so small matrices in large batches fill the GPU.
            let grid = (
                a.n.div_ceil(CUDA_TILE) as u32,
                a.m.div_ceil(CUDA_TILE) as u32,
                a.batch.min(65_535) as u32,
            );
            cuda.launch_op(CUDA, name, grid, 256, args)
        }
    }
}
