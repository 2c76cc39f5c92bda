//! Sums and means over any one axis of a tensor of up to four axes, in the chunked order of
//! PARITY rule 2a.
//!
//! The tensor is viewed as `outer × n × inner` around the reduced axis (`n` its length). Order
//! (the contract): `out[o, j] = chunked over i < n of (acc + x[o, i, j])` ([`super::chunked`]);
//! a mean is that sum divided by `n` (`s / n as f32`, one correctly rounded division, as loss
//! means and LayerNorm's mean are computed). The output holds `outer × inner` values: the input
//! shape with the axis removed (or kept with length 1: the same values in the same order).

use super::{chunked, chunks, column_sums_block, CUDA};
use crate::backend::cpu::pool::par_rows;
use crate::backend::cuda::{KArgs, BLOCK};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};
use crate::ops::dims::{Dims4, MAX_AXES};

/// What [`ReduceAxis`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AxisReduction {
    Sum,
    /// The sum divided by the axis length.
    Mean,
}

/// `out = sum (or mean) of x over one axis`; see the module doc for the order.
#[derive(Clone, Copy, Debug)]
pub struct ReduceAxis {
    pub x: BufId,
    pub out: BufId,
    /// The input shape, padded to four axes.
    pub dims: Dims4,
    /// The reduced axis, counted in the padded shape (see [`ReduceAxis::new`]).
    pub axis: usize,
    pub kind: AxisReduction,
}

impl ReduceAxis {
    /// Reduces axis `axis` of a tensor of shape `shape` (rank 1 to 4).
    pub fn new(
        x: BufId,
        out: BufId,
        shape: &[usize],
        axis: usize,
        kind: AxisReduction,
    ) -> Result<ReduceAxis> {
        Ok(ReduceAxis {
            x,
            out,
            dims: Dims4::new("reduce_axis", shape)?,
            axis: Dims4::axis("reduce_axis", shape.len(), axis)?,
            kind,
        })
    }

    /// `(outer, n, inner)` around the reduced axis.
    pub fn split(&self) -> (usize, usize, usize) {
        let d = self.dims.0;
        let outer = d[..self.axis].iter().product();
        let inner = d[self.axis + 1..].iter().product();
        (outer, d[self.axis], inner)
    }

    fn check(&self) -> Result<()> {
        if self.axis >= MAX_AXES {
            return Err(Error::Shape(format!(
                "reduce_axis: axis {} of a padded 4-axis shape",
                self.axis
            )));
        }
        if self.dims.0[self.axis] == 0 {
            return Err(Error::Shape(format!(
                "reduce_axis: the reduced axis of shape {:?} is empty",
                self.dims.0
            )));
        }
        Ok(())
    }
}

/// Runs [`ReduceAxis`].
pub fn reduce_axis(backend: &mut dyn Backend, a: &ReduceAxis) -> Result<()> {
    a.check()?;
    let (outer, n, inner) = a.split();
    let mean = a.kind == AxisReduction::Mean;
    let ins = [(a.x, outer * n * inner)];
    let outs = [(a.out, outer * inner)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x], [out])) = cpu.operands("reduce_axis", ins, outs)?;
            par_rows(pool, out, outer * inner, 1, &|q0, block| {
                reduce_block(x, n, inner, q0, block);
                if mean {
                    for v in block.iter_mut() {
                        *v /= n as f32;
                    }
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x], [out]) = cuda.operands("reduce_axis", ins, outs)?;
            if outer * inner == 0 {
                return Ok(());
            }
            let cpr = chunks(n);
            let dst = if cpr == 1 {
                out
            } else {
                cuda.op_scratch(outer * cpr * inner)?
            };
            let flag = i32::from(mean);
            if inner == 1 {
                let rows = outer;
                let per_block = 8 * 32; // chunks per block and round (NX_ROW_WARPS warps of 32)
                let cap = cuda.sm_count() * 16;
                let grid = (rows * cpr).div_ceil(per_block).min(cap as usize) as u32;
                let args = KArgs::new().ptr(x).u64(rows).u64(n).ptr(dst).i32(flag);
                cuda.launch_op(CUDA, "nx_row_sum_partials", (grid, 1, 1), BLOCK, args)?;
                if cpr > 1 {
                    row_totals(cuda, dst, rows, n, out, 0, flag)?;
                }
            } else {
                // Threads along the contiguous axis; small `inner` gets narrow blocks.
                let threads = inner.next_multiple_of(32).min(BLOCK as usize);
                let gx = inner.div_ceil(threads) as u32;
                let gy = (outer * cpr).min(65_535) as u32;
                let args = KArgs::new()
                    .ptr(x)
                    .ptr(dst)
                    .u64(outer)
                    .u64(n)
                    .u64(inner)
                    .i32(flag);
                cuda.launch_op(CUDA, "nx_axis_partials", (gx, gy, 1), threads as u32, args)?;
                if cpr > 1 {
                    let args = KArgs::new()
                        .ptr(dst)
                        .ptr(out)
                        .u64(outer)
                        .u64(n)
                        .u64(inner)
                        .i32(flag);
                    cuda.launch_op_1d(CUDA, "nx_axis_totals", outer * inner, args)?;
                }
            }
            Ok(())
        }
    }
}

/// Pass 2 of a contiguous-row reduction on CUDA: `out[offset + r]` = row `r`'s partials summed
/// in chunk order (one thread per row for short rows, one block per row for long ones).
pub(super) fn row_totals(
    cuda: &mut crate::backend::cuda::CudaBackend,
    partial: u64,
    rows: usize,
    n: usize,
    out: u64,
    offset: usize,
    mean: i32,
) -> Result<()> {
    if chunks(n) <= 64 {
        let args = KArgs::new()
            .ptr(partial)
            .u64(rows)
            .u64(n)
            .ptr(out)
            .u64(offset)
            .i32(mean);
        cuda.launch_op_1d(CUDA, "nx_row_totals", rows, args)
    } else {
        let args = KArgs::new()
            .ptr(partial)
            .u64(n)
            .ptr(out)
            .u64(offset)
            .i32(mean);
        cuda.launch_op(
            CUDA,
            "nx_row_totals_block",
            (rows as u32, 1, 1),
            BLOCK,
            args,
        )
    }
}

/// Outputs `q0 .. q0 + out.len()` (flat `o * inner + j`) of the sums over the middle axis.
fn reduce_block(x: &[f32], n: usize, inner: usize, q0: usize, out: &mut [f32]) {
    let mut q = q0;
    let mut rest = out;
    while !rest.is_empty() {
        let (o, j) = (q / inner, q % inner);
        let take = (inner - j).min(rest.len());
        let (seg, tail) = rest.split_at_mut(take);
        let slab = &x[o * n * inner..(o + 1) * n * inner];
        if inner == 1 {
            seg[0] = chunked(n, |acc, i| acc + slab[i]);
        } else {
            column_sums_block(slab, n, inner, j, seg);
        }
        q += take;
        rest = tail;
    }
}
