//! Index-select of rows along one axis (a gather), and its backward written as a gather
//! (PARITY rule 6: no atomics).
//!
//! `x` is viewed as `outer × n × inner` around the selected axis; `index` holds `m` positions
//! along it. Indices are i32 buffers ([`Index`], like embedding ids). An index outside `0..n` (negative
//! or too large) selects nothing: the forward writes zeros, the backward skips it.
//!
//! Orders:
//! - Forward `y[o, r, j] = x[o, index[r], j]` (a copy, no arithmetic).
//! - Backward `dx[o, v, j] = Σ_r dy[o, r, j]` over the `r` with `index[r] == v`, in the chunked
//!   order of rule 2a over `r` (chunks of 256 positions of `index`; a position that names
//!   another row is skipped, never added as a zero, rule 2b). A row no index names gets `+0.0`.
//!   CUDA: one thread per (element of `dx`, chunk), then one per element for the chunk order.

use crate::backend::cpu::pool::par_rows;
use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};
use crate::ops::dims::Dims4;
use crate::ops::reduce::{chunked, chunks};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/gather/gather.cu", include_str!("gather.cu"));

/// How an index is stored (`nx_index_t` in `gather.cu`): an i32 buffer.
pub type Index = i32;

/// The row `id` selects among `n`, or `None` (`nx_gather_row` in `gather.cu` is the twin).
#[inline]
pub fn gather_row(id: Index, n: usize) -> Option<usize> {
    crate::ops::embedding::id_index(id, n)
}

/// `y = index-select(x, axis, index)`, or its backward; see the module doc.
#[derive(Clone, Copy, Debug)]
pub struct Gather {
    /// `x` (forward) or `dx` (backward): `outer × n × inner`.
    pub x: BufId,
    pub index: BufId,
    /// `y` (forward) or `dy` (backward): `outer × m × inner`.
    pub y: BufId,
    pub outer: usize,
    pub n: usize,
    pub inner: usize,
    /// Number of indices.
    pub m: usize,
}

impl Gather {
    /// Selects along axis `axis` of a tensor of shape `shape` (rank 1 to 4) with `m` indices.
    pub fn new(
        x: BufId,
        shape: &[usize],
        axis: usize,
        index: BufId,
        m: usize,
        y: BufId,
    ) -> Result<Gather> {
        let d = Dims4::new("gather", shape)?.0;
        let a = Dims4::axis("gather", shape.len(), axis)?;
        Ok(Gather {
            x,
            index,
            y,
            outer: d[..a].iter().product(),
            n: d[a],
            inner: d[a + 1..].iter().product(),
            m,
        })
    }
    fn x_len(&self) -> usize {
        self.outer * self.n * self.inner
    }
    fn y_len(&self) -> usize {
        self.outer * self.m * self.inner
    }
    fn check(&self) -> Result<()> {
        if self.x_len().max(self.y_len()) >= 1 << 46 || self.n > i32::MAX as usize {
            return Err(Error::Shape(format!(
                "gather: too large for i32 indices ({self:?})"
            )));
        }
        Ok(())
    }
}

/// Forward: `y[o, r, j] = x[o, index[r], j]`.
pub fn gather(backend: &mut dyn Backend, a: &Gather) -> Result<()> {
    a.check()?;
    let (n, m, inner) = (a.n, a.m, a.inner);
    let ins = [(a.x, a.x_len())];
    let outs = [(a.y, a.y_len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, index, ([x], [y])) =
                cpu.operands_with_ids("gather", (a.index, m), ins, outs)?;
            par_rows(pool, y, a.outer * m, inner, &|q0, block| {
                for (q, row) in (q0..).zip(block.chunks_mut(inner.max(1))) {
                    let (o, r) = (q / m, q % m);
                    match gather_row(index[r], n) {
                        Some(v) => row.copy_from_slice(&x[(o * n + v) * inner..][..inner]),
                        None => row.fill(0.0),
                    }
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let (index, [x], [y]) = cuda.operands_with_ids("gather", (a.index, m), ins, outs)?;
            let len = a.y_len();
            let args = KArgs::new()
                .ptr(x)
                .ptr(index)
                .ptr(y)
                .u64(len)
                .u64(n)
                .u64(m)
                .u64(inner);
            cuda.launch_op_1d(CUDA, "nx_gather", len, args)
        }
    }
}

/// Backward as a gather: `dx[o, v, j] = Σ dy[o, r, j]` over `index[r] == v` (here `x` is `dx`
/// and `y` is `dy`).
pub fn gather_backward(backend: &mut dyn Backend, a: &Gather) -> Result<()> {
    a.check()?;
    let (n, m, inner) = (a.n, a.m, a.inner);
    let ins = [(a.y, a.y_len())];
    let outs = [(a.x, a.x_len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, index, ([dy], [dx])) =
                cpu.operands_with_ids("gather_backward", (a.index, m), ins, outs)?;
            par_rows(pool, dx, a.x_len(), 1, &|e0, block| {
                for (e, v) in (e0..).zip(block.iter_mut()) {
                    let (j, row) = (e % inner, e / inner);
                    let (o, want) = (row / n, row % n);
                    *v = chunked(m, |acc, r| {
                        if gather_row(index[r], n) == Some(want) {
                            acc + dy[(o * m + r) * inner + j]
                        } else {
                            acc
                        }
                    });
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let (index, [dy], [dx]) =
                cuda.operands_with_ids("gather_backward", (a.index, m), ins, outs)?;
            let len = a.x_len();
            if len == 0 {
                return Ok(());
            }
            let cpr = chunks(m).max(1);
            let dst = if cpr == 1 {
                dx
            } else {
                cuda.op_scratch(len * cpr)?
            };
            let args = KArgs::new()
                .ptr(dy)
                .ptr(index)
                .ptr(dst)
                .u64(len)
                .u64(n)
                .u64(m)
                .u64(inner);
            cuda.launch_op_1d(CUDA, "nx_gather_backward_partials", len * cpr, args)?;
            if cpr > 1 {
                let args = KArgs::new().ptr(dst).ptr(dx).u64(len).u64(cpr);
                cuda.launch_op_1d(CUDA, "nx_gather_backward_totals", len, args)?;
            }
            Ok(())
        }
    }
}
