//! RMSNorm over the last axis (LLaMA's norm: no mean, no shift), forward and backward; the
//! forward saves each row's reciprocal root mean square for the backward.
//!
//! Order (the contract; `rmsnorm.cu` follows it line for line), sums in the chunked order of
//! rule 2a:
//! ```text
//! rrms = 1 / sqrt(chunked(fma(x[j], x[j], acc)) / dim + eps)
//! y[j] = (x[j] * rrms) * gamma[j]
//! ```
//! Backward, with `xhat[j] = x[j] * rrms` and `g[j] = dy[j] * gamma[j]`:
//! ```text
//! sgx   = chunked(fma(g[j], xhat[j], acc))
//! dx[j] = (g[j] - xhat[j] * (sgx / dim)) * rrms             (no fma)
//! dgamma[j] = chunked over rows r of fma(dy[r, j], xhat[r, j], acc)
//! ```

use super::reduce::{chunked, chunks, CHUNK};
use crate::backend::cpu::pool::{par_rows, SharedMut};
use crate::backend::cuda::{Family, KArgs, BLOCK};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::Result;
use crate::ops::matmul::cpu::Isa;

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("rmsnorm.cu", include_str!("rmsnorm.cu"));

/// Forward: `y = x * rrms * gamma` over rows of `dim`; saves `rrms` (one value per row).
#[derive(Clone, Copy, Debug)]
pub struct RmsNormForward {
    pub x: BufId,
    pub gamma: BufId,
    pub y: BufId,
    pub rrms: BufId,
    pub rows: usize,
    pub dim: usize,
    pub eps: f32,
}

/// Backward: `dx` and `dgamma` from `dy` and the saved `rrms`.
#[derive(Clone, Copy, Debug)]
pub struct RmsNormBackward {
    pub x: BufId,
    pub gamma: BufId,
    pub rrms: BufId,
    pub dy: BufId,
    pub dx: BufId,
    pub dgamma: BufId,
    pub rows: usize,
    pub dim: usize,
}

#[inline(always)]
fn forward_rows(x: &[f32], gamma: &[f32], y: &mut [f32], rrms: &mut [f32], eps: f32) {
    let dim = gamma.len();
    for ((xr, yr), s) in x.chunks(dim).zip(y.chunks_mut(dim)).zip(rrms.iter_mut()) {
        let ms = chunked(dim, |acc, j| xr[j].mul_add(xr[j], acc)) / dim as f32;
        let r = 1.0 / (ms + eps).sqrt();
        *s = r;
        for j in 0..dim {
            yr[j] = (xr[j] * r) * gamma[j];
        }
    }
}

#[inline(always)]
fn backward_rows(x: &[f32], gamma: &[f32], rrms: &[f32], dy: &[f32], dx: &mut [f32]) {
    let dim = gamma.len();
    for (r, dxr) in dx.chunks_mut(dim).enumerate() {
        let (xr, dyr, s) = (
            &x[r * dim..(r + 1) * dim],
            &dy[r * dim..(r + 1) * dim],
            rrms[r],
        );
        let sgx = chunked(dim, |acc, j| (dyr[j] * gamma[j]).mul_add(xr[j] * s, acc));
        let m = sgx / dim as f32;
        for j in 0..dim {
            dxr[j] = (dyr[j] * gamma[j] - (xr[j] * s) * m) * s;
        }
    }
}

#[inline(always)]
fn gamma_grad(x: &[f32], rrms: &[f32], dy: &[f32], dim: usize, j0: usize, dg: &mut [f32]) {
    let (rows, w) = (rrms.len(), dg.len());
    let mut p = [0.0f32; 64];
    dg.fill(0.0);
    for c in 0..chunks(rows) {
        let p = &mut p[..w];
        p.fill(0.0);
        for r in c * CHUNK..((c + 1) * CHUNK).min(rows) {
            let s = rrms[r];
            let (xr, dyr) = (
                &x[r * dim + j0..r * dim + j0 + w],
                &dy[r * dim + j0..r * dim + j0 + w],
            );
            for j in 0..w {
                p[j] = dyr[j].mul_add(xr[j] * s, p[j]);
            }
        }
        for j in 0..w {
            dg[j] = if c == 0 { p[j] } else { dg[j] + p[j] };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod fma {
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn forward_rows(x: &[f32], g: &[f32], y: &mut [f32], r: &mut [f32], eps: f32) {
        super::forward_rows(x, g, y, r, eps)
    }
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn backward_rows(x: &[f32], g: &[f32], r: &[f32], dy: &[f32], dx: &mut [f32]) {
        super::backward_rows(x, g, r, dy, dx)
    }
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gamma_grad(
        x: &[f32],
        r: &[f32],
        dy: &[f32],
        dim: usize,
        j0: usize,
        dg: &mut [f32],
    ) {
        super::gamma_grad(x, r, dy, dim, j0, dg)
    }
}

/// Runs [`RmsNormForward`].
pub fn rmsnorm_forward(backend: &mut dyn Backend, a: &RmsNormForward) -> Result<()> {
    let (rows, dim, eps) = (a.rows, a.dim, a.eps);
    let ins = [(a.x, rows * dim), (a.gamma, dim)];
    let outs = [(a.y, rows * dim), (a.rrms, rows)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, gamma], [y, rrms])) = cpu.operands("rmsnorm_forward", ins, outs)?;
            if dim == 0 {
                return Ok(());
            }
            let rrms = SharedMut::new(rrms);
            let use_fma = Isa::fma_selected();
            par_rows(pool, y, rows, dim, &|r0, block| {
                let k = block.len() / dim;
                let xs = &x[r0 * dim..(r0 + k) * dim];
                // SAFETY: tasks own disjoint row ranges.
                let rs = unsafe { rrms.slice(r0, k) };
                #[cfg(target_arch = "x86_64")]
                if use_fma {
                    // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
                    unsafe { fma::forward_rows(xs, gamma, block, rs, eps) };
                    return;
                }
                let _ = use_fma;
                forward_rows(xs, gamma, block, rs, eps);
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, gamma], [y, rrms]) = cuda.operands("rmsnorm_forward", ins, outs)?;
            if rows * dim == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .ptr(x)
                .ptr(gamma)
                .ptr(y)
                .ptr(rrms)
                .u64(rows)
                .u64(dim)
                .f32(eps);
            let grid = rows.div_ceil((BLOCK / 32) as usize) as u32;
            cuda.launch_op(CUDA, "nx_rmsnorm_forward", (grid, 1, 1), BLOCK, args)
        }
    }
}

/// Runs [`RmsNormBackward`].
pub fn rmsnorm_backward(backend: &mut dyn Backend, a: &RmsNormBackward) -> Result<()> {
    let (rows, dim) = (a.rows, a.dim);
    let ins = [
        (a.x, rows * dim),
        (a.gamma, dim),
        (a.rrms, rows),
        (a.dy, rows * dim),
    ];
    let outs = [(a.dx, rows * dim), (a.dgamma, dim)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, gamma, rrms, dy], [dx, dgamma])) =
                cpu.operands("rmsnorm_backward", ins, outs)?;
            if dim == 0 {
                return Ok(());
            }
            let use_fma = Isa::fma_selected();
            par_rows(pool, dx, rows, dim, &|r0, block| {
                let k = block.len() / dim;
                let (xs, dys) = (&x[r0 * dim..(r0 + k) * dim], &dy[r0 * dim..(r0 + k) * dim]);
                let rs = &rrms[r0..r0 + k];
                #[cfg(target_arch = "x86_64")]
                if use_fma {
                    // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
                    unsafe { fma::backward_rows(xs, gamma, rs, dys, block) };
                    return;
                }
                let _ = use_fma;
                backward_rows(xs, gamma, rs, dys, block);
            });
            let dg = SharedMut::new(dgamma);
            pool.run(dim.div_ceil(64), &|b| {
                let j0 = b * 64;
                // SAFETY: tasks own disjoint column blocks.
                let g = unsafe { dg.slice(j0, (dim - j0).min(64)) };
                #[cfg(target_arch = "x86_64")]
                if use_fma {
                    // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
                    unsafe { fma::gamma_grad(x, rrms, dy, dim, j0, g) };
                    return;
                }
                gamma_grad(x, rrms, dy, dim, j0, g);
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, gamma, rrms, dy], [dx, dgamma]) =
                cuda.operands("rmsnorm_backward", ins, outs)?;
            if dim == 0 {
                return Ok(());
            }
            if rows > 0 {
                let args = KArgs::new()
                    .ptr(x)
                    .ptr(gamma)
                    .ptr(rrms)
                    .ptr(dy)
                    .ptr(dx)
                    .u64(rows)
                    .u64(dim);
                let grid = rows.div_ceil((BLOCK / 32) as usize) as u32;
                cuda.launch_op(CUDA, "nx_rmsnorm_backward_dx", (grid, 1, 1), BLOCK, args)?;
            }
            let n_chunks = chunks(rows).max(1);
            let pg = if n_chunks == 1 {
                dgamma
            } else {
                cuda.op_scratch(n_chunks * dim)?
            };
            let gx = dim.div_ceil(BLOCK as usize) as u32;
            let args = KArgs::new()
                .ptr(x)
                .ptr(rrms)
                .ptr(dy)
                .ptr(pg)
                .u64(rows)
                .u64(dim);
            cuda.launch_op(
                CUDA,
                "nx_rmsnorm_gamma_partial",
                (gx, n_chunks as u32, 1),
                BLOCK,
                args,
            )?;
            if n_chunks > 1 {
                let args = KArgs::new().ptr(pg).ptr(dgamma).u64(n_chunks).u64(dim);
                cuda.launch_op_1d(CUDA, "nx_rmsnorm_gamma_total", dim, args)?;
            }
            Ok(())
        }
    }
}
