//! The CPU kernel of [`super::BatchedMatmul`]: one task per block of output rows (over all
//! batch entries), each output's accumulator walking `p` in increasing order.

use super::BatchedMatmul;
use crate::backend::cpu::pool::{SharedMut, ThreadPool};
use crate::ops::elementwise::activation;

/// Runs the whole batch; `c` and `pre` are dense `batch × m × n`.
pub(super) fn batched_matmul(
    pool: &ThreadPool,
    a: &BatchedMatmul,
    x: &[f32],
    y: &[f32],
    bias: Option<&[f32]>,
    c: &mut [f32],
    pre: Option<&mut [f32]>,
) {
    let rows = a.batch * a.m;
    let n = a.n;
    if rows == 0 || n == 0 {
        return;
    }
    // Below ~64k multiply-adds the synchronisation costs more than the work.
    let tasks = if rows * n * a.k.max(1) < 64 * 1024 {
        1
    } else {
        (pool.threads() * 4).min(rows)
    };
    let per = rows.div_ceil(tasks);
    let c = SharedMut::new(&mut c[..rows * n]);
    let pre = pre.map(|p| SharedMut::new(&mut p[..rows * n]));
    pool.run(tasks, &|t| {
        let r0 = t * per;
        let r1 = ((t + 1) * per).min(rows);
        for r in r0..r1 {
            // SAFETY: tasks own disjoint row ranges of `c` and `pre`, which outlive the run.
            let c_row = unsafe { c.slice(r * n, n) };
            let pre_row = pre.as_ref().map(|p| unsafe { p.slice(r * n, n) });
            row(a, x, y, bias, r / a.m, r % a.m, c_row, pre_row);
        }
    });
}

/// Output row `i` of batch entry `b`: the accumulators live in `c_row` until the epilogue.
#[allow(clippy::too_many_arguments)]
fn row(
    a: &BatchedMatmul,
    x: &[f32],
    y: &[f32],
    bias: Option<&[f32]>,
    b: usize,
    i: usize,
    c_row: &mut [f32],
    pre_row: Option<&mut [f32]>,
) {
    let (m, n, k) = (a.m, a.n, a.k);
    let xa = &x[b * a.a_stride..];
    let yb = &y[b * a.b_stride..];
    let a_at = |p: usize| {
        if a.a_trans {
            xa[p * m + i]
        } else {
            xa[i * k + p]
        }
    };
    c_row.fill(0.0);
    if a.b_trans {
        for (j, acc) in c_row.iter_mut().enumerate() {
            let col = &yb[j * k..j * k + k];
            for (p, &bv) in col.iter().enumerate() {
                *acc = a_at(p).mul_add(bv, *acc);
            }
        }
    } else {
        // Row-wise: every accumulator of the row still sees p = 0, 1, …, k-1 in order.
        for p in 0..k {
            let av = a_at(p);
            for (acc, &bv) in c_row.iter_mut().zip(&yb[p * n..p * n + n]) {
                *acc = av.mul_add(bv, *acc);
            }
        }
    }
    let bias = bias.map(|bs| &bs[b * a.bias_stride..b * a.bias_stride + n]);
    let mut pre_row = pre_row;
    for j in 0..n {
        let z = match bias {
            Some(bs) => c_row[j] + bs[j],
            None => c_row[j],
        };
        if let Some(p) = pre_row.as_deref_mut() {
            p[j] = z;
        }
        c_row[j] = activation::forward(a.act, z);
    }
}
