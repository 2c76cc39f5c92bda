//! Neuroxide: a deep-learning training library with a Keras-like API and CPU and CUDA backends
//! that agree bit for bit in exact mode.
//!
//! No `unwrap`/`expect`/`panic!` outside tests: user input (flags, data files, model files)
//! reaches most of this crate, and a panic loses the user's work without saying which input
//! was wrong. Exceptions carry an `#[allow]` with the reason the call cannot fail.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

// The kernels: their few `expect`s convert slices whose length the packing loop fixes, spawn
// the worker pool once at start-up, and `matmul` panics only on slices shorter than the shape,
// which the CPU backend checks before calling.
#[allow(clippy::expect_used, clippy::panic)]
pub mod backend;
pub mod console;
pub mod data;
/// Where a model runs (`Device::cpu()`, `Device::cuda(0)`, `Device::auto()`); defined with the
/// backends it selects.
pub mod device {
    pub use crate::backend::device::*;
}
pub mod error;
pub mod graph;
pub mod io;
pub mod layers;
pub mod loss;
pub mod math;
pub mod memory;
pub mod ops;
pub mod optim;
pub mod parity;
pub mod philox;
pub mod shape;
pub mod tensor;
pub mod train;

pub use backend::{Activation, Backend, BufId, LossKind, Mode, OptimizerKind, TargetKind};
pub use device::Device;
pub use error::{Error, Result};
pub use graph::{Graph, LayerApply, Model, Sequential, SymbolicTensor};
pub use loss::Loss;
pub use shape::Shape;
pub use tensor::{DType, Tensor};
