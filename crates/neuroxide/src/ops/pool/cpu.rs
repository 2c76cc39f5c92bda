//! CPU kernels of the pooling ops (orders in `mod.rs`). Threads split the planes
//! (image × channel); each output is computed by one thread in the defined order.

use super::{covering_range, window_range, Pool2dGeom};
use crate::backend::cpu::pool::{SharedMut, ThreadPool};
use crate::ops::reduce::chunked;

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
    per_plane(pool, g, y, ohw, &|p, y| {
        let xp = &x[p * hw..][..hw];
        // SAFETY: the same plane block as `y`, owned by this task.
        let arg = unsafe { args.slice(p * ohw, ohw) };
        for oh in 0..g.oh {
            let (i0, i1) = window_range(oh, g.kh, g.stride.0, g.pad.0, g.h);
            for ow in 0..g.ow {
                let (j0, j1) = window_range(ow, g.kw, g.stride.1, g.pad.1, g.w);
                let mut best: Option<(f32, usize)> = None;
                for i in i0..i1 {
                    let row = (oh * g.stride.0 + i - g.pad.0) * g.w;
                    for j in j0..j1 {
                        let at = row + ow * g.stride.1 + j - g.pad.1;
                        let v = xp[at];
                        best = match best {
                            Some((m, _)) if !(v > m || (v.is_nan() && !m.is_nan())) => best,
                            _ => Some((v, at)),
                        };
                    }
                }
                let (m, a) = best.map_or((0.0, -1.0), |(m, a)| (m, a as f32));
                y[oh * g.ow + ow] = m;
                arg[oh * g.ow + ow] = a;
            }
        }
    });
}

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
        for ih in 0..g.h {
            let (o0, o1) = covering_range(ih, g.kh, g.stride.0, g.pad.0, g.oh);
            for iw in 0..g.w {
                let (q0, q1) = covering_range(iw, g.kw, g.stride.1, g.pad.1, g.ow);
                let me = (ih * g.w + iw) as f32;
                let mut acc = 0.0f32;
                for oh in o0..o1 {
                    for ow in q0..q1 {
                        if ap[oh * g.ow + ow] == me {
                            acc += dyp[oh * g.ow + ow];
                        }
                    }
                }
                dx[ih * g.w + iw] = acc;
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
                let s = chunked(g.kh * g.kw, |acc, t| {
                    let (i, j) = (t / g.kw, t % g.kw);
                    if i < i0 || i >= i1 || j < j0 || j >= j1 {
                        return acc;
                    }
                    acc + xp[(oh * g.stride.0 + i - g.pad.0) * g.w + ow * g.stride.1 + j - g.pad.1]
                });
                let n = count(g, oh, ow);
                y[oh * g.ow + ow] = if n > 0.0 { s / n } else { 0.0 };
            }
        }
    });
}

pub(super) fn avg_backward(pool: &ThreadPool, g: &Pool2dGeom, dy: &[f32], dx: &mut [f32]) {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    per_plane(pool, g, dx, hw, &|p, dx| {
        let dyp = &dy[p * ohw..][..ohw];
        for ih in 0..g.h {
            let (o0, o1) = covering_range(ih, g.kh, g.stride.0, g.pad.0, g.oh);
            for iw in 0..g.w {
                let (q0, q1) = covering_range(iw, g.kw, g.stride.1, g.pad.1, g.ow);
                let mut acc = 0.0f32;
                for oh in o0..o1 {
                    for ow in q0..q1 {
                        acc += dyp[oh * g.ow + ow] / count(g, oh, ow);
                    }
                }
                dx[ih * g.w + iw] = acc;
            }
        }
    });
}
