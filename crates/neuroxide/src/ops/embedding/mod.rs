//! Embedding gather (forward), its backward written as a gather (PARITY rule 6: no atomics),
//! and the broadcast add of a learned positional table.
//!
//! Ids are an i32 buffer (`&[i32]` on the CPU, `const int*` on CUDA), never floats. The host
//! rejects a negative or out-of-range id before it reaches a kernel ([`check_ids`]); the
//! kernels are still safe on such a value: [`id_index`] maps it to "no row", the forward writes
//! zeros and the backward skips it.
//!
//! Orders:
//! - Forward `out[r, j] = table[id[r], j]` (a copy, no arithmetic).
//! - Backward `dtable[v, j] = Σ_r dout[r, j]` over the rows `r` with `id[r] == v`, in the chunked
//!   order of rule 2a over the row index `r` (chunks of 256 rows; a row whose id is not `v` is
//!   skipped, never added as a zero, rule 2b). A vocabulary row that no id names gets `+0.0`.
//!   Why chunked: one vocabulary row may be named by thousands of positions (a space character),
//!   and chunks let a GPU spread those sums over many threads.
//! - Position add `out[b, i] = x[b, i] + pos[i]`; its backward is `dpos = column_sums(dout)`
//!   (`ops::reduce`, chunked over the batch) and `dx = dout`.

use super::reduce::{chunks, CHUNK};
use crate::backend::cpu::pool::par_rows;
use crate::backend::cuda::{Family, KArgs, BLOCK};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("embedding.cu", include_str!("embedding.cu"));

/// The row an id names, or `None` when the id is negative or not below `vocab`.
/// `embedding.cu` has the same test (`nx_id_index`).
#[inline]
pub fn id_index(id: i32, vocab: usize) -> Option<usize> {
    usize::try_from(id).ok().filter(|&v| v < vocab)
}

/// Checks every id on the host: an error names the first bad id (negative or too large), its
/// position and the vocabulary size.
pub fn check_ids(what: &str, ids: &[i32], vocab: usize) -> Result<()> {
    for (pos, &id) in ids.iter().enumerate() {
        if id_index(id, vocab).is_none() {
            return Err(Error::invalid(format!(
                "{what}: id {id} at position {pos} is not a token id in 0..{vocab} (vocabulary size {vocab})"
            )));
        }
    }
    Ok(())
}

/// `out[r, :] = table[ids[r], :]` for `r < rows`; `ids` is an i32 buffer, `table` is
/// `vocab × dim`.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddingGather {
    pub ids: BufId,
    pub table: BufId,
    pub out: BufId,
    pub rows: usize,
    pub vocab: usize,
    pub dim: usize,
}

/// `dtable[v, :] = Σ dout[r, :]` over the rows naming `v`, in the chunked order over `r`.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddingBackward {
    pub ids: BufId,
    pub grad_out: BufId,
    pub grad_table: BufId,
    pub rows: usize,
    pub vocab: usize,
    pub dim: usize,
}

/// `out[b*n + i] = x[b*n + i] + pos[i]` for `b < batch`, `i < n`.
#[derive(Clone, Copy, Debug)]
pub struct AddPosition {
    pub x: BufId,
    pub pos: BufId,
    pub out: BufId,
    pub batch: usize,
    pub n: usize,
}

/// Runs [`EmbeddingGather`].
pub fn embedding_forward(backend: &mut dyn Backend, a: &EmbeddingGather) -> Result<()> {
    let (rows, vocab, dim) = (a.rows, a.vocab, a.dim);
    let ids = (a.ids, rows);
    let ins = [(a.table, vocab * dim)];
    let outs = [(a.out, rows * dim)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ids, ([table], [out])) =
                cpu.operands_with_ids("embedding_forward", ids, ins, outs)?;
            par_rows(pool, out, rows, dim, &|r0, block| {
                for (k, o) in block.chunks_mut(dim).enumerate() {
                    match id_index(ids[r0 + k], vocab) {
                        Some(v) => o.copy_from_slice(&table[v * dim..(v + 1) * dim]),
                        None => o.fill(0.0),
                    }
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let (ids, [table], [out]) =
                cuda.operands_with_ids("embedding_forward", ids, ins, outs)?;
            if rows * dim == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .ptr(ids)
                .ptr(table)
                .ptr(out)
                .u64(rows)
                .u64(vocab)
                .u64(dim);
            cuda.launch_op_1d(CUDA, "nx_embedding_forward", rows * dim, args)
        }
    }
}

/// Runs [`EmbeddingBackward`].
pub fn embedding_backward(backend: &mut dyn Backend, a: &EmbeddingBackward) -> Result<()> {
    let (rows, vocab, dim) = (a.rows, a.vocab, a.dim);
    let ids = (a.ids, rows);
    let ins = [(a.grad_out, rows * dim)];
    let outs = [(a.grad_table, vocab * dim)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ids, ([dout], [dtable])) =
                cpu.operands_with_ids("embedding_backward", ids, ins, outs)?;
            par_rows(pool, dtable, vocab, dim, &|v0, block| {
                gather_rows(ids, dout, rows, vocab, dim, v0, block)
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let (ids, [dout], [dtable]) =
                cuda.operands_with_ids("embedding_backward", ids, ins, outs)?;
            let n = vocab * dim;
            if n == 0 {
                return Ok(());
            }
            let n_chunks = chunks(rows).max(1);
            let partial = if n_chunks == 1 {
                dtable
            } else {
                cuda.op_scratch(n_chunks * n)?
            };
            let gx = n.div_ceil(BLOCK as usize) as u32;
            let args = KArgs::new()
                .ptr(ids)
                .ptr(dout)
                .ptr(partial)
                .u64(rows)
                .u64(vocab)
                .u64(dim);
            cuda.launch_op(
                CUDA,
                "nx_embedding_backward_partial",
                (gx, n_chunks as u32, 1),
                BLOCK,
                args,
            )?;
            if n_chunks > 1 {
                let args = KArgs::new().ptr(partial).ptr(dtable).u64(n_chunks).u64(n);
                cuda.launch_op_1d(CUDA, "nx_embedding_backward_total", n, args)?;
            }
            Ok(())
        }
    }
}

/// Vocabulary rows `v0 ..` of the backward: per row, per block of 64 columns, one partial per
/// chunk of 256 positions (walked in order), folded into the total in chunk order.
fn gather_rows(
    ids: &[i32],
    dout: &[f32],
    rows: usize,
    vocab: usize,
    dim: usize,
    v0: usize,
    block: &mut [f32],
) {
    const COLS: usize = 64;
    for (k, out_row) in block.chunks_mut(dim).enumerate() {
        let v = v0 + k;
        for (cb, out) in out_row.chunks_mut(COLS).enumerate() {
            let j0 = cb * COLS;
            let mut partial = [0.0f32; COLS];
            out.fill(0.0);
            for c in 0..chunks(rows) {
                let partial = &mut partial[..out.len()];
                partial.fill(0.0);
                for r in c * CHUNK..((c + 1) * CHUNK).min(rows) {
                    if id_index(ids[r], vocab) != Some(v) {
                        continue;
                    }
                    let src = &dout[r * dim + j0..r * dim + j0 + out.len()];
                    for (p, &g) in partial.iter_mut().zip(src) {
                        *p += g;
                    }
                }
                for (o, &p) in out.iter_mut().zip(partial.iter()) {
                    *o = if c == 0 { p } else { *o + p };
                }
            }
        }
    }
}

/// Runs [`AddPosition`].
pub fn add_position(backend: &mut dyn Backend, a: &AddPosition) -> Result<()> {
    let (batch, n) = (a.batch, a.n);
    let ins = [(a.x, batch * n), (a.pos, n)];
    let outs = [(a.out, batch * n)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, pos], [out])) = cpu.operands("add_position", ins, outs)?;
            par_rows(pool, out, batch, n, &|b0, block| {
                for (k, o) in block.chunks_mut(n).enumerate() {
                    let xr = &x[(b0 + k) * n..(b0 + k + 1) * n];
                    for ((o, &xv), &p) in o.iter_mut().zip(xr).zip(pos) {
                        *o = xv + p;
                    }
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, pos], [out]) = cuda.operands("add_position", ins, outs)?;
            if batch * n == 0 {
                return Ok(());
            }
            let args = KArgs::new().ptr(x).ptr(pos).ptr(out).u64(batch * n).u64(n);
            cuda.launch_op_1d(CUDA, "nx_add_position", batch * n, args)
        }
    }
}
