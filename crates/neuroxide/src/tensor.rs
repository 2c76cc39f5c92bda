//! Host tensors: the values a user hands to a model and gets back from it. Device-side storage
//! is owned by a [`crate::backend::Backend`] and referenced by [`crate::backend::BufId`];
//! a `Tensor` is what crosses the boundary (inputs, targets, predictions, weights).

use crate::error::{Error, Result};
use crate::shape::Shape;

pub use crate::dtype::{DType, HostData, HostDataMut};

/// The values of a [`Tensor`], one variant per host dtype.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    /// Token ids and class labels.
    I32(Vec<i32>),
}

/// A dense, row-major tensor in host memory: f32 values, or i32 ids and labels
/// ([`Tensor::from_i32`]). The first axis is usually the batch axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    values: Values,
}

fn check_len(shape: &[usize], len: usize) -> Result<()> {
    let n: usize = shape.iter().product();
    if n != len {
        return Err(Error::Shape(format!(
            "tensor of shape {} needs {n} values, got {len}",
            Shape(shape.to_vec())
        )));
    }
    Ok(())
}

impl Tensor {
    /// A tensor from its full shape (batch axis included) and data.
    pub fn new(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Result<Self> {
        let shape = shape.into();
        check_len(&shape, data.len())?;
        Ok(Tensor {
            shape,
            values: Values::F32(data),
        })
    }
    /// An i32 tensor (token ids, class labels) from its full shape and values.
    pub fn from_i32(shape: impl Into<Vec<usize>>, data: Vec<i32>) -> Result<Self> {
        let shape = shape.into();
        check_len(&shape, data.len())?;
        Ok(Tensor {
            shape,
            values: Values::I32(data),
        })
    }
    /// A tensor of zeros.
    pub fn zeros(shape: impl Into<Vec<usize>>) -> Self {
        Self::zeros_of(DType::F32, shape)
    }
    /// A tensor of zeros of `dtype` (`BF16` host tensors do not exist: f32 zeros then).
    pub fn zeros_of(dtype: DType, shape: impl Into<Vec<usize>>) -> Self {
        let shape = shape.into();
        let n = shape.iter().product();
        let values = match dtype {
            DType::I32 => Values::I32(vec![0; n]),
            DType::F32 | DType::BF16 => Values::F32(vec![0.0; n]),
        };
        Tensor { shape, values }
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
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self.values {
            Values::F32(_) => DType::F32,
            Values::I32(_) => DType::I32,
        }
    }
    /// The f32 values, row-major; empty for an i32 tensor (read those with [`Tensor::ids`] or
    /// [`Tensor::values`]).
    pub fn data(&self) -> &[f32] {
        match &self.values {
            Values::F32(v) => v,
            Values::I32(_) => &[],
        }
    }
    /// Mutable access to the f32 values; empty for an i32 tensor.
    pub fn data_mut(&mut self) -> &mut [f32] {
        match &mut self.values {
            Values::F32(v) => v,
            Values::I32(_) => &mut [],
        }
    }
    /// The i32 values of an id or label tensor; an error naming the dtype otherwise.
    pub fn ids(&self) -> Result<&[i32]> {
        match &self.values {
            Values::I32(v) => Ok(v),
            Values::F32(_) => Err(Error::invalid(format!(
                "expected an i32 tensor (ids or class labels), got an f32 tensor of shape {}",
                Shape(self.shape.clone())
            ))),
        }
    }
    /// The values with their dtype, for an upload.
    pub fn values(&self) -> HostData<'_> {
        match &self.values {
            Values::F32(v) => HostData::F32(v),
            Values::I32(v) => HostData::I32(v),
        }
    }
    /// The values with their dtype, mutable (batch buffers refilled in place).
    pub fn values_mut(&mut self) -> HostDataMut<'_> {
        match &mut self.values {
            Values::F32(v) => HostDataMut::F32(v),
            Values::I32(v) => HostDataMut::I32(v),
        }
    }
    /// Consumes the tensor, returning its f32 values (empty for an i32 tensor).
    pub fn into_data(self) -> Vec<f32> {
        match self.values {
            Values::F32(v) => v,
            Values::I32(_) => Vec::new(),
        }
    }
    /// The same values as i32 ids: every f32 value must be an integer in the i32 range (an
    /// error names the first that is not); an i32 tensor is returned as is. For labels or ids
    /// that were built as floats.
    pub fn to_i32(&self) -> Result<Tensor> {
        let v = match &self.values {
            Values::I32(_) => return Ok(self.clone()),
            Values::F32(v) => v,
        };
        let ids = v
            .iter()
            .enumerate()
            .map(|(pos, &x)| {
                if x.fract() == 0.0 && x >= i32::MIN as f32 && x < 2_147_483_648.0 {
                    Ok(x as i32)
                } else {
                    Err(Error::invalid(format!(
                        "value {x} at position {pos} is not an integer id (converting to i32)"
                    )))
                }
            })
            .collect::<Result<Vec<i32>>>()?;
        Tensor::from_i32(self.shape.clone(), ids)
    }
    /// The same values as f32 (an i32 value is rounded to the nearest f32 above 2^24).
    pub fn to_f32(&self) -> Tensor {
        match &self.values {
            Values::F32(_) => self.clone(),
            Values::I32(v) => Tensor {
                shape: self.shape.clone(),
                values: Values::F32(v.iter().map(|&i| i as f32).collect()),
            },
        }
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
    /// f32 values of row `i` (empty for an i32 tensor).
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.row_len();
        match &self.values {
            Values::F32(v) => &v[i * n..(i + 1) * n],
            Values::I32(_) => &[],
        }
    }
    /// Copies rows `picked` (checked by the caller) to the front of `out`, which must have this
    /// tensor's dtype (an error naming both dtypes otherwise).
    pub fn copy_rows_into(&self, picked: &[usize], out: &mut HostDataMut<'_>) -> Result<()> {
        fn copy<T: Copy>(src: &[T], len: usize, picked: &[usize], out: &mut [T]) {
            for (chunk, &r) in out.chunks_exact_mut(len).zip(picked) {
                chunk.copy_from_slice(&src[r * len..(r + 1) * len]);
            }
        }
        let len = self.row_len();
        if len == 0 {
            return Ok(());
        }
        match (&self.values, out) {
            (Values::F32(s), HostDataMut::F32(o)) => copy(s, len, picked, o),
            (Values::I32(s), HostDataMut::I32(o)) => copy(s, len, picked, o),
            (_, o) => {
                return Err(Error::invalid(format!(
                    "copying rows of a {} tensor into a {} buffer (dtype mismatch)",
                    self.dtype(),
                    o.dtype()
                )))
            }
        }
        Ok(())
    }
    /// A new tensor holding the given rows, in the given order.
    pub fn select_rows(&self, idx: &[usize]) -> Result<Tensor> {
        if let Some(&i) = idx.iter().find(|&&i| i >= self.rows()) {
            return Err(Error::invalid(format!(
                "row index {i} out of range for a tensor with {} rows",
                self.rows()
            )));
        }
        let mut shape = self.shape.clone();
        if shape.is_empty() {
            shape.push(idx.len());
        } else {
            shape[0] = idx.len();
        }
        let mut out = Tensor::zeros_of(self.dtype(), shape);
        self.copy_rows_into(idx, &mut out.values_mut())?;
        Ok(out)
    }
    /// Same values, new shape of equal size.
    pub fn reshape(self, shape: impl Into<Vec<usize>>) -> Result<Tensor> {
        let shape = shape.into();
        let len = match &self.values {
            Values::F32(v) => v.len(),
            Values::I32(v) => v.len(),
        };
        check_len(&shape, len)?;
        Ok(Tensor {
            shape,
            values: self.values,
        })
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
