//! Philox4x32-10 known-answer tests and the uniform01 mapping.
//!
//! The vectors are the three `philox4x32 10` lines of Random123's `tests/kat_vectors`
//! (DEShawResearch/random123; columns: counter[4], key[2], expected[4]), as vendored verbatim by
//! several public Philox implementations:
//!
//! ```text
//! philox4x32 10 00000000 00000000 00000000 00000000 00000000 00000000   6627e8d5 e169c58d bc57ac4c 9b00dbd8
//! philox4x32 10 ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   408f276d 41c83b0e a20bc7c6 6d5451fd
//! philox4x32 10 243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   d16cfe09 94fdcceb 5001e420 24126ea1
//! ```

use neuroxide::philox::{philox4x32_10, uniform01};

#[test]
fn kat_zero() {
    assert_eq!(
        philox4x32_10([0, 0, 0, 0], [0, 0]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
}

#[test]
fn kat_all_ones() {
    assert_eq!(
        philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
}

#[test]
fn kat_pi_digits() {
    assert_eq!(
        philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn neighbouring_counters_and_keys_differ() {
    let a = philox4x32_10([1, 0, 0, 0], [7, 9]);
    let b = philox4x32_10([2, 0, 0, 0], [7, 9]);
    let c = philox4x32_10([1, 0, 0, 0], [7, 10]);
    assert_ne!(a, b);
    assert_ne!(a, c);
    // Deterministic: same input, same output.
    assert_eq!(a, philox4x32_10([1, 0, 0, 0], [7, 9]));
}

#[test]
fn uniform01_range_and_exactness() {
    assert_eq!(uniform01(0), 0.0);
    assert_eq!(uniform01(0xff), 0.0);
    assert_eq!(uniform01(0x100), 2f32.powi(-24));
    assert_eq!(uniform01(0x8000_0000), 0.5);
    assert_eq!(uniform01(u32::MAX), 1.0 - 2f32.powi(-24));
    assert!(uniform01(u32::MAX) < 1.0);
}

#[test]
fn uniform01_mean_and_bins() {
    // 2^18 samples from consecutive counters: mean ≈ 0.5 and 16 equal bins each ≈ 1/16.
    let n_blocks = 1u32 << 16;
    let mut sum = 0f64;
    let mut bins = [0u32; 16];
    for i in 0..n_blocks {
        for w in philox4x32_10([i, 0, 0, 0], [0x1234_5678, 0x9abc_def0]) {
            let u = uniform01(w);
            assert!((0.0..1.0).contains(&u));
            sum += f64::from(u);
            bins[(u * 16.0) as usize] += 1;
        }
    }
    let n = f64::from(n_blocks) * 4.0;
    let mean = sum / n;
    assert!((mean - 0.5).abs() < 0.003, "mean {mean}");
    let expect = n / 16.0;
    for (i, &b) in bins.iter().enumerate() {
        // 5 sigma of a binomial(n, 1/16) count.
        let tol = 5.0 * (n * (1.0 / 16.0) * (15.0 / 16.0)).sqrt();
        assert!(
            (f64::from(b) - expect).abs() < tol,
            "bin {i}: {b} vs {expect}"
        );
    }
}
