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
/// `avx2`: the CPU has AVX2, so a plain A is packed with 8 × 8 register transposes.
#[allow(clippy::too_many_arguments)]
pub(super) fn pack_a(
    a: &[f32],
    m: usize,
    k: usize,
    a_trans: bool,
    ip: usize,
    mr: usize,
    dst: &mut [f32],
    avx2: bool,
) {
    let i0 = ip * mr;
    let rows = mr.min(m - i0);
    assert!(dst.len() == k * mr, "pack_a: destination length");
    #[cfg(target_arch = "x86_64")]
    if !a_trans && avx2 && rows == mr {
        let block = &a[i0 * k..(i0 + mr) * k];
        for g in (0..mr).step_by(8) {
            // SAFETY: the caller promised AVX2; rows g..g+w of `block` have `k` values, and
            // `dst` holds `k` rows of `mr`.
            unsafe {
                let src = block.as_ptr().add(g * k);
                transpose_rows_avx2(src, k, (mr - g).min(8), k, dst.as_mut_ptr(), mr, g);
            }
        }
        return;
    }
    let _ = avx2;
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
    if b_trans && avx2 && cols == nr && nr.is_multiple_of(8) {
        let block = &b[j0 * k..(j0 + cols) * k];
        for jg in (0..nr).step_by(8) {
            // SAFETY: the caller promised AVX2; rows jg..jg+8 of `block` have `k >= p0 + kb`
            // values, and `dst` holds `kb` rows of `nr`.
            unsafe {
                let src = block.as_ptr().add(jg * k + p0);
                transpose_rows_avx2(src, k, 8, kb, dst.as_mut_ptr(), nr, jg);
            }
        }
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

/// Transposes an 8 × 8 block: returns `c` with `c[q]` lane `j` = `r[j]` lane `q`.
///
/// # Safety
/// The CPU must support AVX2 (call only from an AVX2 `#[target_feature]` function).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose8(r: [std::arch::x86_64::__m256; 8]) -> [std::arch::x86_64::__m256; 8] {
    use std::arch::x86_64::*;
    unsafe {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }
}

/// `dst[q·ld + off + j] = src[j·stride + q]` for `j < w` (`w <= 8`), `q < kb`: a block of `w`
/// rows of length `kb` (row stride `stride`) written as `kb` rows of `w` (row stride `ld`),
/// through 8 × 8 register transposes; the last `kb % 8` columns one by one. Lanes past `w` are
/// neither read from distinct rows (row 0 is loaded in their place) nor stored.
///
/// # Safety
/// The CPU must support AVX2; `src` must be valid for `(w−1)·stride + kb` reads and `dst` for
/// `(kb−1)·ld + off + w` writes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_rows_avx2(
    src: *const f32,
    stride: usize,
    w: usize,
    kb: usize,
    dst: *mut f32,
    ld: usize,
    off: usize,
) {
    use std::arch::x86_64::*;
    let k8 = kb - kb % 8;
    for q0 in (0..k8).step_by(8) {
        // SAFETY: reads stay in rows < w, columns < kb; writes in rows < kb, lanes < w.
        unsafe {
            let row = |j: usize| _mm256_loadu_ps(src.add(if j < w { j * stride } else { 0 } + q0));
            let c = transpose8([
                row(0),
                row(1),
                row(2),
                row(3),
                row(4),
                row(5),
                row(6),
                row(7),
            ]);
            for (q, v) in c.into_iter().enumerate() {
                let d = dst.add((q0 + q) * ld + off);
                match w {
                    8 => _mm256_storeu_ps(d, v),
                    4 => _mm_storeu_ps(d, _mm256_castps256_ps128(v)),
                    6 => {
                        _mm_storeu_ps(d, _mm256_castps256_ps128(v));
                        let hi = _mm_castps_pd(_mm256_extractf128_ps::<1>(v));
                        _mm_store_sd(d.add(4) as *mut f64, hi);
                    }
                    _ => {
                        let mut t = [0.0f32; 8];
                        _mm256_storeu_ps(t.as_mut_ptr(), v);
                        std::ptr::copy_nonoverlapping(t.as_ptr(), d, w);
                    }
                }
            }
        }
    }
    for q in k8..kb {
        for j in 0..w {
            // SAFETY: as above.
            unsafe { *dst.add(q * ld + off + j) = *src.add(j * stride + q) };
        }
    }
}
