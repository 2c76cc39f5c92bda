//! Fused exact multi-head self-attention, forward and backward, on a packed `qkv` buffer.
//!
//! Layout: `qkv` is `[batch, seq, 3·D]` (`D = heads · head_dim`): queries in columns `0..D`,
//! keys in `D..2D`, values in `2D..3D`, head `h` at offset `h · head_dim` inside each. The
//! output is `[batch, seq, D]` (heads side by side, ready for the output projection); `probs`
//! (`[batch, heads, seq, seq]`) keeps the attention weights for the backward.
//!
//! Order (the contract, per batch `b`, head `h`, query `i`; `J(i)` = `0..=i` when causal, else
//! `0..seq`; masked keys are skipped, never added as zero terms, rule 2b):
//! ```text
//! s[j]   = (Σ_p fma(q_i[p], k_j[p], acc), p = 0..head_dim, from 0) * scale     j in J(i)
//! mx     = max_j s[j]            (j increasing, `if s > mx`, from -inf)
//! e[j]   = exp(s[j] - mx)        (crate::math::exp)
//! sum    = chunked(acc + e[j])   (rule 2a over j in J(i): a softmax row)
//! P[i,j] = e[j] / sum            (0.0 stored for masked j, never read)
//! out_i[p] = Σ_j fma(P[i,j] * M[i,j], v_j[p], acc)  (j increasing over J(i), from 0)
//! ```
//! `M` is the attention dropout's multipliers (0 or 1/(1 − rate), [`dropout`]); without
//! dropout the factor is absent (`P · 1 = P` exactly, so the bits are those of no factor).
//! Backward from `dout`:
//! ```text
//! dP[i,j] = (Σ_p fma(dout_i[p], v_j[p], acc)) * M[i,j]   (p increasing, from 0)
//! D_i     = chunked(fma(P[i,j], dP[i,j], acc))           (j in J(i), rule 2a)
//! dS[i,j] = (P[i,j] * (dP[i,j] - D_i)) * scale
//! dq_i[p] = Σ_{j in J(i)} fma(dS[i,j], k_j[p], acc)      (j increasing)
//! dk_j[p] = Σ_{i: j in J(i)} fma(dS[i,j], q_i[p], acc)   (i increasing)
//! dv_j[p] = Σ_{i: j in J(i)} fma(P[i,j] * M[i,j], dout_i[p], acc) (i increasing)
//! ```
//! Why this shape: the products with V, K and Q are matmul rows and keep the matmul's plain
//! sequential order; the two row sums of the softmax use the chunked order like every softmax.
//! Every output has one writer (the backward is a gather over `i` for dk/dv), so no atomics.
//! With a key padding mask, `J(i)` also leaves out the masked keys (skipped in the max, the
//! sums and the products; their `P` and `dS` are 0, their dk and dv are 0).
//!
//! CUDA kernels: `attention_tiled.cu` and `attention_tiled_dkv.cu` hold the tiled ones (a block
//! per (batch, head, 16 queries), or 32 keys for dk/dv, the rows it multiplies with staged in
//! shared memory, several outputs per thread each on its own accumulator in the order above),
//! used when `seq <= TILED_MAX_SEQ` and `head_dim <= TILED_MAX_HEAD_DIM` (a block keeps its
//! score rows in static shared memory); `attention.cu` holds the warp-per-row kernels, any
//! shape. Both give the same bits (`scripts/cuda-emu/run-attention.sh` checks them against each
//! other, and against a base commit's tiled kernels, without a GPU).

pub mod dropout;

use super::reduce::chunked;
use crate::backend::cpu::pool::SharedMut;
use crate::backend::cuda::{Family, KArgs, BLOCK};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};
use crate::math;
use crate::ops::matmul::cpu::Isa;
use std::cell::RefCell;

/// The CUDA source of this folder: `attention.cu` (the warp-per-row kernels, any shape, and the
/// dropout multipliers), then `attention_tiled.cu` (the tiled kernels' bounds and helpers, the
/// forward and dq) and `attention_tiled_dkv.cu` (the tiled dk/dv) in the same unit.
pub const CUDA: Family = Family::new(
    "attention.cu",
    concat!(
        include_str!("attention.cu"),
        include_str!("attention_tiled.cu"),
        include_str!("attention_tiled_dkv.cu")
    ),
);

/// Rows (queries, or keys for dk/dv) per block of the tiled kernels (`NX_ATT_TQ`).
pub const TILED_ROWS: usize = 16;
/// Longest sequence the tiled kernels take (`NX_ATT_MAX_SEQ`: a block's score rows live in
/// static shared memory); longer ones run the warp-per-row kernels.
pub const TILED_MAX_SEQ: usize = 256;
/// Largest head size the tiled kernels take (`NX_ATT_MAX_HD`).
pub const TILED_MAX_HEAD_DIM: usize = 64;
/// Threads per block of the tiled kernels (`NX_ATT_THREADS`).
pub const TILED_THREADS: u32 = 256;

/// Key rows per block of the tiled dk/dv kernel (`NX_ATT_DKV_KEYS`).
pub const TILED_DKV_ROWS: usize = 32;

/// One block per (batch, head, `rows` rows) of a tiled kernel, or `None` when `s` is past the
/// tiled bounds and the warp-per-row kernels run.
fn tiled_blocks(s: &AttentionShape, rows: usize) -> Option<u32> {
    if s.seq > TILED_MAX_SEQ || s.head_dim > TILED_MAX_HEAD_DIM {
        return None;
    }
    let blocks = (s.batch * s.heads).checked_mul(s.seq.div_ceil(rows))?;
    u32::try_from(blocks).ok()
}

/// The grid of the tiled forward and dq kernels for `s` (one block per (batch, head,
/// [`TILED_ROWS`] queries)), or `None` when `s` is past their bounds and the warp-per-row
/// kernels run.
pub fn tiled_grid(s: &AttentionShape) -> Option<u32> {
    tiled_blocks(s, TILED_ROWS)
}

/// The grid of the tiled dk/dv kernel for `s` (one block per (batch, head, [`TILED_DKV_ROWS`]
/// keys)), or `None` as [`tiled_grid`].
pub fn tiled_dkv_grid(s: &AttentionShape) -> Option<u32> {
    tiled_blocks(s, TILED_DKV_ROWS)
}

/// The shape and options shared by forward and backward.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionShape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
    /// Query `i` sees keys `0..=i` only.
    pub causal: bool,
    /// Multiplies every score (usually `1/sqrt(head_dim)`, computed on the host).
    pub scale: f32,
}

impl AttentionShape {
    /// `D = heads · head_dim`.
    pub fn model_dim(&self) -> usize {
        self.heads * self.head_dim
    }
    fn qkv_len(&self) -> usize {
        self.batch * self.seq * 3 * self.model_dim()
    }
    fn out_len(&self) -> usize {
        self.batch * self.seq * self.model_dim()
    }
    fn probs_len(&self) -> usize {
        self.batch * self.heads * self.seq * self.seq
    }
    fn keys(&self, i: usize) -> usize {
        if self.causal {
            i + 1
        } else {
            self.seq
        }
    }
    fn first_query(&self, j: usize) -> usize {
        if self.causal {
            j
        } else {
            0
        }
    }
}

/// Forward: `out` and `probs` from `qkv`.
#[derive(Clone, Copy, Debug)]
pub struct AttentionForward {
    pub shape: AttentionShape,
    pub qkv: BufId,
    pub out: BufId,
    pub probs: BufId,
    /// Key padding mask `[batch, seq]`: key `j` of sequence `b` takes part only where
    /// `mask[b, j] != 0`; masked keys are skipped like causally hidden ones. A query that sees no
    /// key gets zero weights and a zero output.
    pub key_mask: Option<BufId>,
    /// Attention dropout: multipliers `[batch, heads, seq, seq]` (0 or 1/(1 − rate)) applied to
    /// the weights before the product with V ([`dropout::attention_dropout_mask`]). `probs`
    /// keeps the weights before dropout.
    pub drop: Option<BufId>,
}

/// Backward: `dqkv` from `dout`, `qkv` and the saved `probs`.
#[derive(Clone, Copy, Debug)]
pub struct AttentionBackward {
    pub shape: AttentionShape,
    pub qkv: BufId,
    pub probs: BufId,
    pub dout: BufId,
    pub dqkv: BufId,
    /// The forward's key padding mask.
    pub key_mask: Option<BufId>,
    /// The forward's dropout multipliers.
    pub drop: Option<BufId>,
}

fn check(s: &AttentionShape) -> Result<()> {
    if s.heads == 0 || s.head_dim == 0 {
        return Err(Error::Shape(format!(
            "attention needs at least one head of at least one value, got {} head(s) of {}",
            s.heads, s.head_dim
        )));
    }
    Ok(())
}

thread_local! {
    /// Per-thread scratch of the CPU kernels (grows once, then reused: no allocation per step).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < n {
            s.resize(n, 0.0);
        }
        f(&mut s[..n])
    })
}

/// Offsets of row `t` of sequence `b` in `qkv` for head `h`: (query, key, value).
#[inline(always)]
fn qkv_at(s: &AttentionShape, b: usize, t: usize, h: usize) -> (usize, usize, usize) {
    let d = s.model_dim();
    let base = (b * s.seq + t) * 3 * d + h * s.head_dim;
    (base, base + d, base + 2 * d)
}

/// One (sequence, head) of the forward. `scratch` holds `head_dim·seq + seq + head_dim` values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn head_forward(
    s: &AttentionShape,
    b: usize,
    h: usize,
    qkv: &[f32],
    mask: Option<&[f32]>,
    drop: Option<&[f32]>,
    out: SharedMut,
    probs: SharedMut,
    scratch: &mut [f32],
) {
    let (t_len, hd, d) = (s.seq, s.head_dim, s.model_dim());
    let keep = |j: usize| mask.is_none_or(|m| m[b * t_len + j] != 0.0);
    let (kt, rest) = scratch.split_at_mut(hd * t_len);
    let (sc, acc) = rest.split_at_mut(t_len);
    for j in 0..t_len {
        let (_, k, _) = qkv_at(s, b, j, h);
        for p in 0..hd {
            kt[p * t_len + j] = qkv[k + p];
        }
    }
    let bh = b * s.heads + h;
    // SAFETY: this task owns the probabilities of (b, h).
    let probs = unsafe { probs.slice(bh * t_len * t_len, t_len * t_len) };
    for i in 0..t_len {
        let jn = s.keys(i);
        let (q, _, _) = qkv_at(s, b, i, h);
        let sc = &mut sc[..jn];
        sc.fill(0.0);
        for p in 0..hd {
            let qp = qkv[q + p];
            let row = &kt[p * t_len..p * t_len + jn];
            for (a, &k) in sc.iter_mut().zip(row) {
                *a = qp.mul_add(k, *a);
            }
        }
        let mut mx = f32::NEG_INFINITY;
        for (j, a) in sc.iter_mut().enumerate() {
            *a *= s.scale;
            if keep(j) && *a > mx {
                mx = *a;
            }
        }
        for (j, a) in sc.iter_mut().enumerate() {
            if keep(j) {
                *a = math::exp(*a - mx);
            }
        }
        let sum = chunked(jn, |acc, j| if keep(j) { acc + sc[j] } else { acc });
        let prow = &mut probs[i * t_len..(i + 1) * t_len];
        for (j, (p, &e)) in prow.iter_mut().zip(sc.iter()).enumerate() {
            *p = if keep(j) { e / sum } else { 0.0 };
        }
        prow[jn..].fill(0.0);
        let acc = &mut acc[..hd];
        acc.fill(0.0);
        for (j, &pj) in prow[..jn].iter().enumerate() {
            if !keep(j) {
                continue;
            }
            let pj = drop.map_or(pj, |m| pj * m[(bh * t_len + i) * t_len + j]);
            let (_, _, v) = qkv_at(s, b, j, h);
            for (a, &vv) in acc.iter_mut().zip(&qkv[v..v + hd]) {
                *a = pj.mul_add(vv, *a);
            }
        }
        // SAFETY: this task owns columns h*hd.. of every row of sequence b.
        let o = unsafe { out.slice((b * t_len + i) * d + h * hd, hd) };
        o.copy_from_slice(acc);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn head_forward_fma(
    s: &AttentionShape,
    b: usize,
    h: usize,
    qkv: &[f32],
    mask: Option<&[f32]>,
    drop: Option<&[f32]>,
    out: SharedMut,
    probs: SharedMut,
    scratch: &mut [f32],
) {
    head_forward(s, b, h, qkv, mask, drop, out, probs, scratch)
}

/// One (sequence, head) of the backward. `scratch` holds `head_dim·seq + seq·seq + seq +
/// head_dim` values.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn head_backward(
    s: &AttentionShape,
    b: usize,
    h: usize,
    qkv: &[f32],
    mask: Option<&[f32]>,
    drop: Option<&[f32]>,
    probs: &[f32],
    dout: &[f32],
    dqkv: SharedMut,
    scratch: &mut [f32],
) {
    let (t_len, hd, d) = (s.seq, s.head_dim, s.model_dim());
    let keep = |j: usize| mask.is_none_or(|m| m[b * t_len + j] != 0.0);
    let (vt, rest) = scratch.split_at_mut(hd * t_len);
    let (ds, rest) = rest.split_at_mut(t_len * t_len);
    let (dp, acc) = rest.split_at_mut(t_len);
    let acc = &mut acc[..hd];
    for j in 0..t_len {
        let (_, _, v) = qkv_at(s, b, j, h);
        for p in 0..hd {
            vt[p * t_len + j] = qkv[v + p];
        }
    }
    let bh = b * s.heads + h;
    let probs = &probs[bh * t_len * t_len..(bh + 1) * t_len * t_len];
    let drop = drop.map(|m| &m[bh * t_len * t_len..(bh + 1) * t_len * t_len]);
    let dout_at = |i: usize| (b * t_len + i) * d + h * hd;
    for i in 0..t_len {
        let jn = s.keys(i);
        let dp = &mut dp[..jn];
        dp.fill(0.0);
        let go = dout_at(i);
        for p in 0..hd {
            let g = dout[go + p];
            for (a, &v) in dp.iter_mut().zip(&vt[p * t_len..p * t_len + jn]) {
                *a = g.mul_add(v, *a);
            }
        }
        if let Some(m) = drop {
            for (a, &mj) in dp.iter_mut().zip(&m[i * t_len..i * t_len + jn]) {
                *a *= mj;
            }
        }
        let prow = &probs[i * t_len..i * t_len + jn];
        let dd = chunked(jn, |a, j| {
            if keep(j) {
                prow[j].mul_add(dp[j], a)
            } else {
                a
            }
        });
        let dsrow = &mut ds[i * t_len..i * t_len + jn];
        for (j, ((o, &pj), &dpj)) in dsrow.iter_mut().zip(prow).zip(dp.iter()).enumerate() {
            *o = if keep(j) {
                (pj * (dpj - dd)) * s.scale
            } else {
                0.0
            };
        }
        acc.fill(0.0);
        for (j, &g) in dsrow.iter().enumerate() {
            if !keep(j) {
                continue;
            }
            let (_, k, _) = qkv_at(s, b, j, h);
            for (a, &kv) in acc.iter_mut().zip(&qkv[k..k + hd]) {
                *a = g.mul_add(kv, *a);
            }
        }
        let (q, _, _) = qkv_at(s, b, i, h);
        // SAFETY: this task owns head h's columns of sequence b's rows.
        unsafe { dqkv.slice(q, hd) }.copy_from_slice(acc);
    }
    for j in 0..t_len {
        let (_, k, v) = qkv_at(s, b, j, h);
        // A masked key takes part in no sum: its gradients are 0.
        let queries = if keep(j) {
            s.first_query(j)..t_len
        } else {
            0..0
        };
        acc.fill(0.0);
        for i in queries.clone() {
            let g = ds[i * t_len + j];
            let (q, _, _) = qkv_at(s, b, i, h);
            for (a, &qv) in acc.iter_mut().zip(&qkv[q..q + hd]) {
                *a = g.mul_add(qv, *a);
            }
        }
        // SAFETY: as above.
        unsafe { dqkv.slice(k, hd) }.copy_from_slice(acc);
        acc.fill(0.0);
        for i in queries {
            let pij = probs[i * t_len + j];
            let pij = drop.map_or(pij, |m| pij * m[i * t_len + j]);
            let go = dout_at(i);
            for (a, &g) in acc.iter_mut().zip(&dout[go..go + hd]) {
                *a = pij.mul_add(g, *a);
            }
        }
        // SAFETY: as above.
        unsafe { dqkv.slice(v, hd) }.copy_from_slice(acc);
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn head_backward_fma(
    s: &AttentionShape,
    b: usize,
    h: usize,
    qkv: &[f32],
    mask: Option<&[f32]>,
    drop: Option<&[f32]>,
    probs: &[f32],
    dout: &[f32],
    dqkv: SharedMut,
    scratch: &mut [f32],
) {
    head_backward(s, b, h, qkv, mask, drop, probs, dout, dqkv, scratch)
}

/// Runs [`AttentionForward`].
pub fn attention_forward(backend: &mut dyn Backend, a: &AttentionForward) -> Result<()> {
    let s = a.shape;
    check(&s)?;
    let mask_len = if a.key_mask.is_some() {
        s.batch * s.seq
    } else {
        0
    };
    let drop_len = if a.drop.is_some() { s.probs_len() } else { 0 };
    let ins = [
        (a.qkv, s.qkv_len()),
        (a.key_mask.unwrap_or(a.qkv), mask_len),
        (a.drop.unwrap_or(a.qkv), drop_len),
    ];
    let outs = [(a.out, s.out_len()), (a.probs, s.probs_len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([qkv, mask, drop], [out, probs])) =
                cpu.operands("attention_forward", ins, outs)?;
            let mask = a.key_mask.map(|_| mask);
            let drop = a.drop.map(|_| drop);
            let (out, probs) = (SharedMut::new(out), SharedMut::new(probs));
            let fma = Isa::fma_selected();
            let need = s.head_dim * s.seq + s.seq + s.head_dim;
            pool.run(s.batch * s.heads, &|t| {
                let (b, h) = (t / s.heads, t % s.heads);
                with_scratch(need, |scratch| {
                    #[cfg(target_arch = "x86_64")]
                    if fma {
                        // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
                        unsafe { head_forward_fma(&s, b, h, qkv, mask, drop, out, probs, scratch) };
                        return;
                    }
                    head_forward(&s, b, h, qkv, mask, drop, out, probs, scratch);
                })
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([qkv, mask, drop], [out, probs]) =
                cuda.operands("attention_forward", ins, outs)?;
            let rows = s.batch * s.heads * s.seq;
            if rows == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .ptr(qkv)
                .ptr(mask)
                .u32(u32::from(a.key_mask.is_some()))
                .ptr(drop)
                .u32(u32::from(a.drop.is_some()))
                .ptr(out)
                .ptr(probs)
                .u64(s.batch)
                .u64(s.seq)
                .u64(s.heads)
                .u64(s.head_dim)
                .u32(u32::from(s.causal))
                .f32(s.scale);
            if let Some(grid) = tiled_grid(&s) {
                let name = "nx_attention_forward_tiled";
                return cuda.launch_op(CUDA, name, (grid, 1, 1), TILED_THREADS, args);
            }
            let grid = rows.div_ceil((BLOCK / 32) as usize) as u32;
            cuda.launch_op(CUDA, "nx_attention_forward", (grid, 1, 1), BLOCK, args)
        }
    }
}

/// Runs [`AttentionBackward`].
pub fn attention_backward(backend: &mut dyn Backend, a: &AttentionBackward) -> Result<()> {
    let s = a.shape;
    check(&s)?;
    let mask_len = if a.key_mask.is_some() {
        s.batch * s.seq
    } else {
        0
    };
    let drop_len = if a.drop.is_some() { s.probs_len() } else { 0 };
    let ins = [
        (a.qkv, s.qkv_len()),
        (a.probs, s.probs_len()),
        (a.dout, s.out_len()),
        (a.key_mask.unwrap_or(a.qkv), mask_len),
        (a.drop.unwrap_or(a.qkv), drop_len),
    ];
    let outs = [(a.dqkv, s.qkv_len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([qkv, probs, dout, mask, drop], [dqkv])) =
                cpu.operands("attention_backward", ins, outs)?;
            let mask = a.key_mask.map(|_| mask);
            let drop = a.drop.map(|_| drop);
            let dqkv = SharedMut::new(dqkv);
            let fma = Isa::fma_selected();
            let need = s.head_dim * s.seq + s.seq * s.seq + s.seq + s.head_dim;
            pool.run(s.batch * s.heads, &|t| {
                let (b, h) = (t / s.heads, t % s.heads);
                with_scratch(need, |scratch| {
                    #[cfg(target_arch = "x86_64")]
                    if fma {
                        // SAFETY: `Isa::fma_selected` checked that the CPU has AVX2 and FMA.
                        unsafe {
                            head_backward_fma(&s, b, h, qkv, mask, drop, probs, dout, dqkv, scratch)
                        };
                        return;
                    }
                    head_backward(&s, b, h, qkv, mask, drop, probs, dout, dqkv, scratch);
                })
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([qkv, probs, dout, mask, drop], [dqkv]) =
                cuda.operands("attention_backward", ins, outs)?;
            let has_mask = u32::from(a.key_mask.is_some());
            let has_drop = u32::from(a.drop.is_some());
            let rows = s.batch * s.heads * s.seq;
            if rows == 0 {
                return Ok(());
            }
            let ds = cuda.op_scratch(s.probs_len())?;
            let grid = rows.div_ceil((BLOCK / 32) as usize) as u32;
            // Both passes take the same operands; the dq pass also takes the score scale.
            let shared = || {
                KArgs::new()
                    .ptr(qkv)
                    .ptr(mask)
                    .u32(has_mask)
                    .ptr(drop)
                    .u32(has_drop)
                    .ptr(probs)
                    .ptr(dout)
                    .ptr(ds)
                    .ptr(dqkv)
                    .u64(s.batch)
                    .u64(s.seq)
                    .u64(s.heads)
                    .u64(s.head_dim)
                    .u32(u32::from(s.causal))
            };
            let dq = shared().f32(s.scale);
            if let (Some(dq_grid), Some(dkv_grid)) = (tiled_grid(&s), tiled_dkv_grid(&s)) {
                let (dq_name, dkv_name) = (
                    "nx_attention_backward_dq_tiled",
                    "nx_attention_backward_dkv_tiled",
                );
                cuda.launch_op(CUDA, dq_name, (dq_grid, 1, 1), TILED_THREADS, dq)?;
                let dkv = shared();
                return cuda.launch_op(CUDA, dkv_name, (dkv_grid, 1, 1), TILED_THREADS, dkv);
            }
            cuda.launch_op(CUDA, "nx_attention_backward_dq", (grid, 1, 1), BLOCK, dq)?;
            cuda.launch_op(
                CUDA,
                "nx_attention_backward_dkv",
                (grid, 1, 1),
                BLOCK,
                shared(),
            )
        }
    }
}
