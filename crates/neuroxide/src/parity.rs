//! Bit-for-bit comparison of two runs (CPU against CUDA, 1 thread against 2, …).
//!
//! Exact mode promises identical bits, so the comparison is on `f32::to_bits`, not on a
//! tolerance. When bits differ the distance is reported in units in the last place (ulp): the
//! number of representable f32 values between the two, which says how far apart two runs drifted
//! independently of the values' magnitude. These helpers are public so the CUDA parity tests,
//! the validation report and user code all count the same way.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::fmt;

/// Result of comparing two lists of f32 values element by element.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParityStats {
    /// Elements compared.
    pub compared: usize,
    /// Elements whose bit patterns differ.
    pub differing: usize,
    /// Largest distance in ulp over the differing elements (0 when none differ);
    /// `u64::MAX` when a NaN is compared with a non-NaN or with a different NaN.
    pub max_ulp: u64,
    /// Index (in the concatenated comparison) of the first differing element.
    pub first_difference: Option<usize>,
}

impl ParityStats {
    /// Whether every element matched bit for bit.
    pub fn identical(&self) -> bool {
        self.differing == 0
    }

    /// Adds another comparison's counts (as if the two lists had been concatenated).
    pub fn merge(&mut self, other: &ParityStats) {
        if self.first_difference.is_none() {
            self.first_difference = other.first_difference.map(|i| i + self.compared);
        }
        self.compared += other.compared;
        self.differing += other.differing;
        self.max_ulp = self.max_ulp.max(other.max_ulp);
    }
}

impl fmt::Display for ParityStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ulp = if self.max_ulp == u64::MAX {
            "NaN mismatch".to_string()
        } else {
            self.max_ulp.to_string()
        };
        write!(
            f,
            "{} compared, {} differing, max ulp {ulp}",
            self.compared, self.differing
        )
    }
}

/// Maps an f32's bits onto a line where adjacent floats are adjacent integers (−0 and +0 both
/// map to 0), so the ulp distance is a subtraction.
fn ordered(x: f32) -> i64 {
    let b = x.to_bits() as i32;
    if b < 0 {
        -((b & 0x7fff_ffff) as i64)
    } else {
        b as i64
    }
}

/// Distance between two f32 values in ulp; 0 when their bits are equal, `u64::MAX` for a NaN
/// against anything with other bits. +0 and −0 are 0 ulp apart but still count as differing bits.
pub fn ulp_distance(a: f32, b: f32) -> u64 {
    if a.to_bits() == b.to_bits() {
        return 0;
    }
    if a.is_nan() || b.is_nan() {
        return u64::MAX;
    }
    ordered(a).abs_diff(ordered(b))
}

/// Compares two slices bit for bit. Slices of different lengths are an error (a parity run
/// that produced a different number of steps or elements is itself a failure to report).
pub fn compare_slices(what: &str, a: &[f32], b: &[f32]) -> Result<ParityStats> {
    if a.len() != b.len() {
        return Err(Error::invalid(format!(
            "parity of {what}: {} elements against {}",
            a.len(),
            b.len()
        )));
    }
    let mut s = ParityStats {
        compared: a.len(),
        ..ParityStats::default()
    };
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        if x.to_bits() != y.to_bits() {
            s.differing += 1;
            s.max_ulp = s.max_ulp.max(ulp_distance(x, y));
            s.first_difference.get_or_insert(i);
        }
    }
    Ok(s)
}

/// Compares two per-step loss lists bit for bit.
pub fn compare_losses(a: &[f32], b: &[f32]) -> Result<ParityStats> {
    compare_slices("the loss list", a, b)
}

/// Compares two named weight lists (as returned by `Model::weights`): the names and shapes must
/// match in order; the values are compared bit for bit and the counts summed over all tensors.
pub fn compare_weights(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> Result<ParityStats> {
    if a.len() != b.len() {
        return Err(Error::invalid(format!(
            "parity of weights: {} tensors against {}",
            a.len(),
            b.len()
        )));
    }
    let mut total = ParityStats::default();
    for ((na, ta), (nb, tb)) in a.iter().zip(b) {
        if na != nb || ta.shape() != tb.shape() {
            return Err(Error::invalid(format!(
                "parity of weights: '{na}' {:?} against '{nb}' {:?}",
                ta.shape(),
                tb.shape()
            )));
        }
        total.merge(&compare_slices(na, ta.data(), tb.data())?);
    }
    Ok(total)
}

/// Per-tensor comparison of two weight lists, for reports that name the tensors that drifted.
pub fn compare_weights_by_tensor(
    a: &[(String, Tensor)],
    b: &[(String, Tensor)],
) -> Result<Vec<(String, ParityStats)>> {
    compare_weights(a, b)?;
    a.iter()
        .zip(b)
        .map(|((n, ta), (_, tb))| Ok((n.clone(), compare_slices(n, ta.data(), tb.data())?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulp_counts_representable_steps() {
        let x = 1.0f32;
        let next = f32::from_bits(x.to_bits() + 1);
        assert_eq!(ulp_distance(x, next), 1);
        assert_eq!(ulp_distance(x, f32::from_bits(x.to_bits() + 7)), 7);
        // Across zero: smallest positive and smallest negative denormals are 2 apart.
        assert_eq!(ulp_distance(f32::from_bits(1), -f32::from_bits(1)), 2);
        assert_eq!(ulp_distance(0.0, -0.0), 0);
        assert_eq!(ulp_distance(f32::NAN, 1.0), u64::MAX);
    }

    #[test]
    fn slices_count_differences() {
        let a = [1.0f32, 2.0, 3.0, -0.0];
        let b = [1.0f32, f32::from_bits(2.0f32.to_bits() + 3), 3.0, 0.0];
        let s = compare_slices("t", &a, &b).unwrap();
        assert_eq!(s.compared, 4);
        assert_eq!(s.differing, 2);
        assert_eq!(s.max_ulp, 3);
        assert_eq!(s.first_difference, Some(1));
        assert!(compare_slices("t", &a, &b[..3]).is_err());
    }
}
