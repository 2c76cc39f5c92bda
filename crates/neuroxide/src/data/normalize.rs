//! Per-column feature scaling, fitted on the training split only and applied unchanged to the
//! validation and test data (fitting on all data leaks their statistics into training).
//! Saved with a model so that prediction inputs are scaled the same way.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// How a [`Normalizer`] scales each column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormalizerKind {
    /// `(x - mean) / std` with the population standard deviation (divide by `n`, as
    /// scikit-learn's `StandardScaler`).
    Standardize,
    /// `(x - min) / (max - min)`, mapping the training range to `[0, 1]`.
    MinMax,
}

/// Column-wise `y = (x - shift[c]) / scale[c]`, where column `c` runs over the values of one
/// row (`row_len` of the fitted tensor).
///
/// A column with zero variance (or zero range) gets `scale = 1`, so it becomes all zeros
/// instead of NaN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    pub kind: NormalizerKind,
    pub shift: Vec<f32>,
    pub scale: Vec<f32>,
}

impl Normalizer {
    /// Fits `kind` on the rows of `x`.
    ///
    /// Reduction order: statistics are accumulated in f64 over rows `0, 1, …` in order (mean
    /// first, then the sum of squared deviations from it — two passes), then rounded to f32 once.
    pub fn fit(kind: NormalizerKind, x: &Tensor) -> Result<Self> {
        let rows = x.rows();
        let cols = x.row_len();
        if x.shape().is_empty() || rows == 0 {
            return Err(Error::invalid(format!(
                "cannot fit a normalizer on a tensor with no rows (shape {:?})",
                x.shape()
            )));
        }
        if let Some(pos) = x.data().iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "cannot fit a normalizer: value {} at row {}, column {} is not finite",
                x.data()[pos],
                pos / cols.max(1),
                pos % cols.max(1)
            )));
        }
        let mut shift = vec![0f32; cols];
        let mut scale = vec![1f32; cols];
        for c in 0..cols {
            let column = (0..rows).map(|r| f64::from(x.data()[r * cols + c]));
            let (s, d) = match kind {
                NormalizerKind::Standardize => {
                    let mean = column.clone().sum::<f64>() / rows as f64;
                    let var = column.map(|v| (v - mean) * (v - mean)).sum::<f64>() / rows as f64;
                    (mean, var.sqrt())
                }
                NormalizerKind::MinMax => {
                    let (lo, hi) = column
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                            (lo.min(v), hi.max(v))
                        });
                    (lo, hi - lo)
                }
            };
            shift[c] = s as f32;
            let d = d as f32;
            scale[c] = if d > 0.0 && d.is_finite() { d } else { 1.0 };
        }
        Ok(Normalizer { kind, shift, scale })
    }

    /// Number of columns it was fitted on.
    pub fn columns(&self) -> usize {
        self.shift.len()
    }

    fn check(&self, x: &Tensor) -> Result<()> {
        if x.row_len() != self.columns() || x.shape().is_empty() {
            return Err(Error::Shape(format!(
                "normalizer was fitted on rows of {} values, got a tensor of shape {:?}",
                self.columns(),
                x.shape()
            )));
        }
        Ok(())
    }

    /// Scales `x` in place: `x = (x - shift) / scale`, computed in f32.
    pub fn transform(&self, x: &mut Tensor) -> Result<()> {
        self.check(x)?;
        let cols = self.columns();
        if cols == 0 {
            return Ok(());
        }
        for row in x.data_mut().chunks_exact_mut(cols) {
            for ((v, &s), &d) in row.iter_mut().zip(&self.shift).zip(&self.scale) {
                *v = (*v - s) / d;
            }
        }
        Ok(())
    }

    /// A scaled copy of `x`.
    pub fn transformed(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        self.transform(&mut y)?;
        Ok(y)
    }

    /// Undoes [`Self::transform`] in place: `x = x * scale + shift` (e.g. to report regression
    /// predictions in the target's own units).
    pub fn inverse_transform(&self, x: &mut Tensor) -> Result<()> {
        self.check(x)?;
        let cols = self.columns();
        if cols == 0 {
            return Ok(());
        }
        for row in x.data_mut().chunks_exact_mut(cols) {
            for ((v, &s), &d) in row.iter_mut().zip(&self.shift).zip(&self.scale) {
                *v = *v * d + s;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[Vec<f32>]) -> Tensor {
        Tensor::from_rows(rows).unwrap()
    }

    #[test]
    fn standardize_matches_hand_computation() {
        let x = t(&[
            vec![1.0, 5.0],
            vec![2.0, 5.0],
            vec![3.0, 5.0],
            vec![6.0, 5.0],
        ]);
        let n = Normalizer::fit(NormalizerKind::Standardize, &x).unwrap();
        // column 0: mean 3, population variance (4 + 1 + 0 + 9) / 4 = 3.5
        assert_eq!(n.shift, [3.0, 5.0]);
        assert_eq!(n.scale, [3.5f64.sqrt() as f32, 1.0]);
        let y = n.transformed(&x).unwrap();
        assert_eq!(y.data()[0], -2.0 / 3.5f64.sqrt() as f32);
        assert_eq!(y.data()[1], 0.0);
        assert_eq!(y.data()[7], 0.0);
    }

    #[test]
    fn min_max_and_inverse() {
        let x = t(&[vec![2.0, 1.0], vec![4.0, 1.0], vec![3.0, 1.0]]);
        let n = Normalizer::fit(NormalizerKind::MinMax, &x).unwrap();
        let mut y = n.transformed(&x).unwrap();
        assert_eq!(y.data(), [0.0, 0.0, 1.0, 0.0, 0.5, 0.0]);
        n.inverse_transform(&mut y).unwrap();
        assert_eq!(y, x);
        // applied to other data with the training statistics
        let other = n.transformed(&t(&[vec![6.0, 3.0]])).unwrap();
        assert_eq!(other.data(), [2.0, 2.0]);
    }

    #[test]
    fn errors_and_serde() {
        let x = t(&[vec![1.0, f32::NAN]]);
        let e = Normalizer::fit(NormalizerKind::MinMax, &x).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot fit a normalizer: value NaN at row 0, column 1 is not finite"
        );
        let n = Normalizer::fit(NormalizerKind::MinMax, &t(&[vec![1.0, 2.0]])).unwrap();
        let e = n.transformed(&t(&[vec![1.0]])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "shape error: normalizer was fitted on rows of 2 values, got a tensor of shape [1, 1]"
        );
        let s = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Normalizer>(&s).unwrap(), n);
    }
}
