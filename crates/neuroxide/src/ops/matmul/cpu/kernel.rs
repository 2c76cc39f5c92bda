//! The register-blocked micro-kernel: an `MR × (NV·LANES)` tile of outputs held in `MR·NV`
//! SIMD accumulators.
//!
//! Reduction order (the exact-mode contract, see `ops::matmul::Matmul`): lane `l` of accumulator
//! `(i, v)` belongs to exactly one output `(i, j)` with `j = v·LANES + l`. For each `p` of the
//! k-block in increasing order it does `acc = fma(A[i,p], B[p,j], acc)`, one rounding, like the
//! scalar `acc = a.mul_add(b, acc)`. Vectorisation is *across* outputs only; one output's sum is
//! never split. Across k-blocks the accumulator is carried exactly: it is stored as an f32 and
//! loaded back (`load = true`), which is the identity on its bits.

use super::simd::Simd;

/// What the micro-kernel does with its accumulators after the last `p` of a k-block.
#[derive(Clone, Copy)]
pub(super) struct Epilogue {
    /// The k-block is the last one: apply bias / pre-activation / ReLU. Otherwise the raw
    /// accumulators are stored to `c` for the next k-block.
    pub last: bool,
    /// `bias[j]` for the tile's first column, or null for no bias (no `+ 0.0`: that would turn
    /// `-0.0` into `+0.0`).
    pub bias: *const f32,
    /// Where to store `z = acc + bias` (row stride `ldc`), or null.
    pub pre: *mut f32,
    /// Apply ReLU to `z` before storing it to `c`.
    pub relu: bool,
}

impl Epilogue {
    /// Store the raw accumulators (not the last k-block, or an edge tile finished by the caller).
    pub const RAW: Epilogue = Epilogue {
        last: false,
        bias: std::ptr::null(),
        pre: std::ptr::null_mut(),
        relu: false,
    };
}

/// One `MR × NV·LANES` output tile over one k-block of `kc` steps.
///
/// * `a`: A micro-panel, `A[i0 + i, p0 + p]` at `a[p·lda + i]` (`lda = MR` when packed, `m`
///   when read in place from a transposed A).
/// * `b`: B micro-panel, `B[p0 + p, j0 + j]` at `b[p·ldb + j]` for `j < NR = NV·LANES`
///   (`ldb = NR` when packed, `n` when read in place from a plain B).
/// * `c`: the tile's first output, row stride `ldc`; read first when `load` (carried
///   accumulators), then written (raw accumulators, or the epilogue's result when `epi.last`).
///
/// # Safety
/// The CPU must support `S`; `a`, `b`, `c` (and `epi.bias`, `epi.pre` when not null) must be
/// valid for the ranges above; `c` and `epi.pre` must not be written by anyone else meanwhile.
#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
pub(super) unsafe fn micro<S: Simd, const MR: usize, const NV: usize>(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    load: bool,
    epi: Epilogue,
) {
    let lanes = S::LANES;
    unsafe {
        let mut acc = [[S::zero(); NV]; MR];
        if load {
            for i in 0..MR {
                for v in 0..NV {
                    acc[i][v] = S::load(c.add(i * ldc + v * lanes));
                }
            }
        }
        let mut ap = a;
        let mut bp = b;
        for _ in 0..kc {
            let mut bv = [S::zero(); NV];
            for v in 0..NV {
                bv[v] = S::load(bp.add(v * lanes));
            }
            for i in 0..MR {
                let av = S::splat(ap.add(i));
                for v in 0..NV {
                    acc[i][v] = S::fma(av, bv[v], acc[i][v]);
                }
            }
            ap = ap.add(lda);
            bp = bp.add(ldb);
        }
        if epi.last {
            if !epi.bias.is_null() {
                for v in 0..NV {
                    let bias = S::load(epi.bias.add(v * lanes));
                    for i in 0..MR {
                        acc[i][v] = S::add(acc[i][v], bias);
                    }
                }
            }
            if !epi.pre.is_null() {
                for i in 0..MR {
                    for v in 0..NV {
                        S::store(epi.pre.add(i * ldc + v * lanes), acc[i][v]);
                    }
                }
            }
            if epi.relu {
                for i in 0..MR {
                    for v in 0..NV {
                        acc[i][v] = S::relu(acc[i][v]);
                    }
                }
            }
        }
        for i in 0..MR {
            for v in 0..NV {
                S::store(c.add(i * ldc + v * lanes), acc[i][v]);
            }
        }
    }
}
