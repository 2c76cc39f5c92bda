//! Philox4x32-10 counter-based random numbers (Salmon, Moraes, Dror, Shaw: "Parallel random
//! numbers: as easy as 1, 2, 3", SC'11), PARITY.md rule 7.
//!
//! Why counter-based: the output for (counter, key) is a pure function, so every backend and
//! every thread count produces the same stream. The CUDA mirror is `nx_philox4x32_10` in
//! `backend/cuda/kernels/math.cuh` (`__umulhi` for the high product word).
//!
//! Round structure as in Random123's `philox4x32round`: with (hi, lo) the 64-bit products
//! `M0·c0` and `M1·c2`, the new counter is `[hi(M1·c2) ^ c1 ^ k0, lo(M1·c2),
//! hi(M0·c0) ^ c3 ^ k1, lo(M0·c0)]`; the key is bumped by (W0, W1) before every round but the
//! first. Checked against the Random123 `kat_vectors` in `tests/philox.rs`.

/// Philox multiplier for counter word 0.
pub(crate) const M0: u32 = 0xD251_1F53;
/// Philox multiplier for counter word 2.
pub(crate) const M1: u32 = 0xCD9E_8D57;
/// Weyl key increment for key word 0 (golden ratio).
pub(crate) const W0: u32 = 0x9E37_79B9;
/// Weyl key increment for key word 1 (√3 − 1).
pub(crate) const W1: u32 = 0xBB67_AE85;

/// One Philox4x32-10 block: four 32-bit words from a 128-bit counter and a 64-bit key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        let hi0 = (p0 >> 32) as u32;
        let lo0 = p0 as u32;
        let hi1 = (p1 >> 32) as u32;
        let lo1 = p1 as u32;
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Maps a random word to a uniform f32 in [0, 1): `(u >> 8) * 2^-24`. Both steps are exact
/// (the top 24 bits fit the f32 significand; scaling by 2^-24 is exact), so every value is a
/// multiple of 2^-24 and 1.0 is never returned.
pub fn uniform01(u: u32) -> f32 {
    (u >> 8) as f32 * (1.0 / 16_777_216.0)
}
