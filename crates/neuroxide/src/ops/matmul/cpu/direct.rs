//! The unpacked matmul: tiny shapes (where packing would cost more than it saves) and the
//! scalar fallback for CPUs without AVX2 + FMA.
//!
//! Reduction order, identical to the packed kernels: for every output `(i, j)`, `acc = 0`, then
//! `acc = A[i,p].mul_add(B[p,j], acc)` for `p = 0, 1, …, k−1`; `z = acc + bias[j]` (only when a
//! bias is given); `pre_act[i,j] = z`; `C[i,j] = act(z)`. With plain `B` the accumulators of one
//! row of `C` live in that row (the loop over `p` is outside the loop over `j`, which leaves each
//! output's order unchanged and lets the compiler vectorise across `j`); with transposed `B` each
//! output is a contiguous dot product. Rows are split over threads with `par_rows`; a row is
//! always computed by one task, so the thread count changes nothing.

use super::MatmulArgs;
use crate::backend::cpu::pool::{par_rows, SharedMut, ThreadPool};
use crate::ops::elementwise::activation;

/// Computes rows `r0 ..` of `C` (`block` holds whole rows) and of `pre_act`.
#[inline(always)]
fn rows(args: &MatmulArgs, r0: usize, block: &mut [f32], pre: Option<&SharedMut>) {
    let MatmulArgs {
        m,
        n,
        k,
        a,
        a_trans,
        b,
        b_trans,
        bias,
        act,
    } = *args;
    let a_at = |i: usize, p: usize| if a_trans { a[p * m + i] } else { a[i * k + p] };
    for (ri, row) in block.chunks_exact_mut(n).enumerate() {
        let i = r0 + ri;
        if b_trans {
            for (j, out) in row.iter_mut().enumerate() {
                let brow = &b[j * k..(j + 1) * k];
                let mut acc = 0.0f32;
                for (p, &bv) in brow.iter().enumerate() {
                    acc = a_at(i, p).mul_add(bv, acc);
                }
                *out = acc;
            }
        } else {
            row.fill(0.0);
            for p in 0..k {
                let av = a_at(i, p);
                let brow = &b[p * n..(p + 1) * n];
                for (o, &bv) in row.iter_mut().zip(brow) {
                    *o = av.mul_add(bv, *o);
                }
            }
        }
        // SAFETY: row i of `pre_act` belongs to this task only.
        let mut pre_row = pre.map(|p| unsafe { p.slice(i * n, n) });
        for (j, out) in row.iter_mut().enumerate() {
            let z = match bias {
                Some(bias) => *out + bias[j],
                None => *out,
            };
            if let Some(pr) = pre_row.as_deref_mut() {
                pr[j] = z;
            }
            *out = activation::forward(act, z);
        }
    }
}

/// [`rows`] compiled with AVX2 + FMA, so `mul_add` is one instruction and the row loop is
/// vectorised (across outputs only).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_fma(args: &MatmulArgs, r0: usize, block: &mut [f32], pre: Option<&SharedMut>) {
    rows(args, r0, block, pre)
}

/// The unpacked matmul over `pool`; `fma` selects the AVX2 + FMA build of the loop.
///
/// # Safety
/// When `fma` is true the CPU must support AVX2 and FMA. Slice lengths are checked by the
/// caller (`super::check`).
pub(super) unsafe fn direct(
    pool: &ThreadPool,
    args: &MatmulArgs,
    c: &mut [f32],
    pre_act: Option<&mut [f32]>,
    fma: bool,
) {
    let (m, n) = (args.m, args.n);
    let pre = pre_act.map(SharedMut::new);
    par_rows(pool, c, m, n, &|r0, block| {
        #[cfg(target_arch = "x86_64")]
        if fma {
            // SAFETY: the caller promised AVX2 + FMA when `fma`.
            unsafe { rows_fma(args, r0, block, pre.as_ref()) };
            return;
        }
        let _ = fma;
        rows(args, r0, block, pre.as_ref());
    });
}
