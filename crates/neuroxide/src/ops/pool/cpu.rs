//! CPU kernels of the pooling ops (orders in `mod.rs`). Threads split the planes
//! (image × channel); each output is computed by one thread in the defined order.

use super::{window_range, Pool2dGeom};
use crate::backend::cpu::pool::{SharedMut, ThreadPool};
use crate::ops::reduce::{chunked, CHUNK};

/// Planes per task: enough work to be worth a task, few enough to balance two threads.
fn plane_tasks(g: &Pool2dGeom) -> (usize, usize) {
    let planes = g.batch * g.channels;
    let per = (16 * 1024 / (g.h * g.w).max(1)).clamp(1, planes.max(1));
    (planes.div_ceil(per), per)
}

/// Runs `f(plane, out_block)` for every plane, `out_len` values of `out` per plane.
fn per_plane(
    pool: &ThreadPool,
    g: &Pool2dGeom,
    out: &mut [f32],
    out_len: usize,
    f: &(dyn Fn(usize, &mut [f32]) + Sync),
) {
    let planes = g.batch * g.channels;
    let (tasks, per) = plane_tasks(g);
    let shared = SharedMut::new(out);
    pool.run(tasks, &|t| {
        for p in t * per..((t + 1) * per).min(planes) {
            // SAFETY: each plane's block is written by one task only.
            f(p, unsafe { shared.slice(p * out_len, out_len) });
        }
    });
}

pub(super) fn max_forward(
    pool: &ThreadPool,
    g: &Pool2dGeom,
    x: &[f32],
    y: &mut [f32],
    arg: &mut [f32],
) {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let args = SharedMut::new(arg);
    // Without padding and with every window inside the input, the valid taps are all taps.
    let inside = g.pad == (0, 0)
        && (g.oh - 1) * g.stride.0 + g.kh <= g.h
        && (g.ow - 1) * g.stride.1 + g.kw <= g.w;
    per_plane(pool, g, y, ohw, &|p, y| {
        let xp = &x[p * hw..][..hw];
        // SAFETY: the same plane block as `y`, owned by this task.
        let arg = unsafe { args.slice(p * ohw, ohw) };
        if inside && (g.kh, g.kw, g.stride.0, g.stride.1) == (2, 2, 2, 2) {
            max_forward_2x2(g, xp, y, arg);
            return;
        }
        if inside {
            max_forward_inside(g, xp, y, arg);
            return;
        }
        for oh in 0..g.oh {
            let (i0, i1) = window_range(oh, g.kh, g.stride.0, g.pad.0, g.h);
            for ow in 0..g.ow {
                let (j0, j1) = window_range(ow, g.kw, g.stride.1, g.pad.1, g.w);
                let o = oh * g.ow + ow;
                if i0 == i1 || j0 == j1 {
                    (y[o], arg[o]) = (0.0, -1.0);
                    continue;
                }
                // Input column of the first valid tap (never below 0: `window_range`).
                let col0 = ow * g.stride.1 + j0 - g.pad.1;
                let first = (oh * g.stride.0 + i0 - g.pad.0) * g.w + col0;
                // The first valid tap seeds (m, a); visiting it again below changes nothing.
                let (mut m, mut a) = (xp[first], first);
                for i in i0..i1 {
                    let row = (oh * g.stride.0 + i - g.pad.0) * g.w + col0;
                    for (j, &v) in xp[row..row + (j1 - j0)].iter().enumerate() {
                        (m, a) = max_step(m, a, v, row + j);
                    }
                }
                (y[o], arg[o]) = (m, a as f32);
            }
        }
    });
}

/// One step of the max rule of `mod.rs`: `v` replaces `(m, a)` when `v > m`, or when `v` is NaN
/// and `m` is not. Written without short-circuits so it compiles to selects, not to a branch
/// that mispredicts on every other pixel.
#[inline(always)]
fn max_step(m: f32, a: usize, v: f32, at: usize) -> (f32, usize) {
    let take = (v > m) | (v.is_nan() & !m.is_nan());
    (if take { v } else { m }, if take { at } else { a })
}

/// [`max_forward`] of one plane for 2×2 windows at stride 2, all inside the input: taps
/// (0,0), (0,1), (1,0), (1,1) in that order, written over whole rows so the compiler vectorises
/// across outputs (indices fit in i32: planes are below 2^24 values).
fn max_forward_2x2(g: &Pool2dGeom, xp: &[f32], y: &mut [f32], arg: &mut [f32]) {
    let ow_n = g.ow;
    for oh in 0..g.oh {
        let r0 = 2 * oh * g.w;
        let r1 = r0 + g.w;
        let (x0, x1) = (&xp[r0..r0 + 2 * ow_n], &xp[r1..r1 + 2 * ow_n]);
        let yr = &mut y[oh * ow_n..][..ow_n];
        let ar = &mut arg[oh * ow_n..][..ow_n];
        for ow in 0..ow_n {
            let c = 2 * ow;
            let (mut m, mut a) = (x0[c], (r0 + c) as i32);
            (m, a) = max_step_i(m, a, x0[c + 1], (r0 + c + 1) as i32);
            (m, a) = max_step_i(m, a, x1[c], (r1 + c) as i32);
            (m, a) = max_step_i(m, a, x1[c + 1], (r1 + c + 1) as i32);
            yr[ow] = m;
            ar[ow] = a as f32;
        }
    }
}

#[inline(always)]
fn max_step_i(m: f32, a: i32, v: f32, at: i32) -> (f32, i32) {
    let take = (v > m) | (v.is_nan() & !m.is_nan());
    (if take { v } else { m }, if take { at } else { a })
}

/// [`max_forward`] of one plane whose windows all lie inside the input (same order).
fn max_forward_inside(g: &Pool2dGeom, xp: &[f32], y: &mut [f32], arg: &mut [f32]) {
    let (kh, kw) = (g.kh, g.kw);
    for oh in 0..g.oh {
        for ow in 0..g.ow {
            let first = oh * g.stride.0 * g.w + ow * g.stride.1;
            let (mut m, mut a) = (xp[first], first);
            for i in 0..kh {
                let row = first + i * g.w;
                for (j, &v) in xp[row..row + kw].iter().enumerate() {
                    (m, a) = max_step(m, a, v, row + j);
                }
            }
            let o = oh * g.ow + ow;
            (y[o], arg[o]) = (m, a as f32);
        }
    }
}

/// Max-pool backward. Written as an ordered scatter per plane, which performs exactly the
/// gather of `mod.rs`: one task owns the plane, `dx` starts at 0, and the windows are visited in
/// increasing `(oh, ow)`, so each `dx` element receives its contributions in that order.
pub(super) fn max_backward(
    pool: &ThreadPool,
    g: &Pool2dGeom,
    dy: &[f32],
    arg: &[f32],
    dx: &mut [f32],
) {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    per_plane(pool, g, dx, hw, &|p, dx| {
        let (dyp, ap) = (&dy[p * ohw..][..ohw], &arg[p * ohw..][..ohw]);
        dx.fill(0.0);
        for (&a, &d) in ap.iter().zip(dyp) {
            // Only a whole, in-plane index can be an argmax (the gather matches nothing else).
            // (`as usize` saturates, so the round trip also rejects NaN and huge values.)
            if a >= 0.0 && (a as usize) as f32 == a {
                if let Some(t) = dx.get_mut(a as usize) {
                    *t += d;
                }
            }
        }
    });
}

/// Number of valid taps of window `(oh, ow)`, as the divisor of the average.
fn count(g: &Pool2dGeom, oh: usize, ow: usize) -> f32 {
    let (i0, i1) = window_range(oh, g.kh, g.stride.0, g.pad.0, g.h);
    let (j0, j1) = window_range(ow, g.kw, g.stride.1, g.pad.1, g.w);
    ((i1 - i0) * (j1 - j0)) as f32
}

pub(super) fn avg_forward(pool: &ThreadPool, g: &Pool2dGeom, x: &[f32], y: &mut [f32]) {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    per_plane(pool, g, y, ohw, &|p, y| {
        let xp = &x[p * hw..][..hw];
        for oh in 0..g.oh {
            let (i0, i1) = window_range(oh, g.kh, g.stride.0, g.pad.0, g.h);
            for ow in 0..g.ow {
                let (j0, j1) = window_range(ow, g.kw, g.stride.1, g.pad.1, g.w);
                let at = |i: usize, j: usize| {
                    (oh * g.stride.0 + i - g.pad.0) * g.w + ow * g.stride.1 + j - g.pad.1
                };
                let s = if g.kh * g.kw <= CHUNK {
                    // One chunk: the plain sequential sum of the valid taps.
                    let mut acc = 0.0f32;
                    for i in i0..i1 {
                        for j in j0..j1 {
                            acc += xp[at(i, j)];
                        }
                    }
                    acc
                } else {
                    chunked(g.kh * g.kw, |acc, t| {
                        let (i, j) = (t / g.kw, t % g.kw);
                        if i < i0 || i >= i1 || j < j0 || j >= j1 {
                            return acc;
                        }
                        acc + xp[at(i, j)]
                    })
                };
                let n = count(g, oh, ow);
                y[oh * g.ow + ow] = if n > 0.0 { s / n } else { 0.0 };
            }
        }
    });
}

/// Average-pool backward, as an ordered scatter per plane that performs exactly the gather of
/// `mod.rs` (see [`max_backward`]).
pub(super) fn avg_backward(pool: &ThreadPool, g: &Pool2dGeom, dy: &[f32], dx: &mut [f32]) {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    per_plane(pool, g, dx, hw, &|p, dx| {
        let dyp = &dy[p * ohw..][..ohw];
        dx.fill(0.0);
        for oh in 0..g.oh {
            let (i0, i1) = window_range(oh, g.kh, g.stride.0, g.pad.0, g.h);
            for ow in 0..g.ow {
                let (j0, j1) = window_range(ow, g.kw, g.stride.1, g.pad.1, g.w);
                let v = dyp[oh * g.ow + ow] / count(g, oh, ow);
                if j0 == j1 {
                    continue;
                }
                let col0 = ow * g.stride.1 + j0 - g.pad.1;
                for i in i0..i1 {
                    let row = (oh * g.stride.0 + i - g.pad.0) * g.w + col0;
                    for t in &mut dx[row..row + (j1 - j0)] {
                        *t += v;
                    }
                }
            }
        }
    });
}
