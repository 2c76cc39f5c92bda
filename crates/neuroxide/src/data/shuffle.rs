//! Seeded Fisher–Yates shuffling driven by Philox4x32-10 (PARITY.md rule 7).
//!
//! The permutation is a pure function of `(n, seed, stream)`, computed on the host, so the same
//! seed gives the same batch order on every backend, thread count and platform.
//!
//! Exact algorithm (so that other implementations can reproduce it):
//! - Random words come from `philox4x32_10(counter, key)` with
//!   `key = [seed low 32 bits, seed high 32 bits]` and
//!   `counter = [block low, block high, stream low, stream high]`, `block = 0, 1, 2, …`;
//!   each block yields its four words in order `w[0], w[1], w[2], w[3]`.
//! - A uniform integer in `[0, bound)` for `bound <= 2^32` uses Lemire's multiply-and-reject
//!   method: `m = w * bound` (64-bit); if `low32(m) < (2^32 - bound) % bound`, draw a new word
//!   and retry; the result is `m >> 32`. For `bound > 2^32`, `w = (first word) << 32 | (second
//!   word)` and the same method runs with 128-bit products. The result is exactly uniform.
//! - Fisher–Yates: `for i in (1..n).rev() { j = uniform(i + 1); swap(i, j) }`, starting from the
//!   identity permutation.

use crate::philox::philox4x32_10;

/// A sequential source of Philox words for one `(seed, stream)` pair.
#[derive(Clone, Debug)]
pub struct PhiloxWords {
    key: [u32; 2],
    stream: [u32; 2],
    block: u64,
    words: [u32; 4],
    used: usize,
}

impl PhiloxWords {
    /// Starts at block 0 of `stream` under key `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        PhiloxWords {
            key: [seed as u32, (seed >> 32) as u32],
            stream: [stream as u32, (stream >> 32) as u32],
            block: 0,
            words: [0; 4],
            used: 4,
        }
    }

    /// The next 32-bit word.
    pub fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            let counter = [
                self.block as u32,
                (self.block >> 32) as u32,
                self.stream[0],
                self.stream[1],
            ];
            self.words = philox4x32_10(counter, self.key);
            self.block = self.block.wrapping_add(1);
            self.used = 0;
        }
        let w = self.words[self.used];
        self.used += 1;
        w
    }

    /// The next 64-bit value: two words, the first one in the high half.
    pub fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        (hi << 32) | u64::from(self.next_u32())
    }

    /// A uniform integer in `[0, bound)`, exactly unbiased (Lemire's method). `bound == 0`
    /// returns 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        if bound <= 1 << 32 {
            let mut m = u64::from(self.next_u32()) * bound;
            if (m as u32 as u64) < bound {
                let threshold = ((1u64 << 32) - bound) % bound;
                while (m as u32 as u64) < threshold {
                    m = u64::from(self.next_u32()) * bound;
                }
            }
            m >> 32
        } else {
            let mut m = u128::from(self.next_u64()) * u128::from(bound);
            if (m as u64) < bound {
                let threshold = bound.wrapping_neg() % bound;
                while (m as u64) < threshold {
                    m = u128::from(self.next_u64()) * u128::from(bound);
                }
            }
            (m >> 64) as u64
        }
    }
}

/// Shuffles `items` in place with the seeded Fisher–Yates described in the module docs.
pub fn shuffle<T>(items: &mut [T], seed: u64, stream: u64) {
    let mut rng = PhiloxWords::new(seed, stream);
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A seeded random permutation of `0..n`.
pub fn shuffle_indices(n: usize, seed: u64, stream: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    shuffle(&mut idx, seed, stream);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_permutation_and_deterministic() {
        for n in [0, 1, 2, 7, 100] {
            let a = shuffle_indices(n, 42, 3);
            let mut sorted = a.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
            assert_eq!(a, shuffle_indices(n, 42, 3));
        }
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = PhiloxWords::new(7, 0);
        for bound in [1u64, 2, 3, 10, 1 << 31, (1 << 32) + 5, u64::MAX] {
            for _ in 0..50 {
                assert!(rng.below(bound) < bound);
            }
        }
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn words_come_from_philox_blocks_in_order() {
        let mut rng = PhiloxWords::new(0x1_0000_0002, 0x3_0000_0004);
        let b0 = philox4x32_10([0, 0, 4, 3], [2, 1]);
        let b1 = philox4x32_10([1, 0, 4, 3], [2, 1]);
        let got: Vec<u32> = (0..8).map(|_| rng.next_u32()).collect();
        assert_eq!(&got[..4], &b0);
        assert_eq!(&got[4..], &b1);
    }
}
