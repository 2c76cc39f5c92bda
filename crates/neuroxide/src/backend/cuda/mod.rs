//! The CUDA backend (cudarc, NVRTC-compiled kernels). PLACEHOLDER: being implemented.

use crate::backend::Backend;
use crate::error::{Error, Result};

/// Checks that a CUDA driver, GPU `ordinal` and NVRTC are usable; returns the GPU's name.
pub fn probe(_ordinal: usize) -> Result<String> {
    Err(Error::backend("the CUDA backend is not built yet"))
}

/// Creates a CUDA backend on GPU `ordinal`.
pub fn create(ordinal: usize) -> Result<Box<dyn Backend>> {
    probe(ordinal).map(|_| unreachable!())
}
