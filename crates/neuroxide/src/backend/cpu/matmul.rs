//! Exact matmul on the CPU: `C = act(op(A)·op(B) + bias)` with one f32 accumulator per output,
//! `acc = fma(A[i,p], B[p,j], acc)` for p increasing (see `backend::Matmul`).
//!
//! PLACEHOLDER: a straightforward row-parallel loop; being replaced by the packed,
//! register-blocked SIMD kernel (same bits).

use super::activation;
use super::pool::{par_rows, ThreadPool};
use crate::backend::Activation;

/// Arguments of one exact matmul on host slices.
pub struct MatmulArgs<'a> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: &'a [f32],
    pub a_trans: bool,
    pub b: &'a [f32],
    pub b_trans: bool,
    pub bias: Option<&'a [f32]>,
    pub act: Activation,
}

/// Computes `c` (m × n) and, when given, `pre_act` (m × n, the values before the activation).
pub fn matmul(pool: &ThreadPool, args: &MatmulArgs, c: &mut [f32], pre_act: Option<&mut [f32]>) {
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
    let pre = pre_act.map(super::pool::SharedMut::new);
    par_rows(pool, c, m, n, &|r0, block| {
        for (ri, row) in block.chunks_mut(n).enumerate() {
            let i = r0 + ri;
            for (j, out) in row.iter_mut().enumerate() {
                let mut acc = 0.0f32;
                for p in 0..k {
                    let av = if a_trans { a[p * m + i] } else { a[i * k + p] };
                    let bv = if b_trans { b[j * k + p] } else { b[p * n + j] };
                    acc = av.mul_add(bv, acc);
                }
                let z = match bias {
                    Some(bias) => acc + bias[j],
                    None => acc,
                };
                if let Some(pre) = &pre {
                    // SAFETY: row i belongs to this task only.
                    unsafe { pre.slice(i * n + j, 1)[0] = z };
                }
                *out = activation::forward(act, z);
            }
        }
    });
}
