//! Permute (transpose) of the axes of a tensor of up to four axes: a pure copy, no arithmetic,
//! so every bit (signed zeros, denormals, NaN payloads) arrives unchanged on both backends.
//!
//! `y` has shape `out[i] = shape[perm[i]]`, and `y[c0, c1, c2, c3] = x[...]` where input axis
//! `perm[i]` takes coordinate `c_i`. Shapes of fewer axes are padded on the left with axes of
//! length 1 that stay in place ([`Dims4`]).

use crate::backend::cpu::pool::par_rows;
use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};
use crate::ops::dims::{Dims4, MAX_AXES};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/permute/permute.cu", include_str!("permute.cu"));

/// `y = x` with its axes reordered by `perm`.
#[derive(Clone, Copy, Debug)]
pub struct Permute {
    pub x: BufId,
    pub y: BufId,
    /// The input shape, padded to four axes.
    pub dims: Dims4,
    /// Output axis `i` is input axis `perm[i]` (padded to four axes).
    pub perm: [usize; MAX_AXES],
}

impl Permute {
    /// Permutes a tensor of shape `shape` (rank 1 to 4) by `perm` (a permutation of
    /// `0..shape.len()`).
    pub fn new(x: BufId, y: BufId, shape: &[usize], perm: &[usize]) -> Result<Permute> {
        let dims = Dims4::new("permute", shape)?;
        let rank = shape.len();
        let mut seen = [false; MAX_AXES];
        if perm.len() != rank
            || perm
                .iter()
                .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
        {
            return Err(Error::Shape(format!(
                "permute: {perm:?} is not a permutation of the {rank} axes of shape {shape:?}"
            )));
        }
        let pad = MAX_AXES - rank;
        let mut p4 = [0, 1, 2, 3];
        for (i, &p) in perm.iter().enumerate() {
            p4[pad + i] = pad + p;
        }
        Ok(Permute {
            x,
            y,
            dims,
            perm: p4,
        })
    }

    /// The output shape (four axes).
    pub fn out_dims(&self) -> [usize; MAX_AXES] {
        self.perm.map(|p| self.dims.0[p])
    }

    /// For each output axis, the input stride that axis walks.
    fn source_strides(&self) -> [usize; MAX_AXES] {
        let s = self.dims.strides();
        self.perm.map(|p| s[p])
    }
}

/// Runs [`Permute`].
pub fn permute(backend: &mut dyn Backend, a: &Permute) -> Result<()> {
    let mut sorted = a.perm;
    sorted.sort_unstable();
    if sorted != [0, 1, 2, 3] {
        return Err(Error::Shape(format!(
            "permute: {:?} is not a permutation",
            a.perm
        )));
    }
    let n = a.dims.numel();
    let od = a.out_dims();
    let ss = a.source_strides();
    let ins = [(a.x, n)];
    let outs = [(a.y, n)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x], [y])) = cpu.operands("permute", ins, outs)?;
            let rows = od[0] * od[1] * od[2];
            if n == 0 {
                return Ok(());
            }
            par_rows(pool, y, rows, od[3], &|r0, block| {
                for (r, row) in (r0..).zip(block.chunks_mut(od[3])) {
                    let (c2, r) = (r % od[2], r / od[2]);
                    let (c1, c0) = (r % od[1], r / od[1]);
                    let base = c0 * ss[0] + c1 * ss[1] + c2 * ss[2];
                    for (c3, v) in row.iter_mut().enumerate() {
                        *v = x[base + c3 * ss[3]];
                    }
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x], [y]) = cuda.operands("permute", ins, outs)?;
            if n == 0 {
                return Ok(());
            }
            let mut args = KArgs::new().ptr(x).ptr(y).u64(n);
            for v in od[1..].iter().chain(&ss) {
                args = args.u64(*v);
            }
            cuda.launch_op_1d(CUDA, "nx_permute", n, args)
        }
    }
}
