//! LayerNorm over the last axis, forward and backward (llm.c's pair: the forward saves each
//! row's mean and reciprocal standard deviation for the backward).
//!
//! Order (the contract; `layernorm.cu` follows it line for line). Per row of `dim` values, every
//! sum in the chunked order of rule 2a (`ops::reduce::chunked`), so a row of any width may be
//! spread over a GPU's threads:
//! ```text
//! mean = chunked(acc + x[j]) / dim
//! var  = chunked(fma(d, d, acc), d = x[j] - mean) / dim
//! rstd = 1 / sqrt(var + eps)
//! y[j] = ((x[j] - mean) * rstd) * gamma[j] + beta[j]        (no fma)
//! ```
//! Backward, with `xhat[j] = (x[j] - mean) * rstd` recomputed and `g[j] = dy[j] * gamma[j]`:
//! ```text
//! sg  = chunked(acc + g[j]);   sgx = chunked(fma(g[j], xhat[j], acc))
//! dx[j] = ((g[j] - sg / dim) - xhat[j] * (sgx / dim)) * rstd    (no fma)
//! dgamma[j] = chunked over rows r of fma(dy[r, j], xhat[r, j], acc)
//! dbeta[j]  = chunked over rows r of acc + dy[r, j]
//! ```

use super::reduce::{chunked, chunks, CHUNK};
use crate::backend::cpu::pool::{par_rows, SharedMut};
use crate::backend::cuda::{Family, KArgs, BLOCK};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::Result;
use crate::ops::matmul::cpu::Isa;

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("layernorm.cu", include_str!("layernorm.cu"));

/// Forward: `y = LayerNorm(x) * gamma + beta` over rows of `dim`; saves `mean` and `rstd`
/// (one value per row).
#[derive(Clone, Copy, Debug)]
pub struct LayerNormForward {
    pub x: BufId,
    pub gamma: BufId,
    pub beta: BufId,
    pub y: BufId,
    pub mean: BufId,
    pub rstd: BufId,
    pub rows: usize,
    pub dim: usize,
    pub eps: f32,
}

/// Backward: `dx`, `dgamma`, `dbeta` from `dy` and the saved statistics.
#[derive(Clone, Copy, Debug)]
pub struct LayerNormBackward {
    pub x: BufId,
    pub gamma: BufId,
    pub mean: BufId,
    pub rstd: BufId,
    pub dy: BufId,
    pub dx: BufId,
    pub dgamma: BufId,
    pub dbeta: BufId,
    pub rows: usize,
    pub dim: usize,
}

/// Mean and reciprocal standard deviation of one row.
#[inline(always)]
fn row_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let dim = x.len();
    let mean = chunked(dim, |acc, j| acc + x[j]) / dim as f32;
    let var = chunked(dim, |acc, j| {
        let d = x[j] - mean;
        d.mul_add(d, acc)
    }) / dim as f32;
    (mean, 1.0 / (var + eps).sqrt())
}

#[inline(always)]
fn forward_rows(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    stats: &mut [(f32, f32)],
    eps: f32,
) {
    let dim = gamma.len();
    for ((xr, yr), st) in x.chunks(dim).zip(y.chunks_mut(dim)).zip(stats.iter_mut()) {
        let (mean, rstd) = row_stats(xr, eps);
        *st = (mean, rstd);
        for j in 0..dim {
            yr[j] = ((xr[j] - mean) * rstd) * gamma[j] + beta[j];
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_rows_fma(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    stats: &mut [(f32, f32)],
    eps: f32,
) {
    forward_rows(x, gamma, beta, y, stats, eps)
}

#[inline(always)]
fn backward_rows(x: &[f32], gamma: &[f32], mean: &[f32], rstd: &[f32], dy: &[f32], dx: &mut [f32]) {
    let dim = gamma.len();
    let n = dim as f32;
    for (r, dxr) in dx.chunks_mut(dim).enumerate() {
        let (xr, dyr) = (&x[r * dim..(r + 1) * dim], &dy[r * dim..(r + 1) * dim]);
        let (m, s) = (mean[r], rstd[r]);
        let sg = chunked(dim, |acc, j| acc + dyr[j] * gamma[j]);
        let sgx = chunked(dim, |acc, j| {
            (dyr[j] * gamma[j]).mul_add((xr[j] - m) * s, acc)
        });
        let (mg, mgx) = (sg / n, sgx / n);
        for j in 0..dim {
            let xhat = (xr[j] - m) * s;
            dxr[j] = ((dyr[j] * gamma[j] - mg) - xhat * mgx) * s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_rows_fma(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    backward_rows(x, gamma, mean, rstd, dy, dx)
}

/// dgamma and dbeta for columns `j0 .. j0 + dg.len()`: rows walked in order, one partial per
/// column per chunk of 256 rows (vectorises across columns).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn param_grads(
    x: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: &[f32],
    rows: usize,
    dim: usize,
    j0: usize,
    dg: &mut [f32],
    db: &mut [f32],
) {
    const COLS: usize = 64;
    let w = dg.len();
    debug_assert!(w <= COLS);
    let (mut pg, mut pb) = ([0.0f32; COLS], [0.0f32; COLS]);
    dg.fill(0.0);
    db.fill(0.0);
    for c in 0..chunks(rows) {
        let (pg, pb) = (&mut pg[..w], &mut pb[..w]);
        pg.fill(0.0);
        pb.fill(0.0);
        for r in c * CHUNK..((c + 1) * CHUNK).min(rows) {
            let (m, s) = (mean[r], rstd[r]);
            let xr = &x[r * dim + j0..r * dim + j0 + w];
            let dyr = &dy[r * dim + j0..r * dim + j0 + w];
            for j in 0..w {
                pg[j] = dyr[j].mul_add((xr[j] - m) * s, pg[j]);
                pb[j] += dyr[j];
            }
        }
        for j in 0..w {
            dg[j] = if c == 0 { pg[j] } else { dg[j] + pg[j] };
            db[j] = if c == 0 { pb[j] } else { db[j] + pb[j] };
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn param_grads_fma(
    x: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: &[f32],
    rows: usize,
    dim: usize,
    j0: usize,
    dg: &mut [f32],
    db: &mut [f32],
) {
    param_grads(x, mean, rstd, dy, rows, dim, j0, dg, db)
}

/// Runs [`LayerNormForward`].
pub fn layernorm_forward(backend: &mut dyn Backend, a: &LayerNormForward) -> Result<()> {
    let (rows, dim, eps) = (a.rows, a.dim, a.eps);
    let ins = [(a.x, rows * dim), (a.gamma, dim), (a.beta, dim)];
    let outs = [(a.y, rows * dim), (a.mean, rows), (a.rstd, rows)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, gamma, beta], [y, mean, rstd])) =
                cpu.operands("layernorm_forward", ins, outs)?;
            if dim == 0 {
                return Ok(());
            }
            let (mean, rstd) = (SharedMut::new(mean), SharedMut::new(rstd));
            let fma = Isa::fma_selected();
            par_rows(pool, y, rows, dim, &|r0, block| {
                let mut stats = [(0.0f32, 0.0f32); 64];
                for (b, yb) in block.chunks_mut(64 * dim).enumerate() {
                    let rb = r0 + b * 64;
                    let k = yb.len() / dim;
                    let xb = &x[rb * dim..(rb + k) * dim];
                    #[cfg(target_arch = "x86_64")]
                    if fma {
                        // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
                        unsafe { forward_rows_fma(xb, gamma, beta, yb, &mut stats[..k], eps) };
                    } else {
                        forward_rows(xb, gamma, beta, yb, &mut stats[..k], eps);
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    forward_rows(xb, gamma, beta, yb, &mut stats[..k], eps);
                    // SAFETY: tasks own disjoint row ranges.
                    let (ms, rs) = unsafe { (mean.slice(rb, k), rstd.slice(rb, k)) };
                    for (i, &(m, s)) in stats[..k].iter().enumerate() {
                        ms[i] = m;
                        rs[i] = s;
                    }
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, gamma, beta], [y, mean, rstd]) =
                cuda.operands("layernorm_forward", ins, outs)?;
            if rows * dim == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .ptr(x)
                .ptr(gamma)
                .ptr(beta)
                .ptr(y)
                .ptr(mean)
                .ptr(rstd)
                .u64(rows)
                .u64(dim)
                .f32(eps);
            let grid = rows.div_ceil((BLOCK / 32) as usize) as u32;
            cuda.launch_op(CUDA, "nx_layernorm_forward", (grid, 1, 1), BLOCK, args)
        }
    }
}

/// Runs [`LayerNormBackward`].
pub fn layernorm_backward(backend: &mut dyn Backend, a: &LayerNormBackward) -> Result<()> {
    let (rows, dim) = (a.rows, a.dim);
    let ins = [
        (a.x, rows * dim),
        (a.gamma, dim),
        (a.mean, rows),
        (a.rstd, rows),
        (a.dy, rows * dim),
    ];
    let outs = [(a.dx, rows * dim), (a.dgamma, dim), (a.dbeta, dim)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, gamma, mean, rstd, dy], [dx, dgamma, dbeta])) =
                cpu.operands("layernorm_backward", ins, outs)?;
            if dim == 0 {
                return Ok(());
            }
            let fma = Isa::fma_selected();
            par_rows(pool, dx, rows, dim, &|r0, block| {
                let k = block.len() / dim;
                let (xs, dys) = (&x[r0 * dim..(r0 + k) * dim], &dy[r0 * dim..(r0 + k) * dim]);
                let (ms, rs) = (&mean[r0..r0 + k], &rstd[r0..r0 + k]);
                #[cfg(target_arch = "x86_64")]
                if fma {
                    // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
                    unsafe { backward_rows_fma(xs, gamma, ms, rs, dys, block) };
                    return;
                }
                backward_rows(xs, gamma, ms, rs, dys, block);
            });
            let blocks = dim.div_ceil(64);
            let (dg, db) = (SharedMut::new(dgamma), SharedMut::new(dbeta));
            pool.run(blocks, &|b| {
                let j0 = b * 64;
                let w = (dim - j0).min(64);
                // SAFETY: tasks own disjoint column blocks.
                let (g, bb) = unsafe { (dg.slice(j0, w), db.slice(j0, w)) };
                #[cfg(target_arch = "x86_64")]
                if fma {
                    // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
                    unsafe { param_grads_fma(x, mean, rstd, dy, rows, dim, j0, g, bb) };
                    return;
                }
                param_grads(x, mean, rstd, dy, rows, dim, j0, g, bb);
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, gamma, mean, rstd, dy], [dx, dgamma, dbeta]) =
                cuda.operands("layernorm_backward", ins, outs)?;
            if dim == 0 {
                return Ok(());
            }
            if rows > 0 {
                let args = KArgs::new()
                    .ptr(x)
                    .ptr(gamma)
                    .ptr(mean)
                    .ptr(rstd)
                    .ptr(dy)
                    .ptr(dx)
                    .u64(rows)
                    .u64(dim);
                let grid = rows.div_ceil((BLOCK / 32) as usize) as u32;
                cuda.launch_op(CUDA, "nx_layernorm_backward_dx", (grid, 1, 1), BLOCK, args)?;
            }
            let n_chunks = chunks(rows).max(1);
            let (pg, pb) = if n_chunks == 1 {
                (dgamma, dbeta)
            } else {
                let s = cuda.op_scratch(2 * n_chunks * dim)?;
                (s, s + (n_chunks * dim * 4) as u64)
            };
            let gx = dim.div_ceil(BLOCK as usize) as u32;
            let args = KArgs::new()
                .ptr(x)
                .ptr(mean)
                .ptr(rstd)
                .ptr(dy)
                .ptr(pg)
                .ptr(pb)
                .u64(rows)
                .u64(dim);
            cuda.launch_op(
                CUDA,
                "nx_layernorm_param_partial",
                (gx, n_chunks as u32, 1),
                BLOCK,
                args,
            )?;
            if n_chunks > 1 {
                let args = KArgs::new()
                    .ptr(pg)
                    .ptr(pb)
                    .ptr(dgamma)
                    .ptr(dbeta)
                    .u64(n_chunks)
                    .u64(dim);
                cuda.launch_op_1d(CUDA, "nx_layernorm_param_total", dim, args)?;
            }
            Ok(())
        }
    }
}
