//! Host tensors: the values a user hands to a model and gets back from it. Device-side storage
//! is owned by a [`crate::backend::Backend`] and referenced by [`crate::backend::BufId`];
//! a `Tensor` is what crosses the boundary (inputs, targets, predictions, weights).

use crate::error::{Error, Result};
use crate::shape::Shape;
use serde::{Deserialize, Serialize};

/// Element types. Exact mode stores and computes everything in `F32`; `BF16` is reserved for
/// fast mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    F32,
    BF16,
}

/// A dense, row-major f32 tensor in host memory. The first axis is usually the batch axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor from its full shape (batch axis included) and data.
    pub fn new(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Result<Self> {
        let shape = shape.into();
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::Shape(format!(
                "tensor of shape {} needs {n} values, got {}",
                Shape(shape.clone()),
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }
    /// A tensor of zeros.
    pub fn zeros(shape: impl Into<Vec<usize>>) -> Self {
        let shape = shape.into();
        let n = shape.iter().product();
        Tensor {
            shape,
            data: vec![0.0; n],
        }
    }
    /// A 2-D tensor from rows; every row must have the same length.
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self> {
        let cols = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            if r.len() != cols {
                return Err(Error::Shape(format!(
                    "row {i} has {} values, row 0 has {cols}",
                    r.len()
                )));
            }
            data.extend_from_slice(r);
        }
        Tensor::new(vec![rows.len(), cols], data)
    }
    /// The full shape, batch axis first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    /// Mutable access to the values.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }
    /// Consumes the tensor, returning its values.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }
    /// Number of rows (the first axis), 1 for a scalar.
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }
    /// Number of values per row (product of all axes but the first).
    pub fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }
    /// The shape of one row (all axes but the first).
    pub fn sample_shape(&self) -> Shape {
        Shape(self.shape.iter().skip(1).copied().collect())
    }
    /// Values of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.row_len();
        &self.data[i * n..(i + 1) * n]
    }
    /// A new tensor holding the given rows, in the given order.
    pub fn select_rows(&self, idx: &[usize]) -> Result<Tensor> {
        let n = self.row_len();
        let mut data = Vec::with_capacity(idx.len() * n);
        for &i in idx {
            if i >= self.rows() {
                return Err(Error::invalid(format!(
                    "row index {i} out of range for a tensor with {} rows",
                    self.rows()
                )));
            }
            data.extend_from_slice(self.row(i));
        }
        let mut shape = self.shape.clone();
        if shape.is_empty() {
            shape.push(idx.len());
        } else {
            shape[0] = idx.len();
        }
        Tensor::new(shape, data)
    }
    /// Same values, new shape of equal size.
    pub fn reshape(self, shape: impl Into<Vec<usize>>) -> Result<Tensor> {
        Tensor::new(shape, self.data)
    }
    /// Index of the largest value in each row (first one on ties).
    pub fn argmax_rows(&self) -> Vec<usize> {
        (0..self.rows())
            .map(|i| {
                let r = self.row(i);
                let mut best = 0;
                for (j, &v) in r.iter().enumerate() {
                    if v > r[best] {
                        best = j;
                    }
                }
                best
            })
            .collect()
    }
}
