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

/// Packs rows `p0 .. p0 + dst.len()/nr` of column panel `jp` of `op(B)` (`k × n`):
/// `dst[p·nr + j] = B[p0 + p, jp·nr + j]`, zero for columns past `n`. `b` is stored `k × n`, or
/// `n × k` when `b_trans`. `avx2`: the CPU has AVX2, so a transposed `B` is packed with 8 × 8
/// register transposes.
#[allow(clippy::too_many_arguments)]
pub(super) fn pack_b(
    b: &[f32],
    n: usize,
    k: usize,
    b_trans: bool,
    jp: usize,
    nr: usize,
    p0: usize,
    dst: &mut [f32],
    avx2: bool,
) {
    let j0 = jp * nr;
    let cols = nr.min(n - j0);
    let kb = dst.len() / nr;
    assert!(
        p0 + kb <= k && dst.len() == kb * nr,
        "pack_b: rows out of range"
    );
    #[cfg(target_arch = "x86_64")]
    if b_trans && avx2 && cols == nr && nr % 8 == 0 {
        let block = &b[j0 * k..(j0 + cols) * k];
        // SAFETY: the caller promised AVX2; `block` is `nr` rows of `k` and `p0 + kb <= k`.
        unsafe { transpose_panel_avx2(block, k, p0, nr, dst) };
        return;
    }
    let _ = avx2;
    if b_trans {
        let block = &b[j0 * k..(j0 + cols) * k];
        for (p, d) in dst.chunks_exact_mut(nr).enumerate() {
            for (j, x) in d[..cols].iter_mut().enumerate() {
                *x = block[j * k + p0 + p];
            }
            d[cols..].fill(0.0);
        }
    } else if cols == 16 && nr == 16 {
        copy_rows::<16>(&b[p0 * n..], n, j0, dst);
    } else if cols == 32 && nr == 32 {
        copy_rows::<32>(&b[p0 * n..], n, j0, dst);
    } else {
        for (p, d) in dst.chunks_exact_mut(nr).enumerate() {
            let r = (p0 + p) * n + j0;
            d[..cols].copy_from_slice(&b[r..r + cols]);
            d[cols..].fill(0.0);
        }
    }
}

/// `dst[p·W + j] = b[p·n + j0 + j]` for `j < W`: a full panel of a plain B, with copies of a
/// length known at compile time (a `memcpy` call per row would cost more than the copy).
fn copy_rows<const W: usize>(b: &[f32], n: usize, j0: usize, dst: &mut [f32]) {
    for (p, d) in dst.chunks_exact_mut(W).enumerate() {
        let src: &[f32; W] = b[p * n + j0..p * n + j0 + W].try_into().expect("W values");
        let d: &mut [f32; W] = d.try_into().expect("W values");
        *d = *src;
    }
}

/// `dst[p·nr + j] = block[j·k + p0 + p]` for `j < nr`, `p < dst.len()/nr` (`nr` a multiple of
/// 8): 8 × 8 tiles transposed in registers, the last `kb % 8` values of each row one by one.
///
/// # Safety
/// The CPU must support AVX2; `block.len() >= nr·k`, `p0 + dst.len()/nr <= k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_panel_avx2(block: &[f32], k: usize, p0: usize, nr: usize, dst: &mut [f32]) {
    use std::arch::x86_64::*;
    let kb = dst.len() / nr;
    assert!(block.len() >= nr * k && p0 + kb <= k && nr % 8 == 0);
    let src = block.as_ptr();
    let out = dst.as_mut_ptr();
    let k8 = kb - kb % 8;
    for jg in (0..nr).step_by(8) {
        for q0 in (0..k8).step_by(8) {
            // SAFETY: rows jg..jg+8 and columns p0+q0..p0+q0+8 are inside `block`; the stores
            // land in rows q0..q0+8, columns jg..jg+8 of `dst` (checked by the assert above).
            unsafe {
                let r = |j: usize| _mm256_loadu_ps(src.add((jg + j) * k + p0 + q0));
                let (r0, r1, r2, r3, r4, r5, r6, r7) =
                    (r(0), r(1), r(2), r(3), r(4), r(5), r(6), r(7));
                let t0 = _mm256_unpacklo_ps(r0, r1);
                let t1 = _mm256_unpackhi_ps(r0, r1);
                let t2 = _mm256_unpacklo_ps(r2, r3);
                let t3 = _mm256_unpackhi_ps(r2, r3);
                let t4 = _mm256_unpacklo_ps(r4, r5);
                let t5 = _mm256_unpackhi_ps(r4, r5);
                let t6 = _mm256_unpacklo_ps(r6, r7);
                let t7 = _mm256_unpackhi_ps(r6, r7);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let w = |q: usize, v: __m256| _mm256_storeu_ps(out.add((q0 + q) * nr + jg), v);
                w(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
                w(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
                w(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
                w(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
                w(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
                w(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
                w(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
                w(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
            }
        }
        for q in k8..kb {
            for j in jg..jg + 8 {
                dst[q * nr + j] = block[j * k + p0 + q];
            }
        }
    }
}
