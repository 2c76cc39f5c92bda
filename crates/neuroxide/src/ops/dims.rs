//! Shapes of up to four axes, as the general ops (permute, broadcast, axis reductions) take
//! them: a shape of rank `r ≤ 4` is padded on the left with axes of length 1, so every kernel
//! sees exactly four axes, row-major (the last axis contiguous).

use crate::error::{Error, Result};

/// Axes every general op handles.
pub const MAX_AXES: usize = 4;

/// A row-major shape of exactly four axes (leading axes of length 1 pad a smaller rank).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims4(pub [usize; MAX_AXES]);

impl Dims4 {
    /// Pads `shape` (rank 1 to 4) on the left with 1s; `op` names the caller in the error.
    pub fn new(op: &str, shape: &[usize]) -> Result<Dims4> {
        if shape.is_empty() || shape.len() > MAX_AXES {
            return Err(Error::Shape(format!(
                "{op}: shape {shape:?} has {} axes; 1 to {MAX_AXES} are supported",
                shape.len()
            )));
        }
        let mut d = [1; MAX_AXES];
        d[MAX_AXES - shape.len()..].copy_from_slice(shape);
        let dims = Dims4(d);
        if dims
            .0
            .iter()
            .try_fold(1usize, |n, &a| n.checked_mul(a))
            .is_none_or(|n| n >= 1 << 46)
        {
            return Err(Error::Shape(format!("{op}: shape {shape:?} is too large")));
        }
        Ok(dims)
    }

    /// Values in the tensor.
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// Row-major strides (in values) of each axis.
    pub fn strides(&self) -> [usize; MAX_AXES] {
        let mut s = [1; MAX_AXES];
        for a in (0..MAX_AXES - 1).rev() {
            s[a] = s[a + 1] * self.0[a + 1];
        }
        s
    }

    /// The padded position of axis `axis` of a rank-`rank` shape (`op` names the caller).
    pub fn axis(op: &str, rank: usize, axis: usize) -> Result<usize> {
        if axis >= rank || rank > MAX_AXES {
            return Err(Error::Shape(format!(
                "{op}: axis {axis} does not exist in a shape of {rank} axes"
            )));
        }
        Ok(MAX_AXES - rank + axis)
    }
}
