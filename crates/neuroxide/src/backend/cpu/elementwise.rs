//! Elementwise kernels on host slices. No reductions: each output depends on one index only.

use super::activation;
use super::pool::{par_rows, ThreadPool};
use crate::backend::Activation;
use crate::philox::{philox4x32_10, uniform01};

/// Parallel map over one output slice: `out[i] = f(i)`.
fn par_map(pool: &ThreadPool, out: &mut [f32], f: &(dyn Fn(usize) -> f32 + Sync)) {
    let n = out.len();
    par_rows(pool, out, n, 1, &|r0, block| {
        for (d, o) in block.iter_mut().enumerate() {
            *o = f(r0 + d);
        }
    });
}

/// `y = act(x)`.
pub fn activation_forward(pool: &ThreadPool, act: Activation, x: &[f32], y: &mut [f32]) {
    par_map(pool, y, &|i| activation::forward(act, x[i]));
}

/// `dx = dy * act'(x, y)`.
pub fn activation_backward(
    pool: &ThreadPool,
    act: Activation,
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    if act == Activation::Relu {
        // The same formula as `activation::backward` (`x > 0 ? dy : 0`), as a loop over a block
        // the compiler vectorises instead of one indirect call per value (conv layers run this
        // on every activation).
        let n = dx.len();
        par_rows(pool, dx, n, 1, &|r0, block| {
            let (x, dy) = (&x[r0..r0 + block.len()], &dy[r0..r0 + block.len()]);
            for ((o, &x), &d) in block.iter_mut().zip(x).zip(dy) {
                *o = if x > 0.0 { d } else { 0.0 };
            }
        });
        return;
    }
    par_map(pool, dx, &|i| activation::backward(act, x[i], y[i], dy[i]));
}

/// `out = a + b`.
pub fn add(pool: &ThreadPool, a: &[f32], b: &[f32], out: &mut [f32]) {
    par_map(pool, out, &|i| a[i] + b[i]);
}

/// `acc += x`.
pub fn add_assign(acc: &mut [f32], x: &[f32]) {
    for (a, v) in acc.iter_mut().zip(x) {
        *a += *v;
    }
}

/// `out = a * b`.
pub fn mul(pool: &ThreadPool, a: &[f32], b: &[f32], out: &mut [f32]) {
    par_map(pool, out, &|i| a[i] * b[i]);
}

/// The keep/drop draw for element `i` (see `Backend::dropout_forward`).
#[inline]
pub fn dropout_keep(i: usize, p: f32, seed: u64, stream: u32, step: u32) -> bool {
    let block = (i / 4) as u64;
    let words = philox4x32_10(
        [block as u32, (block >> 32) as u32, stream, step],
        [seed as u32, (seed >> 32) as u32],
    );
    uniform01(words[i % 4]) >= p
}

/// Inverted dropout: writes the mask (`scale` or 0) and `y = x * mask`.
#[allow(clippy::too_many_arguments)]
pub fn dropout_forward(
    x: &[f32],
    y: &mut [f32],
    mask: &mut [f32],
    p: f32,
    scale: f32,
    seed: u64,
    stream: u32,
    step: u32,
) {
    for i in 0..y.len() {
        let m = if dropout_keep(i, p, seed, stream, step) {
            scale
        } else {
            0.0
        };
        mask[i] = m;
        y[i] = x[i] * m;
    }
}
