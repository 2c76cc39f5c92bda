//! Row-wise softmax and log-softmax of a `rows × cols` matrix, forward and backward.
//!
//! Orders (the contract; `cpu.rs` and `softmax.cu` follow it to the letter):
//! - **Forward**, per row: `mx = max_j x[j]` (j increasing, `if v > mx`); `s = Σ_j exp(x[j] - mx)`
//!   (j increasing, one accumulator from 0); softmax: `y[j] = exp(x[j] - mx) / s`; log-softmax:
//!   `y[j] = (x[j] - mx) - log(s)`.
//! - **Backward** from the output `y`: softmax: `d = Σ_j dy[j]*y[j]` (j increasing,
//!   `acc = fma(dy, y, acc)`), `dx[j] = y[j]*(dy[j] - d)`; log-softmax: `d = Σ_j dy[j]`
//!   (j increasing), `dx[j] = dy[j] - exp(y[j]) * d`.
//!
//! On CUDA one warp owns a row: the lanes compute the terms, then every lane adds them in
//! column order through shuffles, so the chain is the CPU's.

pub mod cpu;

use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::Result;

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/softmax/softmax.cu", include_str!("softmax.cu"));

/// Softmax (or log-softmax when `log`) of each row of `x` into `y`.
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    pub log: bool,
    pub x: BufId,
    pub y: BufId,
    pub rows: usize,
    pub cols: usize,
}

/// Backward of [`Softmax`] from its output `y`: `dx` from `dy`.
#[derive(Clone, Copy, Debug)]
pub struct SoftmaxBackward {
    pub log: bool,
    pub y: BufId,
    pub dy: BufId,
    pub dx: BufId,
    pub rows: usize,
    pub cols: usize,
}

/// Runs [`Softmax`].
pub fn forward(backend: &mut dyn Backend, a: &Softmax) -> Result<()> {
    let (rows, cols) = (a.rows, a.cols);
    let n = rows * cols;
    let (ins, outs) = ([(a.x, n)], [(a.y, n)]);
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x], [y])) = cpu.operands("softmax_forward", ins, outs)?;
            cpu::forward(pool, a.log, x, y, rows, cols);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([px], [py]) = cuda.operands("softmax_forward", ins, outs)?;
            if n == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .i32(i32::from(a.log))
                .ptr(px)
                .ptr(py)
                .u64(rows)
                .u64(cols);
            cuda.launch_op_rows(CUDA, "nx_softmax_fwd", rows, args)
        }
    }
}

/// Runs [`SoftmaxBackward`].
pub fn backward(backend: &mut dyn Backend, a: &SoftmaxBackward) -> Result<()> {
    let (rows, cols) = (a.rows, a.cols);
    let n = rows * cols;
    let (ins, outs) = ([(a.y, n), (a.dy, n)], [(a.dx, n)]);
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([y, dy], [dx])) = cpu.operands("softmax_backward", ins, outs)?;
            cpu::backward(pool, a.log, y, dy, dx, rows, cols);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([py, pdy], [pdx]) = cuda.operands("softmax_backward", ins, outs)?;
            if n == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .i32(i32::from(a.log))
                .ptr(py)
                .ptr(pdy)
                .ptr(pdx)
                .u64(rows)
                .u64(cols);
            cuda.launch_op_rows(CUDA, "nx_softmax_bwd", rows, args)
        }
    }
}
