//! Philox4x32-10 counter-based random numbers (Salmon et al., SC'11), PARITY.md rule 7.
//! Interim implementation; the checked version with known-answer tests replaces it.

/// One Philox4x32-10 block: four 32-bit words from a 128-bit counter and a 64-bit key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(0x9E37_79B9);
            k[1] = k[1].wrapping_add(0xBB67_AE85);
        }
        let p0 = u64::from(0xD251_1F53u32) * u64::from(c[0]);
        let p1 = u64::from(0xCD9E_8D57u32) * u64::from(c[2]);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// Maps a random word to a uniform f32 in [0, 1): `(u >> 8) * 2^-24`.
pub fn uniform01(u: u32) -> f32 {
    (u >> 8) as f32 * (1.0 / 16_777_216.0)
}
