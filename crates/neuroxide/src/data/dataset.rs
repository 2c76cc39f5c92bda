//! An in-memory dataset: inputs `x` and targets `y`, one sample per row (batch axis first).

use crate::data::shuffle::shuffle_indices;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::ops::Range;

/// The Philox stream used by [`Dataset::split`]; the [`crate::data::DataLoader`] uses the epoch
/// number as its stream, so the split never reuses an epoch's random words.
pub const SPLIT_STREAM: u64 = u64::MAX;

/// Inputs and targets with the same number of rows. Row `i` of `x` goes with row `i` of `y`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Inputs, shape `[rows, ...sample shape]`.
    pub x: Tensor,
    /// Targets, shape `[rows, ...]` (class indices are stored as `[rows, 1]`).
    pub y: Tensor,
}

/// Rows to keep in [`Dataset::subset`]: a range (`10..20`) or explicit indices (`&[3, 1, 4]`,
/// `vec![...]`), in the order given.
pub trait RowSelection {
    /// The selected row indices; errors name the offending index or range.
    fn row_indices(self, rows: usize) -> Result<Vec<usize>>;
}

impl RowSelection for Range<usize> {
    fn row_indices(self, rows: usize) -> Result<Vec<usize>> {
        if self.start > self.end || self.end > rows {
            return Err(Error::invalid(format!(
                "row range {}..{} is out of bounds for a dataset of {rows} rows",
                self.start, self.end
            )));
        }
        Ok(self.collect())
    }
}

impl RowSelection for &[usize] {
    fn row_indices(self, rows: usize) -> Result<Vec<usize>> {
        if let Some(&bad) = self.iter().find(|&&i| i >= rows) {
            return Err(Error::invalid(format!(
                "row index {bad} is out of bounds for a dataset of {rows} rows"
            )));
        }
        Ok(self.to_vec())
    }
}

impl RowSelection for &Vec<usize> {
    fn row_indices(self, rows: usize) -> Result<Vec<usize>> {
        self.as_slice().row_indices(rows)
    }
}

impl RowSelection for Vec<usize> {
    fn row_indices(self, rows: usize) -> Result<Vec<usize>> {
        self.as_slice().row_indices(rows)
    }
}

impl<const N: usize> RowSelection for &[usize; N] {
    fn row_indices(self, rows: usize) -> Result<Vec<usize>> {
        self.as_slice().row_indices(rows)
    }
}

impl Dataset {
    /// Pairs inputs with targets; both must have at least one axis and the same row count.
    pub fn new(x: Tensor, y: Tensor) -> Result<Self> {
        if x.shape().is_empty() || y.shape().is_empty() {
            return Err(Error::Shape(format!(
                "dataset tensors need a batch axis: x has shape {:?}, y has shape {:?}",
                x.shape(),
                y.shape()
            )));
        }
        if x.rows() != y.rows() {
            return Err(Error::Shape(format!(
                "dataset inputs and targets must have the same number of rows: x has {} rows \
                 (shape {:?}), y has {} rows (shape {:?})",
                x.rows(),
                x.shape(),
                y.rows(),
                y.shape()
            )));
        }
        Ok(Dataset { x, y })
    }

    /// Number of samples (rows).
    pub fn len(&self) -> usize {
        self.x.rows()
    }

    /// True when the dataset has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows selected by `rows` (a range or a list of indices, repeats allowed), in that order.
    pub fn subset(&self, rows: impl RowSelection) -> Result<Dataset> {
        let idx = rows.row_indices(self.len())?;
        Ok(Dataset {
            x: self.x.select_rows(&idx)?,
            y: self.y.select_rows(&idx)?,
        })
    }

    /// Splits into `(train, validation)` after a seeded shuffle: the permutation
    /// `shuffle_indices(len, seed, SPLIT_STREAM)` is computed, its last
    /// `round(len * validation_fraction)` entries form the validation set and the rest the
    /// training set. Each part keeps the original row order (the loader shuffles later), so the
    /// split is a reproducible partition that does not depend on anything but `seed`.
    pub fn split(&self, validation_fraction: f32, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&validation_fraction) {
            return Err(Error::invalid(format!(
                "validation fraction must be in [0, 1), got {validation_fraction}"
            )));
        }
        let n = self.len();
        let n_val = (n as f64 * f64::from(validation_fraction)).round() as usize;
        if n_val >= n && n > 0 {
            return Err(Error::invalid(format!(
                "validation fraction {validation_fraction} of {n} rows leaves no training rows"
            )));
        }
        let perm = shuffle_indices(n, seed, SPLIT_STREAM);
        let (train, val) = perm.split_at(n - n_val);
        let mut train = train.to_vec();
        let mut val = val.to_vec();
        train.sort_unstable();
        val.sort_unstable();
        Ok((self.subset(&train)?, self.subset(&val)?))
    }
}
