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
        if d.iter().any(|&a| a >= 1 << 32) {
            return Err(Error::Shape(format!(
                "{op}: shape {shape:?} has an axis of 2^32 values or more"
            )));
        }
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

impl Dims4 {
    /// The extents packed two per 64-bit kernel argument (`d0 | d1 << 32`, `d2 | d3 << 32`;
    /// every extent is below 2^32, [`Dims4::new`] checks it).
    pub(crate) fn words(&self) -> [u64; 2] {
        let d = self.0.map(|a| a as u64);
        [d[0] | (d[1] << 32), d[2] | (d[3] << 32)]
    }

    /// Row-major index of coordinates `c` in a tensor of these extents, where an axis of
    /// length 1 broadcasts (its coordinate is ignored). `nx_bcast_index` in `broadcast.cu` is
    /// the device twin.
    #[inline]
    pub fn broadcast_index(&self, c: [usize; MAX_AXES]) -> usize {
        let mut idx = 0;
        for (a, &d) in self.0.iter().enumerate() {
            idx = idx * d + if d == 1 { 0 } else { c[a] };
        }
        idx
    }

    /// Coordinates of row-major index `i`.
    #[inline]
    pub fn coords(&self, mut i: usize) -> [usize; MAX_AXES] {
        let mut c = [0; MAX_AXES];
        for a in (0..MAX_AXES).rev() {
            c[a] = i % self.0[a];
            i /= self.0[a];
        }
        c
    }
}
