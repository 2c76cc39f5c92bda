//! Rotary position embedding (RoPE) on the queries and keys of a packed `qkv` buffer, in place,
//! and its backward (the rotation by −θ).
//!
//! Layout: `qkv` is `[batch, seq, 3·D]` as in `ops::attention` (queries in columns `0..D`, keys
//! in `D..2D`, values untouched), `D = heads · head_dim`, `head_dim` even, `half = head_dim/2`.
//! Pairs are the two halves of each head ("rotate half", GPT-NeoX/LLaMA): element `i` and
//! element `i + half` of a head at position `t` turn by the angle `t·θ_i`,
//! `θ_i = base^(−2i/head_dim)`.
//!
//! The angle table (`[2, seq, half]`: all cosines, then all sines) is computed once on the host
//! in f64 with `math::host` (PARITY.md rule 8a) and rounded to f32 ([`rope_table`]); both
//! backends read the same uploaded bits ([`crate::backend::Backend::constant_table`]).
//!
//! Arithmetic (the contract; `rope.cu` follows it; no reduction), with `c = cos[t, i]`,
//! `s = sin[t, i]`, `a = x[i]`, `b = x[i + half]`:
//! ```text
//! forward (rotate by +θ):  a' = fma(a, c, -(b * s))     b' = fma(a, s, b * c)
//! inverse (rotate by −θ):  a' = fma(a, c, b * s)        b' = fma(b, c, -(a * s))
//! ```
//! The inverse is the backward: the rotation is orthogonal, so `dx = Rᵀ·dy = R(−θ)·dy`.

use crate::backend::cpu::pool::par_rows;
use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};
use crate::math::host;

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/rope/rope.cu", include_str!("rope.cu"));

/// Rotates the queries and keys of `qkv` in place.
#[derive(Clone, Copy, Debug)]
pub struct Rope {
    /// `[batch, seq, 3·heads·head_dim]`, rotated in place.
    pub qkv: BufId,
    /// [`rope_table`]`(seq, head_dim, base)`, uploaded.
    pub table: BufId,
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
    /// Rotate by −θ (the backward, applied to `dqkv`) instead of +θ.
    pub inverse: bool,
}

/// The key of [`rope_table`]'s values in [`Backend::constant_table`].
pub fn rope_table_key(seq: usize, head_dim: usize, base: f32) -> String {
    format!(
        "rope/seq={seq}/head_dim={head_dim}/base={:08x}",
        base.to_bits()
    )
}

/// `[2, seq, half]`: `cos(t·θ_i)` for every position `t` and pair `i`, then the sines, with
/// `θ_i = base^(−2i/head_dim)`; each computed in f64 by `math::host` and rounded once to f32.
pub fn rope_table(seq: usize, head_dim: usize, base: f32) -> Vec<f32> {
    let half = head_dim / 2;
    let mut table = vec![0.0f32; 2 * seq * half];
    let (cos, sin) = table.split_at_mut(seq * half);
    for i in 0..half {
        let theta = host::powf(f64::from(base), -((2 * i) as f64) / head_dim as f64);
        for t in 0..seq {
            let angle = t as f64 * theta;
            cos[t * half + i] = host::cos(angle) as f32;
            sin[t * half + i] = host::sin(angle) as f32;
        }
    }
    table
}

fn check_head_dim(head_dim: usize) -> Result<()> {
    if head_dim == 0 || !head_dim.is_multiple_of(2) {
        return Err(Error::Shape(format!(
            "RoPE rotates pairs of values: the head dimension must be even, got {head_dim}"
        )));
    }
    Ok(())
}

/// Checks that RoPE can run on heads of `head_dim` values with `base` (an error names both).
pub fn check_rope(head_dim: usize, base: f32) -> Result<()> {
    check_head_dim(head_dim)?;
    if !(base.is_finite() && base > 1.0) {
        return Err(Error::Shape(format!(
            "RoPE's base must be a finite number above 1, got {base}"
        )));
    }
    Ok(())
}

/// One pair turned by (c, s), forward or inverse, in the contract's order.
#[inline(always)]
fn rotate(a: f32, b: f32, c: f32, s: f32, inverse: bool) -> (f32, f32) {
    if inverse {
        (a.mul_add(c, b * s), b.mul_add(c, -(a * s)))
    } else {
        (a.mul_add(c, -(b * s)), a.mul_add(s, b * c))
    }
}

/// Runs [`Rope`].
pub fn rope_rotate(backend: &mut dyn Backend, r: &Rope) -> Result<()> {
    let (hd, seq) = (r.head_dim, r.seq);
    check_head_dim(hd)?;
    let half = hd / 2;
    let d = r.heads * hd;
    let rows = r.batch * seq;
    let ins = [(r.table, 2 * seq * half)];
    let outs = [(r.qkv, rows * 3 * d)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([table], [qkv])) = cpu.operands("rope", ins, outs)?;
            let (cos, sin) = table.split_at(seq * half);
            let inverse = r.inverse;
            par_rows(pool, qkv, rows, 3 * d, &|r0, block| {
                for (k, row) in block.chunks_mut(3 * d).enumerate() {
                    let t = (r0 + k) % seq;
                    let (c, s) = (&cos[t * half..][..half], &sin[t * half..][..half]);
                    // Queries and keys: 2·heads heads of hd values each.
                    for head in row[..2 * d].chunks_mut(hd) {
                        let (lo, hi) = head.split_at_mut(half);
                        for i in 0..half {
                            (lo[i], hi[i]) = rotate(lo[i], hi[i], c[i], s[i], inverse);
                        }
                    }
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([table], [qkv]) = cuda.operands("rope", ins, outs)?;
            let pairs = rows * 2 * r.heads * half;
            if pairs == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .ptr(qkv)
                .ptr(table)
                .u64(rows)
                .u64(seq)
                .u64(r.heads)
                .u64(hd)
                .u32(u32::from(r.inverse));
            cuda.launch_op_1d(CUDA, "nx_rope", pairs, args)
        }
    }
}
