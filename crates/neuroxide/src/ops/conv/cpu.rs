//! CPU kernels of the convolution forward and input-gradient passes (orders in `mod.rs`).
//!
//! Both passes are the same *gather*: an output value (a forward output, or an input gradient)
//! is one accumulator fed, in a fixed order, by products `src · w` over (channel, kernel row,
//! kernel column), where the valid kernel rows depend only on the output's row and the valid
//! kernel columns only on its column. So the tap lists factor into a row list and a column list,
//! and padding is left out of the lists instead of being multiplied by zero (rule 2b).
//!
//! How it is fast without changing a bit: SIMD lanes hold *different outputs* (channels), so
//! each lane runs the scalar recurrence unchanged; weights are packed once per call as
//! `[tap][channel lane]`, the source value is broadcast, and a register block of `PB`
//! neighbouring positions × `CB` channel lanes shares every weight load. Positions whose tap
//! lists are complete (the interior) go through the blocked kernel; border positions one at a
//! time with their shorter lists. Threads split (image, group) pairs, never one output's sum.

use super::Conv2dGeom;
use crate::backend::cpu::pool::{SharedMut, ThreadPool};
use crate::backend::Activation;
use crate::ops::elementwise::activation;
use crate::ops::matmul::cpu::Isa;
use std::cell::RefCell;

/// Per-thread buffers of one call, reused across calls (no allocation once grown).
struct Scratch {
    /// Packed weights.
    pack: Vec<f32>,
    /// Column taps of every position column.
    cols: Vec<Taps>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch { pack: Vec::new(), cols: Vec::new() })
    };
    /// One row of outputs of one task, `[column][lane]`: blocks arrive channel-in-lanes and
    /// are stored as they come; the epilogue (bias, activation, stores) reads them per
    /// channel.
    static STAGE: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// One axis' taps: `(kernel index, source index)` in increasing kernel index.
#[derive(Clone, Copy)]
pub(super) struct Taps {
    len: usize,
    t: [(u32, u32); super::MAX_KERNEL],
}

impl Taps {
    fn new() -> Self {
        Taps {
            len: 0,
            t: [(0, 0); super::MAX_KERNEL],
        }
    }
    fn push(&mut self, k: usize, src: usize) {
        // Kernel extents are at most MAX_KERNEL and tensors below 2^40 values (checked by
        // `Conv2dGeom::check`); one axis' index fits in u32.
        self.t[self.len] = (k as u32, src as u32);
        self.len += 1;
    }
    fn as_slice(&self) -> &[(u32, u32)] {
        &self.t[..self.len]
    }
}

/// Forward taps along one axis for output index `o`: source `o*s - pad + k*d` inside `0..n`.
fn forward_taps(o: usize, kernel: usize, s: usize, pad: usize, d: usize, n: usize) -> Taps {
    let mut t = Taps::new();
    for k in 0..kernel {
        let pos = o * s + k * d;
        if pos >= pad && pos - pad < n {
            t.push(k, pos - pad);
        }
    }
    t
}

/// Input-gradient taps along one axis for input index `i`: outputs `o` with
/// `o*s - pad + k*d == i`, i.e. `o = (i + pad - k*d) / s` when exact and inside `0..n_out`.
fn backward_taps(i: usize, kernel: usize, s: usize, pad: usize, d: usize, n_out: usize) -> Taps {
    let mut t = Taps::new();
    for k in 0..kernel {
        let num = i + pad;
        if num >= k * d && (num - k * d).is_multiple_of(s) && (num - k * d) / s < n_out {
            t.push(k, (num - k * d) / s);
        }
    }
    t
}

/// Fills `cols` with the column taps of every position column (computed once per call,
/// shared by the tasks).
fn taps_cache(cols: &mut Vec<Taps>, n: usize, f: impl Fn(usize) -> Taps) -> &[Taps] {
    cols.clear();
    cols.extend((0..n).map(f));
    cols
}

/// One gather problem on one image and group.
struct Gather<'a> {
    /// Source planes (`chans` of them, `plane` apart, rows `row_len` apart).
    src: &'a [f32],
    plane: usize,
    row_len: usize,
    chans: usize,
    kh: usize,
    kw: usize,
    /// Packed weights `[(c*kh + i)*kw + j][lanes]`.
    wp: &'a [f32],
    lanes: usize,
    /// Output positions.
    out_h: usize,
    out_w: usize,
}

/// `PB` positions × `CB` lanes: `acc[p][l] = fma(src[...], w[...][l], acc[p][l])` over the
/// channel, row-tap and column-tap lists in order. Position `p` reads column `col + p*pstep`.
#[inline(always)]
fn gather_block<const PB: usize, const CB: usize>(
    g: &Gather,
    rows: &[(u32, u32)],
    cols: &[(u32, u32)],
    pstep: usize,
    lane0: usize,
) -> [[f32; CB]; PB] {
    let mut acc = [[0.0f32; CB]; PB];
    if g.chans == 0 || rows.is_empty() || cols.is_empty() {
        return acc;
    }
    // Bounds are checked once here, so the inner loop can index without checks.
    let max = |t: &[(u32, u32)]| {
        t.iter().fold((0, 0), |m, &(k, v)| {
            (m.0.max(k as usize), m.1.max(v as usize))
        })
    };
    let ((max_i, max_r), (max_j, max_col)) = (max(rows), max(cols));
    let last_src = (g.chans - 1) * g.plane + max_r * g.row_len + max_col + (PB - 1) * pstep;
    let last_w = (((g.chans - 1) * g.kh + max_i) * g.kw + max_j) * g.lanes + lane0 + CB;
    assert!(
        last_src < g.src.len() && last_w <= g.wp.len(),
        "conv gather out of bounds"
    );
    for c in 0..g.chans {
        for &(i, r) in rows {
            let (i, r) = (i as usize, r as usize);
            let s_row = c * g.plane + r * g.row_len;
            let w_row = (c * g.kh + i) * g.kw;
            for &(j, col) in cols {
                let (j, col) = (j as usize, col as usize);
                let wo = (w_row + j) * g.lanes + lane0;
                let s = s_row + col;
                for (p, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: `s + p*pstep <= last_src` and `wo + CB <= last_w`, checked above.
                    let xv = unsafe { *g.src.get_unchecked(s + p * pstep) };
                    for (l, acc) in acc.iter_mut().enumerate() {
                        let w = unsafe { *g.wp.get_unchecked(wo + l) };
                        *acc = xv.mul_add(w, *acc);
                    }
                }
            }
        }
    }
    acc
}

/// Receives a computed block: `(first position, positions, first lane, values)`, the values
/// laid out `[position][CB lanes]` (lanes past the caller's channel count are ignored); then,
/// once a row of positions is complete, `(first position of the row, 0, 0, [])`.
pub(super) type Emit<'a> = dyn FnMut(usize, usize, usize, &[f32]) + 'a;

/// Runs a gather over every output position. `col_taps[b]` are the column taps of position
/// column `b`; `pstep`: the source column step between neighbouring positions when blocking is
/// allowed.
#[inline(always)]
fn gather_all<const PB: usize, const CB: usize>(
    g: &Gather,
    row_taps: &dyn Fn(usize) -> Taps,
    col_taps: &[Taps],
    pstep: Option<usize>,
    kw_full: usize,
    emit: &mut Emit,
) {
    let full = |b: usize| col_taps[b].len == kw_full;
    for a in 0..g.out_h {
        let rows = row_taps(a);
        let mut b = 0;
        while b < g.out_w {
            let cols = col_taps[b].as_slice();
            let block = pstep.filter(|_| b + PB <= g.out_w && full(b) && full(b + PB - 1));
            if let Some(step) = block {
                for lane0 in (0..g.lanes).step_by(CB) {
                    let acc = gather_block::<PB, CB>(g, rows.as_slice(), cols, step, lane0);
                    emit(a * g.out_w + b, PB, lane0, acc.as_flattened());
                }
                b += PB;
            } else {
                for lane0 in (0..g.lanes).step_by(CB) {
                    let acc = gather_block::<1, CB>(g, rows.as_slice(), cols, 0, lane0);
                    emit(a * g.out_w + b, 1, lane0, acc.as_flattened());
                }
                b += 1;
            }
        }
        emit(a * g.out_w, 0, 0, &[]);
    }
}

/// Lane block for `channels` outputs per position: 16 lanes (two AVX2 registers), or 8 for
/// narrow groups (depthwise) to waste fewer lanes.
fn lane_block(channels: usize) -> usize {
    if channels > 8 {
        16
    } else {
        8
    }
}

#[inline(always)]
fn gather_dispatch(
    g: &Gather,
    row_taps: &dyn Fn(usize) -> Taps,
    col_taps: &[Taps],
    pstep: Option<usize>,
    kw_full: usize,
    emit: &mut Emit,
) {
    if lane_block(g.lanes) == 16 {
        gather_all::<6, 16>(g, row_taps, col_taps, pstep, kw_full, emit)
    } else {
        gather_all::<8, 8>(g, row_taps, col_taps, pstep, kw_full, emit)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gather_avx2(
    g: &Gather,
    row_taps: &dyn Fn(usize) -> Taps,
    col_taps: &[Taps],
    pstep: Option<usize>,
    kw_full: usize,
    emit: &mut Emit,
) {
    gather_dispatch(g, row_taps, col_taps, pstep, kw_full, emit)
}

/// The gather on the fastest instruction set (all give the same bits: one fused multiply-add
/// per product, lanes independent).
fn gather(
    g: &Gather,
    row_taps: &dyn Fn(usize) -> Taps,
    col_taps: &[Taps],
    pstep: Option<usize>,
    kw_full: usize,
    emit: &mut Emit,
) {
    #[cfg(target_arch = "x86_64")]
    if Isa::selected() != Isa::Scalar {
        // SAFETY: `Isa::selected` only returns a vector path the CPU supports (AVX2 + FMA).
        unsafe { gather_avx2(g, row_taps, col_taps, pstep, kw_full, emit) };
        return;
    }
    gather_dispatch(g, row_taps, col_taps, pstep, kw_full, emit)
}

/// Packs `w` into `dst` as `[group][tap][lane]`, `lanes` lanes (zero past `count`), where the
/// value of (group `g`, tap `t`, lane `l`) is `w[index(g, t, l)]`.
fn pack(
    dst: &mut Vec<f32>,
    groups: usize,
    taps: usize,
    lanes: usize,
    count: usize,
    index: impl Fn(usize, usize, usize) -> usize,
    w: &[f32],
) {
    dst.clear();
    dst.resize(groups * taps * lanes + 16, 0.0);
    for g in 0..groups {
        for t in 0..taps {
            let row = &mut dst[(g * taps + t) * lanes..][..count];
            for (l, v) in row.iter_mut().enumerate() {
                *v = w[index(g, t, l)];
            }
        }
    }
}

/// Forward pass (see `mod.rs` for the order).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(
    pool: &ThreadPool,
    g: &Conv2dGeom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    pre: Option<&mut [f32]>,
    act: Activation,
) {
    let (cig, cog) = (g.cig(), g.cog());
    let taps = cig * g.kh * g.kw;
    let cb = lane_block(cog);
    let lanes = cog.div_ceil(cb) * cb;
    let (ohw, hw) = (g.oh * g.ow, g.h * g.w);
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        pack(
            &mut s.pack,
            g.groups,
            taps,
            lanes,
            cog,
            |gr, t, l| (gr * cog + l) * taps + t,
            w,
        );
        let wp: &[f32] = &s.pack;
        let y_out = SharedMut::new(y);
        let pre_out = pre.map(SharedMut::new);
        let (sh, sw) = g.stride;
        let (ph, pw) = g.pad;
        let (dh, dw) = g.dilation;
        let rows = |a: usize| forward_taps(a, g.kh, sh, ph, dh, g.h);
        let cols = taps_cache(&mut s.cols, g.ow, |b| {
            forward_taps(b, g.kw, sw, pw, dw, g.w)
        });
        pool.run(g.batch * g.groups, &|task| {
            let (n, gr) = (task / g.groups, task % g.groups);
            let base = (n * g.c_out + gr * cog) * ohw;
            // SAFETY: each task writes the disjoint block of its (image, group).
            let y = unsafe { y_out.slice(base, cog * ohw) };
            let mut pre = pre_out.map(|s| unsafe { s.slice(base, cog * ohw) });
            let gather_args = Gather {
                src: &x[(n * g.c_in + gr * cig) * hw..][..cig * hw],
                plane: hw,
                row_len: g.w,
                chans: cig,
                kh: g.kh,
                kw: g.kw,
                wp: &wp[gr * taps * lanes..],
                lanes,
                out_h: g.oh,
                out_w: g.ow,
            };
            let cb = lane_block(lanes);
            STAGE.with(|stage| {
                let stage = &mut *stage.borrow_mut();
                // `[column][lane]`: a block's positions land as contiguous lane runs (no
                // transposing scalar stores); the row epilogue reads each channel strided.
                stage.resize(g.ow * lanes, 0.0);
                let mut emit = |pos: usize, np: usize, lane0: usize, v: &[f32]| {
                    if np > 0 {
                        let col = pos % g.ow;
                        for (p, run) in v.chunks_exact(cb).take(np).enumerate() {
                            stage[(col + p) * lanes + lane0..][..cb].copy_from_slice(run);
                        }
                        return;
                    }
                    // Row complete (`pos` is its first position): z = acc + bias, then act.
                    for co in 0..cog {
                        let b = bias.map(|b| b[gr * cog + co]);
                        let z = |col: usize| {
                            let acc = stage[col * lanes + co];
                            b.map_or(acc, |b| acc + b)
                        };
                        let at = co * ohw + pos;
                        let y = &mut y[at..at + g.ow];
                        // Stores fused with the activation (a bare copy loop would become a
                        // libc memcpy call per row, measured at ~7% of a step).
                        match (pre.as_deref_mut(), act) {
                            (Some(pre), Activation::Relu) => {
                                let pre = &mut pre[at..at + g.ow];
                                for (col, (p, y)) in pre.iter_mut().zip(y.iter_mut()).enumerate() {
                                    let z = z(col);
                                    *p = z;
                                    // activation::forward's ReLU, inlined on the hot path.
                                    *y = if z > 0.0 { z } else { 0.0 };
                                }
                            }
                            (Some(pre), _) => {
                                let pre = &mut pre[at..at + g.ow];
                                for (col, (p, y)) in pre.iter_mut().zip(y.iter_mut()).enumerate() {
                                    let z = z(col);
                                    *p = z;
                                    *y = activation::forward(act, z);
                                }
                            }
                            (None, _) => {
                                for (col, y) in y.iter_mut().enumerate() {
                                    *y = activation::forward(act, z(col));
                                }
                            }
                        }
                    }
                };
                gather(&gather_args, &rows, cols, Some(sw), g.kw, &mut emit);
            });
        });
    });
}

/// Input gradient (see `mod.rs` for the order): a gather over the outputs that read each input.
pub(super) fn backward_input(
    pool: &ThreadPool,
    g: &Conv2dGeom,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
) {
    let (cig, cog) = (g.cig(), g.cog());
    let khw = g.kh * g.kw;
    let taps = cog * khw;
    let cb = lane_block(cig);
    let lanes = cig.div_ceil(cb) * cb;
    let (ohw, hw) = (g.oh * g.ow, g.h * g.w);
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        let index = |gr: usize, t: usize, l: usize| {
            let (co, k) = (t / khw, t % khw);
            ((gr * cog + co) * cig + l) * khw + k
        };
        pack(&mut s.pack, g.groups, taps, lanes, cig, index, w);
        let wp: &[f32] = &s.pack;
        let dx_out = SharedMut::new(dx);
        let (sh, sw) = g.stride;
        let (ph, pw) = g.pad;
        let (dh, dw) = g.dilation;
        let rows = |a: usize| backward_taps(a, g.kh, sh, ph, dh, g.oh);
        let cols = taps_cache(&mut s.cols, g.w, |b| {
            backward_taps(b, g.kw, sw, pw, dw, g.ow)
        });
        // Neighbouring inputs read neighbouring outputs only at unit stride.
        let pstep = (sw == 1).then_some(1);
        pool.run(g.batch * g.groups, &|task| {
            let (n, gr) = (task / g.groups, task % g.groups);
            let base = (n * g.c_in + gr * cig) * hw;
            // SAFETY: each task writes the disjoint block of its (image, group).
            let dx = unsafe { dx_out.slice(base, cig * hw) };
            let gather_args = Gather {
                src: &dy[(n * g.c_out + gr * cog) * ohw..][..cog * ohw],
                plane: ohw,
                row_len: g.ow,
                chans: cog,
                kh: g.kh,
                kw: g.kw,
                wp: &wp[gr * taps * lanes..],
                lanes,
                out_h: g.h,
                out_w: g.w,
            };
            let cb = lane_block(lanes);
            let mut emit = |pos: usize, np: usize, lane0: usize, v: &[f32]| {
                for l in 0..cb.min(cig.saturating_sub(lane0)) {
                    let d = &mut dx[(lane0 + l) * hw + pos..][..np];
                    for (p, d) in d.iter_mut().enumerate() {
                        *d = v[p * cb + l];
                    }
                }
            };
            gather(&gather_args, &rows, cols, pstep, g.kw, &mut emit);
        });
    });
}
