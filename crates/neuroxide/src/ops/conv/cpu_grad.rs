//! CPU kernel of the convolution's weight and bias gradients (orders in `mod.rs`): chunked
//! reductions over `r = (n*OH + oh)*OW + ow` (PARITY rule 2a).
//!
//! How it is fast without changing a bit: `dy` is first transposed to `[r][c_out]`, so the
//! output channels of one weight tap sit in SIMD lanes (different outputs, same recurrence);
//! one task owns one (group, input channel, kernel row) and keeps a block of kernel columns ×
//! channel lanes of chunk partials in registers while it walks `r`. The validity of a term
//! depends on the tap and the position only, never on the lane, so a skipped (padding) term is
//! a skipped branch, not a multiplication by zero (rule 2b). Threads split the taps (outputs),
//! never one reduction.

use super::Conv2dGeom;
use crate::backend::cpu::pool::{par_rows, SharedMut, ThreadPool};
use crate::ops::matmul::cpu::Isa;
use crate::ops::reduce::{chunks, column_sums_block, CHUNK};
use std::cell::RefCell;

thread_local! {
    /// `dy` transposed to `[r][c_out]` (+ lane padding), then the gradient as
    /// `[group][ci][i][j][co]`; reused across calls.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Lane padding of the transposed `dy` (the widest register block reads this far past a row).
const CB_MAX: usize = 32;

/// One task: the weight gradients of input channel `ci` of group `gr`, kernel row `i`, every
/// kernel column and output channel, into `out[j * cog + co]`; a register block holds `JB`
/// kernel columns × `CB` channel lanes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dw_task<const CB: usize, const JB: usize>(
    g: &Conv2dGeom,
    x: &[f32],
    dyt: &[f32],
    gr: usize,
    ci: usize,
    i: usize,
    (j_lo, j_hi): (usize, usize),
    out: &mut [f32],
) {
    let (cig, cog) = (g.cig(), g.cog());
    let (sh, sw) = g.stride;
    let (ph, pw) = g.pad;
    let (dh, dw) = g.dilation;
    let ohw = g.oh * g.ow;
    let rows = g.batch * ohw;
    let c_abs = gr * cig + ci;
    for lane0 in (0..cog).step_by(CB) {
        for j0 in (j_lo..j_hi).step_by(JB) {
            let nj = JB.min(j_hi - j0);
            let mut total = [[0.0f32; CB]; JB];
            for c in 0..chunks(rows) {
                let mut acc = [[0.0f32; CB]; JB];
                let (r0, r1) = (c * CHUNK, ((c + 1) * CHUNK).min(rows));
                let mut r = r0;
                while r < r1 {
                    // One output row segment: same image and output row.
                    let (n, rem) = (r / ohw, r % ohw);
                    let (oh, ow0) = (rem / g.ow, rem % g.ow);
                    let end = r1.min(r - ow0 + g.ow);
                    let ih = oh * sh + i * dh;
                    if ih < ph || ih - ph >= g.h {
                        r = end;
                        continue;
                    }
                    let xrow = &x[((n * g.c_in + c_abs) * g.h + ih - ph) * g.w..][..g.w];
                    for rr in r..end {
                        let ow = ow0 + (rr - r);
                        let d = &dyt[rr * g.c_out + gr * cog + lane0..][..CB];
                        for (jj, acc) in acc.iter_mut().enumerate().take(nj) {
                            let iw = ow * sw + (j0 + jj) * dw;
                            if iw < pw || iw - pw >= g.w {
                                continue;
                            }
                            let xv = xrow[iw - pw];
                            for l in 0..CB {
                                acc[l] = xv.mul_add(d[l], acc[l]);
                            }
                        }
                    }
                    r = end;
                }
                for (t, a) in total.iter_mut().zip(&acc) {
                    for l in 0..CB {
                        t[l] = if c == 0 { a[l] } else { t[l] + a[l] };
                    }
                }
            }
            for (jj, t) in total.iter().enumerate().take(nj) {
                let n_l = CB.min(cog - lane0);
                out[(j0 - j_lo + jj) * cog + lane0..][..n_l].copy_from_slice(&t[..n_l]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_task_avx2(
    g: &Conv2dGeom,
    x: &[f32],
    dyt: &[f32],
    gr: usize,
    ci: usize,
    i: usize,
    cols: (usize, usize),
    out: &mut [f32],
) {
    dw_task_any(g, x, dyt, gr, ci, i, cols, out)
}

/// 32 lanes × 3 columns (12 AVX2 accumulators) for wide layers, else 16 × 4.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dw_task_any(
    g: &Conv2dGeom,
    x: &[f32],
    dyt: &[f32],
    gr: usize,
    ci: usize,
    i: usize,
    cols: (usize, usize),
    out: &mut [f32],
) {
    if g.cog() >= 32 {
        dw_task::<32, 3>(g, x, dyt, gr, ci, i, cols, out)
    } else {
        dw_task::<16, 4>(g, x, dyt, gr, ci, i, cols, out)
    }
}

/// Weight gradient `dw` and, when given, bias gradient `db`.
pub(super) fn backward_params(
    pool: &ThreadPool,
    g: &Conv2dGeom,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    db: Option<&mut [f32]>,
) {
    let (cig, cog) = (g.cig(), g.cog());
    let ohw = g.oh * g.ow;
    let rows = g.batch * ohw;
    let vector = Isa::selected() != Isa::Scalar;
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let dyt_len = rows * g.c_out + CB_MAX;
        s.clear();
        s.resize(dyt_len + g.w_len(), 0.0);
        let (dyt, dwt) = s.split_at_mut(dyt_len);
        // Transpose dy[n][co][p] -> dyt[n*ohw + p][co], one image per task.
        let dyt_out = SharedMut::new(dyt);
        pool.run(g.batch, &|n| {
            // SAFETY: image n owns rows n*ohw .. (n+1)*ohw of dyt.
            let t = unsafe { dyt_out.slice(n * ohw * g.c_out, ohw * g.c_out) };
            // In tiles of TILE positions, so the rows written stay in L1 while every
            // channel's run of the tile is read.
            const TILE: usize = 64;
            for p0 in (0..ohw).step_by(TILE) {
                let len = TILE.min(ohw - p0);
                for co in 0..g.c_out {
                    let src = &dy[(n * g.c_out + co) * ohw + p0..][..len];
                    for (p, &v) in src.iter().enumerate() {
                        t[(p0 + p) * g.c_out + co] = v;
                    }
                }
            }
        });
        let dyt: &[f32] = dyt;
        let per_row = g.kw * cog;
        let row_tasks = g.groups * cig * g.kh;
        // Few kernel rows (a first layer): one task per kernel column too, so both threads work.
        let split = if row_tasks < 8 { g.kw } else { 1 };
        let dwt_out = SharedMut::new(dwt);
        pool.run(row_tasks * split, &|task| {
            let (row, part) = (task / split, task % split);
            let (gr, rest) = (row / (cig * g.kh), row % (cig * g.kh));
            let (ci, i) = (rest / g.kh, rest % g.kh);
            let cols = if split == 1 {
                (0, g.kw)
            } else {
                (part, part + 1)
            };
            // SAFETY: each task owns the columns `cols` of one (group, ci, i) block of dwt.
            let out =
                unsafe { dwt_out.slice(row * per_row + cols.0 * cog, (cols.1 - cols.0) * cog) };
            #[cfg(target_arch = "x86_64")]
            if vector {
                // SAFETY: a vector path is selected only when the CPU has AVX2 + FMA.
                unsafe { dw_task_avx2(g, x, dyt, gr, ci, i, cols, out) };
                return;
            }
            let _ = vector;
            dw_task_any(g, x, dyt, gr, ci, i, cols, out);
        });
        // dwt[(((gr*cig + ci)*kh + i)*kw + j)*cog + co] -> dw[((gr*cog + co)*cig + ci)*kh*kw + i*kw + j]
        let khw = g.kh * g.kw;
        for gr in 0..g.groups {
            for ci in 0..cig {
                for k in 0..khw {
                    let src = &dwt[((gr * cig + ci) * khw + k) * cog..][..cog];
                    for (co, &v) in src.iter().enumerate() {
                        dw[((gr * cog + co) * cig + ci) * khw + k] = v;
                    }
                }
            }
        }
        if let Some(db) = db {
            let cols = g.c_out;
            par_rows(pool, db, cols, 1, &|j0, block| {
                column_sums_block(&dyt[..rows * cols], rows, cols, j0, block)
            });
        }
    });
}
