//! Packing of A and B into micro-panels, the layout the micro-kernel streams through.
//!
//! Why pack: the micro-kernel then reads both operands contiguously whatever their storage
//! (plain or transposed), with no cache-set conflicts from large row strides, and edge panels
//! are padded to full width. Padding is zeros in rows of A past `m` and columns of B past `n`:
//! they only feed accumulator lanes whose outputs do not exist and are never stored, so no real
//! output changes (its products and their order are untouched). Packing copies values, it does
//! no arithmetic.

/// Packs row panel `ip` of `op(A)` (`m × k`): `dst[p·mr + i] = A[ip·mr + i, p]`, zero for rows
/// past `m`. `a` is stored `m × k`, or `k × m` when `a_trans`. `dst.len()` must be `k·mr`.
pub(super) fn pack_a(
    a: &[f32],
    m: usize,
    k: usize,
    a_trans: bool,
    ip: usize,
    mr: usize,
    dst: &mut [f32],
) {
    let i0 = ip * mr;
    let rows = mr.min(m - i0);
    if a_trans {
        for (p, d) in dst.chunks_exact_mut(mr).enumerate() {
            let src = &a[p * m + i0..p * m + i0 + rows];
            d[..rows].copy_from_slice(src);
            d[rows..].fill(0.0);
        }
    } else {
        let block = &a[i0 * k..(i0 + rows) * k];
        for (p, d) in dst.chunks_exact_mut(mr).enumerate() {
            for (i, x) in d[..rows].iter_mut().enumerate() {
                *x = block[i * k + p];
            }
            d[rows..].fill(0.0);
        }
    }
}

/// Packs column panel `jp` of `op(B)` (`k × n`): `dst[p·nr + j] = B[p, jp·nr + j]`, zero for
/// columns past `n`. `b` is stored `k × n`, or `n × k` when `b_trans`. `dst.len()` must be `k·nr`.
pub(super) fn pack_b(
    b: &[f32],
    n: usize,
    k: usize,
    b_trans: bool,
    jp: usize,
    nr: usize,
    dst: &mut [f32],
) {
    let j0 = jp * nr;
    let cols = nr.min(n - j0);
    if b_trans {
        let block = &b[j0 * k..(j0 + cols) * k];
        for (p, d) in dst.chunks_exact_mut(nr).enumerate() {
            for (j, x) in d[..cols].iter_mut().enumerate() {
                *x = block[j * k + p];
            }
            d[cols..].fill(0.0);
        }
    } else {
        for (p, d) in dst.chunks_exact_mut(nr).enumerate() {
            d[..cols].copy_from_slice(&b[p * n + j0..p * n + j0 + cols]);
            d[cols..].fill(0.0);
        }
    }
}
