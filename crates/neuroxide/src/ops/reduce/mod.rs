//! The chunked reduction of PARITY.md rule 2a, and the ops built on it: column sums (bias and
//! column gradients) and sums of squares (the global gradient norm); and the serial reductions
//! of `serial.rs` (clipping, accuracy counts, running sums).
//!
//! Order (the contract, shared by [`chunked`] and `nx_chunked` / `nx_chunk_partial` /
//! `nx_sum_partials` in `chunked.cuh`): split the `n` terms into consecutive chunks of
//! [`CHUNK`] = 256 (the last may be shorter); each chunk's partial folds its terms in index
//! order starting from `0.0` (`acc + x`, or `fma(a, b, acc)` where the term is a product); the
//! total is the first partial, then each later partial added in chunk order. With `n ≤ 256`
//! this is the plain sequential sum from 0, bit for bit. `CHUNK` never depends on the device,
//! the launch configuration or the thread count, so a GPU may compute every chunk at once.

mod axis;
mod serial;

pub use axis::{reduce_axis, AxisReduction, ReduceAxis};
pub use serial::{
    accumulate_scalar, clip_by_global_norm, count_correct, ClipByGlobalNorm, CountCorrect,
};

use crate::backend::cpu::pool::{par_rows, SharedMut, ThreadPool};
use crate::backend::cuda::{Family, KArgs, BLOCK};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::Result;

pub use crate::math::CHUNK;

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/reduce/reduce.cu", include_str!("reduce.cu"));

/// Number of chunks of an `n`-term reduction.
pub fn chunks(n: usize) -> usize {
    n.div_ceil(CHUNK)
}

/// The partial of chunk `c` of an `n`-term reduction: its terms folded in index order from
/// `0.0` (the device twin is `nx_chunk_partial`).
#[inline]
pub fn chunk_partial(n: usize, c: usize, mut step: impl FnMut(f32, usize) -> f32) -> f32 {
    let mut acc = 0.0f32;
    for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
        acc = step(acc, i);
    }
    acc
}

/// Reduces `n` terms in the chunked order: `step(acc, i)` folds term `i` into `acc`
/// (`acc + x[i]`, or `x[i].mul_add(y[i], acc)`).
#[inline]
pub fn chunked(n: usize, mut step: impl FnMut(f32, usize) -> f32) -> f32 {
    let mut total = 0.0f32;
    for c in 0..chunks(n) {
        let acc = chunk_partial(n, c, &mut step);
        total = if c == 0 { acc } else { total + acc };
    }
    total
}

/// Column sums of a `rows × cols` row-major matrix: `out[j] = Σ_i x[i*cols + j]` over `i` in
/// the chunked order (the bias gradient of a dense or convolution layer).
#[derive(Clone, Copy, Debug)]
pub struct ColumnSums {
    pub x: BufId,
    pub out: BufId,
    pub rows: usize,
    pub cols: usize,
}

/// Runs [`ColumnSums`].
pub fn column_sums(backend: &mut dyn Backend, a: &ColumnSums) -> Result<()> {
    let (rows, cols) = (a.rows, a.cols);
    let ins = [(a.x, rows * cols)];
    let outs = [(a.out, cols)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x], [out])) = cpu.operands("column_sums", ins, outs)?;
            par_rows(pool, out, cols, 1, &|j0, block| {
                column_sums_block(x, rows, cols, j0, block)
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x], [out]) = cuda.operands("column_sums", ins, outs)?;
            if cols == 0 {
                return Ok(());
            }
            let n_chunks = chunks(rows).max(1);
            let partial = if n_chunks == 1 {
                out
            } else {
                cuda.op_scratch(n_chunks * cols)?
            };
            let gx = cols.div_ceil(BLOCK as usize) as u32;
            let args = KArgs::new().ptr(x).ptr(partial).u64(rows).u64(cols);
            cuda.launch_op(
                CUDA,
                "nx_column_sums_partial",
                (gx, n_chunks as u32, 1),
                BLOCK,
                args,
            )?;
            if n_chunks > 1 {
                let args = KArgs::new().ptr(partial).ptr(out).u64(n_chunks).u64(cols);
                cuda.launch_op_1d(CUDA, "nx_column_sums_total", cols, args)?;
            }
            Ok(())
        }
    }
}

/// Columns `j0 .. j0 + out.len()` of [`ColumnSums`], walking rows in order (cache-friendly)
/// with one running partial per column kept on the stack, 64 columns at a time.
pub(crate) fn column_sums_block(x: &[f32], rows: usize, cols: usize, j0: usize, out: &mut [f32]) {
    const COLS: usize = 64;
    for (b, out) in out.chunks_mut(COLS).enumerate() {
        let j0 = j0 + b * COLS;
        let mut partial = [0.0f32; COLS];
        for c in 0..chunks(rows) {
            let partial = &mut partial[..out.len()];
            partial.fill(0.0);
            for i in c * CHUNK..((c + 1) * CHUNK).min(rows) {
                let row = &x[i * cols + j0..i * cols + j0 + out.len()];
                for (p, &v) in partial.iter_mut().zip(row) {
                    *p += v;
                }
            }
            for (o, &p) in out.iter_mut().zip(partial.iter()) {
                *o = if c == 0 { p } else { *o + p };
            }
        }
        if rows == 0 {
            out.fill(0.0);
        }
    }
}

/// `out[out_index] = Σ_i x[i]*x[i]` over `i < n` in the chunked order with
/// `acc = fma(x[i], x[i], acc)` (one tensor's share of the global gradient norm).
///
/// CUDA: one lane per chunk for the partials (coalesced loads staged through shared memory),
/// then one block whose thread 0 adds the partials in chunk order while the other warps fetch
/// the next ones. The chain of `n / 256` additions is sequential by the contract; it is what
/// bounds the time of very long reductions.
pub fn sum_squares(
    backend: &mut dyn Backend,
    x: BufId,
    n: usize,
    out: BufId,
    out_index: usize,
) -> Result<()> {
    let ins = [(x, n)];
    let outs = [(out, out_index + 1)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x], [out])) = cpu.operands("sum_squares", ins, outs)?;
            out[out_index] = chunked_parallel(pool, n, &|acc, i| x[i].mul_add(x[i], acc));
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([px], [po]) = cuda.operands("sum_squares", ins, outs)?;
            if n == 0 {
                let args = KArgs::new().ptr(po).u64(out_index);
                return cuda.launch_op(CUDA, "nx_store_zero", (1, 1, 1), 32, args);
            }
            let n_chunks = chunks(n);
            let partial = if n_chunks == 1 {
                po + 4 * out_index as u64
            } else {
                cuda.op_scratch(n_chunks)?
            };
            let cap = cuda.sm_count() * 16;
            let grid = n_chunks.div_ceil(8 * 32).min(cap as usize) as u32;
            let args = KArgs::new().ptr(px).u64(1).u64(n).ptr(partial).i32(0);
            cuda.launch_op(
                CUDA,
                "nx_row_sum_squares_partials",
                (grid, 1, 1),
                BLOCK,
                args,
            )?;
            if n_chunks > 1 {
                axis::row_totals(cuda, partial, 1, n, po, out_index, 0)?;
            }
            Ok(())
        }
    }
}

/// [`chunked`] with the chunk partials computed on the pool's threads, a round of
/// `ROUND` chunks at a time (partials on the stack: no allocation), then added in chunk order
/// on the calling thread. Each task walks `LANES` chunks side by side (one accumulator each,
/// every accumulator in its own chunk's index order), so the chains overlap. The same bits as
/// [`chunked`], whatever the thread count.
pub fn chunked_parallel(
    pool: &ThreadPool,
    n: usize,
    step: &(impl Fn(f32, usize) -> f32 + Sync),
) -> f32 {
    const ROUND: usize = 1024;
    const LANES: usize = 8;
    let n_chunks = chunks(n);
    if n_chunks < 64 {
        return chunked(n, step);
    }
    let mut partials = [0.0f32; ROUND];
    let mut total = 0.0f32;
    for r0 in (0..n_chunks).step_by(ROUND) {
        let count = ROUND.min(n_chunks - r0);
        let tasks = pool.threads() * 2;
        let per = count.div_ceil(tasks).next_multiple_of(LANES);
        let shared = SharedMut::new(&mut partials[..count]);
        pool.run(tasks, &|t| {
            let (c0, c1) = (t * per, ((t + 1) * per).min(count));
            if c0 >= c1 {
                return;
            }
            // SAFETY: tasks write disjoint ranges of `partials`, which outlives the run.
            let dst = unsafe { shared.slice(c0, c1 - c0) };
            for (g, out) in dst.chunks_mut(LANES).enumerate() {
                let first = r0 + c0 + g * LANES;
                let full = out.len() == LANES && (first + LANES) * CHUNK <= n;
                if full {
                    let mut acc = [0.0f32; LANES];
                    for e in 0..CHUNK {
                        for (l, a) in acc.iter_mut().enumerate() {
                            *a = step(*a, (first + l) * CHUNK + e);
                        }
                    }
                    out.copy_from_slice(&acc);
                } else {
                    for (l, o) in out.iter_mut().enumerate() {
                        let c = first + l;
                        let mut acc = 0.0f32;
                        for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                            acc = step(acc, i);
                        }
                        *o = acc;
                    }
                }
            }
        });
        for (c, &p) in partials[..count].iter().enumerate() {
            total = if r0 + c == 0 { p } else { total + p };
        }
    }
    total
}
