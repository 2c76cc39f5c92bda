//! Philox4x32-10 counter-based random numbers (Salmon et al., SC'11), PARITY.md rule 7.
//! PLACEHOLDER body: being replaced with the checked implementation; the signature is final.

/// One Philox4x32-10 block: four 32-bit words from a 128-bit counter and a 64-bit key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let _ = key;
    counter
}

/// Maps a random word to a uniform f32 in [0, 1): `(u >> 8) * 2^-24`.
pub fn uniform01(u: u32) -> f32 {
    (u >> 8) as f32 * (1.0 / 16_777_216.0)
}
