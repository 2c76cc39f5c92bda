//! Elementwise kernels on host slices. No reductions: each output depends on one index only.

use super::activation;
use crate::backend::cpu::pool::{par_rows, ThreadPool};
use crate::backend::Activation;
use crate::ops::matmul::cpu::Isa;

/// Parallel map over one output slice: `out[i] = f(i)`.
fn par_map(pool: &ThreadPool, out: &mut [f32], f: &(dyn Fn(usize) -> f32 + Sync)) {
    let n = out.len();
    par_rows(pool, out, n, 1, &|r0, block| {
        for (d, o) in block.iter_mut().enumerate() {
            *o = f(r0 + d);
        }
    });
}

#[inline(always)]
fn forward_loop(act: Activation, x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = activation::forward(act, v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_loop_fma(act: Activation, x: &[f32], y: &mut [f32]) {
    forward_loop(act, x, y)
}

#[inline(always)]
fn backward_loop(act: Activation, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let mut start = 0;
    if act == Activation::GeluTanh {
        // Blocks of 64 through `math::tanh_lane` (branch-free, vectorisable), the same formula as
        // `activation::backward`, so the same bits.
        use activation::{GELU_C, GELU_K};
        const B: usize = 64;
        let mut t = [0.0f32; B];
        for (c, o) in dx.chunks_exact_mut(B).enumerate() {
            let xs = &x[c * B..c * B + B];
            let dys = &dy[c * B..c * B + B];
            for (tl, &xv) in t.iter_mut().zip(xs) {
                *tl = crate::math::tanh_lane(GELU_K * (xv + GELU_C * ((xv * xv) * xv)));
            }
            for l in 0..B {
                let (xv, tv) = (xs[l], t[l]);
                let du = GELU_K * (1.0 + (3.0 * GELU_C) * (xv * xv));
                o[l] = dys[l] * (0.5 * (1.0 + tv) + (0.5 * xv) * ((1.0 - tv * tv) * du));
            }
        }
        start = dx.len() / B * B;
    }
    if act == Activation::Relu {
        // `activation::backward`'s ReLU as a select over zipped slices (no bounds checks, no
        // match per element), which vectorises to a compare and a blend. Same bits.
        for ((o, &xv), &d) in dx.iter_mut().zip(x).zip(dy) {
            *o = if xv > 0.0 { d } else { 0.0 };
        }
        return;
    }
    for (i, o) in dx.iter_mut().enumerate().skip(start) {
        *o = activation::backward(act, x[i], y[i], dy[i]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_loop_fma(act: Activation, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    backward_loop(act, x, y, dy, dx)
}

/// `y = act(x)`.
pub fn activation_forward(pool: &ThreadPool, act: Activation, x: &[f32], y: &mut [f32]) {
    let n = y.len();
    let fma = Isa::fma_selected();
    par_rows(pool, y, n, 1, &|r0, block| {
        let xs = &x[r0..r0 + block.len()];
        #[cfg(target_arch = "x86_64")]
        if fma {
            // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
            unsafe { forward_loop_fma(act, xs, block) };
            return;
        }
        let _ = fma;
        forward_loop(act, xs, block);
    });
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
    let n = dx.len();
    let fma = Isa::fma_selected();
    par_rows(pool, dx, n, 1, &|r0, block| {
        let r1 = r0 + block.len();
        let (xs, ys, dys) = (&x[r0..r1], &y[r0..r1], &dy[r0..r1]);
        #[cfg(target_arch = "x86_64")]
        if fma {
            // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
            unsafe { backward_loop_fma(act, xs, ys, dys, block) };
            return;
        }
        let _ = fma;
        backward_loop(act, xs, ys, dys, block);
    });
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

/// `avg = keep * avg + take * x` (two multiplies and an add; Rust never fuses them).
pub fn moving_average(avg: &mut [f32], x: &[f32], keep: f32, take: f32) {
    for (a, v) in avg.iter_mut().zip(x) {
        *a = keep * *a + take * *v;
    }
}

/// `out = a * b`.
pub fn mul(pool: &ThreadPool, a: &[f32], b: &[f32], out: &mut [f32]) {
    par_map(pool, out, &|i| a[i] * b[i]);
}
