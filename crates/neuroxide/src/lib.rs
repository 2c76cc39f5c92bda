//! Neuroxide: a deep-learning training library with a Keras-like API and CPU and CUDA backends
//! that agree bit for bit in exact mode.

pub mod backend;
pub mod bench;
pub mod data;
/// Where a model runs (`Device::cpu()`, `Device::cuda(0)`, `Device::auto()`); defined with the
/// backends it selects.
pub mod device {
    pub use crate::backend::device::*;
}
pub mod error;
pub mod examples;
pub mod graph;
pub mod io;
pub mod layers;
pub mod loss;
pub mod math;
pub mod ops;
pub mod optim;
pub mod philox;
pub mod shape;
pub mod tensor;
pub mod train;
pub mod validate;

pub use backend::{Activation, Backend, BufId, LossKind, Mode, OptimizerKind, TargetKind};
pub use device::Device;
pub use error::{Error, Result};
pub use graph::{Graph, LayerApply, Model, Sequential, SymbolicTensor};
pub use loss::Loss;
pub use shape::Shape;
pub use tensor::{DType, Tensor};
