//! One task of the packed matmul: a block of output tiles, walked k-block by k-block, with the
//! epilogue applied once per output after its last k-block.
//!
//! Loop order inside a task (cache blocking): k-blocks of `kc` outside, then column panels
//! (`NR` wide; a `kc × NR` B micro-panel stays in L1), then row panels (`MR` high; the task's
//! `mc × kc` A block stays in L2). Outputs are independent, so this order changes no result:
//! each output still receives its products for `p = 0, 1, …, k−1` in order, its accumulator
//! carried from one k-block to the next through the f32 stored in `C` (full tiles) or in a
//! stack tile (edge tiles).

use super::kernel::{micro, Epilogue};
use super::pack;
use super::simd::Simd;
use crate::backend::Activation;
use crate::ops::elementwise::activation;

/// Largest `MR · NR` of any instruction set (AVX-512: 12 × 32).
pub(super) const TILE_MAX: usize = 12 * 32;

/// Everything a task needs; raw pointers because tasks write disjoint 2-D blocks of `c`/`pre`.
pub(super) struct Ctx {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// Packed A: row panel `ip` at `a[ip·k·MR ..]` (see `pack::pack_a`). When `a_direct`, only
    /// a partial last panel is packed; full panels are read in place from `a_src`.
    pub a: *const f32,
    /// Packed B: column panel `jp` at `b[jp·k·NR ..]` (see `pack::pack_b`); with `b_jit`, task
    /// `t`'s buffer of `kc × NR` values at `b[t·kc·NR ..]`, refilled per micro-panel.
    pub b: *mut f32,
    /// The caller's A, and whether its full row panels are read in place: a transposed A
    /// (`k × m`) holds `A[i..i+MR, p]` contiguously at `a_src[p·m + i]`, exactly the packed
    /// layout with another stride. (A plain B could be read in place the same way, but its
    /// row stride `n` is often a power of two, whose cache-set conflicts cost more than packing.)
    pub a_src: *const f32,
    pub a_direct: bool,
    /// The caller's B (`k × n`, or `n × k` when `b_trans`), packed by the task itself when
    /// `b_jit` (only when there is one row block, so each micro-panel is packed once).
    pub b_src: *const [f32],
    pub b_trans: bool,
    pub b_jit: bool,
    /// `C`, `m × n` row-major.
    pub c: *mut f32,
    /// Pre-activation output (`m × n`) or null.
    pub pre: *mut f32,
    /// `bias` (length `n`) or null.
    pub bias: *const f32,
    pub act: Activation,
    /// k-block length.
    pub kc: usize,
    /// Number of task blocks along m and along n; block `rb` holds row panels
    /// `[rb·pa/row_blocks, (rb+1)·pa/row_blocks)`, likewise for columns.
    pub row_blocks: usize,
    pub col_blocks: usize,
}

// SAFETY: tasks read the shared inputs and write disjoint output blocks (see `compute_task`).
unsafe impl Sync for Ctx {}

/// Runs task `t = rb·col_blocks + cb`: the outputs of row block `rb` × column block `cb`.
///
/// # Safety
/// The CPU must support `S`; `ctx` must describe valid buffers (packed with this `MR`, `NR`);
/// no two concurrent calls may use the same `t`.
#[inline(always)]
pub(super) unsafe fn compute_task<S: Simd, const MR: usize, const NV: usize>(ctx: &Ctx, t: usize) {
    let nr = NV * S::LANES;
    let (m, n, k) = (ctx.m, ctx.n, ctx.k);
    let (pa, pb) = (m.div_ceil(MR), n.div_ceil(nr));
    let (rb, cb) = (t / ctx.col_blocks, t % ctx.col_blocks);
    let (ip0, ip1) = (rb * pa / ctx.row_blocks, (rb + 1) * pa / ctx.row_blocks);
    let (jp0, jp1) = (cb * pb / ctx.col_blocks, (cb + 1) * pb / ctx.col_blocks);
    let relu = matches!(ctx.act, Activation::Relu);
    let scalar_act = !matches!(ctx.act, Activation::Linear | Activation::Relu);
    let mut tile = [0.0f32; TILE_MAX];
    let tp = tile.as_mut_ptr();
    let mut pc = 0;
    while pc < k {
        let kb = ctx.kc.min(k - pc);
        let first = pc == 0;
        let last = pc + kb == k;
        for jp in jp0..jp1 {
            let j = jp * nr;
            let cols = nr.min(n - j);
            // SAFETY (whole loop body): offsets stay inside the packed panels and inside the
            // task's own block of `c` / `pre`, per the caller's contract.
            unsafe {
                let bp = if ctx.b_jit {
                    let buf = ctx.b.add(t * ctx.kc * nr);
                    let dst = std::slice::from_raw_parts_mut(buf, kb * nr);
                    // The kernels that call this run on AVX2 or AVX-512 CPUs: AVX2 is there.
                    pack::pack_b(&*ctx.b_src, n, k, ctx.b_trans, jp, nr, pc, dst, true);
                    buf as *const f32
                } else {
                    ctx.b.add(jp * k * nr + pc * nr)
                };
                let ldb = nr;
                for ip in ip0..ip1 {
                    let i = ip * MR;
                    let rows = MR.min(m - i);
                    let (ap, lda) = if ctx.a_direct && rows == MR {
                        (ctx.a_src.add(pc * m + i), m)
                    } else {
                        (ctx.a.add(ip * k * MR + pc * MR), MR)
                    };
                    let cp = ctx.c.add(i * n + j);
                    if rows == MR && cols == nr {
                        let epi = if last {
                            Epilogue {
                                last: true,
                                bias: if ctx.bias.is_null() {
                                    ctx.bias
                                } else {
                                    ctx.bias.add(j)
                                },
                                pre: if ctx.pre.is_null() {
                                    ctx.pre
                                } else {
                                    ctx.pre.add(i * n + j)
                                },
                                relu,
                            }
                        } else {
                            Epilogue::RAW
                        };
                        micro::<S, MR, NV>(kb, ap, lda, bp, ldb, cp, n, !first, epi);
                        if last && scalar_act {
                            for r in 0..MR {
                                let row = std::slice::from_raw_parts_mut(cp.add(r * n), nr);
                                for x in row {
                                    *x = activation::forward(ctx.act, *x);
                                }
                            }
                        }
                    } else {
                        // Edge tile: run the full-size kernel on a stack tile; only the
                        // `rows × cols` real outputs are copied in and out.
                        if !first {
                            for r in 0..rows {
                                std::ptr::copy_nonoverlapping(cp.add(r * n), tp.add(r * nr), cols);
                            }
                        }
                        micro::<S, MR, NV>(kb, ap, lda, bp, ldb, tp, nr, !first, Epilogue::RAW);
                        if last {
                            for r in 0..rows {
                                for cc in 0..cols {
                                    let acc = *tp.add(r * nr + cc);
                                    let z = if ctx.bias.is_null() {
                                        acc
                                    } else {
                                        acc + *ctx.bias.add(j + cc)
                                    };
                                    let o = (i + r) * n + j + cc;
                                    if !ctx.pre.is_null() {
                                        *ctx.pre.add(o) = z;
                                    }
                                    *ctx.c.add(o) = activation::forward(ctx.act, z);
                                }
                            }
                        } else {
                            for r in 0..rows {
                                std::ptr::copy_nonoverlapping(tp.add(r * nr), cp.add(r * n), cols);
                            }
                        }
                    }
                }
            }
        }
        pc += kb;
    }
}
