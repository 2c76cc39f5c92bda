//! Sequence pooling: `[batch, T, d]` → `[batch, d]` by the mean over positions or the first
//! position (a classifier head over a transformer's outputs), forward and backward.
//!
//! Order (the contract; `seqpool.cu` follows it):
//! ```text
//! mean:  out[b, j] = chunked(acc + x[b, t, j], t = 0..T) / T     (rule 2a over positions)
//!        dx[b, t, j] = dout[b, j] / T
//! first: out[b, j] = x[b, 0, j];  dx[b, 0, j] = dout[b, j], dx[b, t > 0, j] = 0
//! ```

use super::reduce::chunked;
use crate::backend::cpu::pool::par_rows;
use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("seqpool.cu", include_str!("seqpool.cu"));

/// How positions are pooled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeqPoolMode {
    Mean,
    First,
}

/// `out = pool(x)` or, for the backward, `dx = pool'(dout)`.
#[derive(Clone, Copy, Debug)]
pub struct SeqPool {
    pub mode: SeqPoolMode,
    pub batch: usize,
    pub seq: usize,
    pub dim: usize,
}

impl SeqPool {
    fn mode_code(&self) -> u32 {
        match self.mode {
            SeqPoolMode::Mean => 0,
            SeqPoolMode::First => 1,
        }
    }
}

/// Forward: `x` is `[batch, seq, dim]`, `out` is `[batch, dim]`.
pub fn seqpool_forward(backend: &mut dyn Backend, a: &SeqPool, x: BufId, out: BufId) -> Result<()> {
    let (b, t, d) = (a.batch, a.seq, a.dim);
    let ins = [(x, b * t * d)];
    let outs = [(out, b * d)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x], [out])) = cpu.operands("seqpool_forward", ins, outs)?;
            let mode = a.mode;
            par_rows(pool, out, b, d, &|b0, block| {
                for (k, o) in block.chunks_mut(d.max(1)).enumerate() {
                    let xs = &x[(b0 + k) * t * d..(b0 + k + 1) * t * d];
                    for (j, oj) in o.iter_mut().enumerate() {
                        *oj = match mode {
                            SeqPoolMode::Mean => {
                                chunked(t, |acc, p| acc + xs[p * d + j]) / t as f32
                            }
                            SeqPoolMode::First => xs[j],
                        };
                    }
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x], [out]) = cuda.operands("seqpool_forward", ins, outs)?;
            if b * d == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .ptr(x)
                .ptr(out)
                .u64(b)
                .u64(t)
                .u64(d)
                .u32(a.mode_code());
            cuda.launch_op_1d(CUDA, "nx_seqpool_forward", b * d, args)
        }
    }
}

/// Backward: `dout` is `[batch, dim]`, `dx` is `[batch, seq, dim]`.
pub fn seqpool_backward(
    backend: &mut dyn Backend,
    a: &SeqPool,
    dout: BufId,
    dx: BufId,
) -> Result<()> {
    let (b, t, d) = (a.batch, a.seq, a.dim);
    let ins = [(dout, b * d)];
    let outs = [(dx, b * t * d)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([dout], [dx])) = cpu.operands("seqpool_backward", ins, outs)?;
            let mode = a.mode;
            par_rows(pool, dx, b * t, d, &|r0, block| {
                for (k, o) in block.chunks_mut(d.max(1)).enumerate() {
                    let (bi, p) = ((r0 + k) / t, (r0 + k) % t);
                    let g = &dout[bi * d..(bi + 1) * d];
                    for (oj, &gj) in o.iter_mut().zip(g) {
                        *oj = match mode {
                            SeqPoolMode::Mean => gj / t as f32,
                            SeqPoolMode::First if p == 0 => gj,
                            SeqPoolMode::First => 0.0,
                        };
                    }
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([dout], [dx]) = cuda.operands("seqpool_backward", ins, outs)?;
            if b * t * d == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .ptr(dout)
                .ptr(dx)
                .u64(b)
                .u64(t)
                .u64(d)
                .u32(a.mode_code());
            cuda.launch_op_1d(CUDA, "nx_seqpool_backward", b * t * d, args)
        }
    }
}
