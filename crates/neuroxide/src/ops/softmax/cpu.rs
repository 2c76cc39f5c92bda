//! Row-wise softmax and log-softmax, forward and backward (formulas and reduction orders in
//! `ops::softmax`).

use crate::backend::cpu::pool::{par_rows, ThreadPool};
use crate::math;

/// Per row: max (j increasing), then `s = Σ exp(x - max)` (j increasing, from 0).
/// Returns `(max, s)`.
#[inline(always)]
pub fn row_max_sum(x: &[f32]) -> (f32, f32) {
    let mut mx = f32::NEG_INFINITY;
    for &v in x {
        if v > mx {
            mx = v;
        }
    }
    let mut s = 0.0f32;
    for &v in x {
        s += math::exp(v - mx);
    }
    (mx, s)
}

/// Softmax (or log-softmax) of each row of `x` into `y`.
pub fn forward(pool: &ThreadPool, log: bool, x: &[f32], y: &mut [f32], rows: usize, cols: usize) {
    par_rows(pool, y, rows, cols, &|r0, block| {
        for (ri, yr) in block.chunks_mut(cols).enumerate() {
            let xr = &x[(r0 + ri) * cols..(r0 + ri + 1) * cols];
            let (mx, s) = row_max_sum(xr);
            if log {
                let ls = math::log(s);
                for (o, &v) in yr.iter_mut().zip(xr) {
                    *o = (v - mx) - ls;
                }
            } else {
                for (o, &v) in yr.iter_mut().zip(xr) {
                    *o = math::exp(v - mx) / s;
                }
            }
        }
    });
}

/// Backward from the output `y`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    pool: &ThreadPool,
    log: bool,
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    rows: usize,
    cols: usize,
) {
    par_rows(pool, dx, rows, cols, &|r0, block| {
        for (ri, dxr) in block.chunks_mut(cols).enumerate() {
            let range = (r0 + ri) * cols..(r0 + ri + 1) * cols;
            let (yr, dyr) = (&y[range.clone()], &dy[range]);
            if log {
                let mut d = 0.0f32;
                for &g in dyr {
                    d += g;
                }
                for j in 0..cols {
                    dxr[j] = dyr[j] - math::exp(yr[j]) * d;
                }
            } else {
                let mut d = 0.0f32;
                for j in 0..cols {
                    d = dyr[j].mul_add(yr[j], d);
                }
                for j in 0..cols {
                    dxr[j] = yr[j] * (dyr[j] - d);
                }
            }
        }
    });
}
