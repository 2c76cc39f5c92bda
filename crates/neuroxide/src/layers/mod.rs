//! Layers. Each layer is written once against the [`Backend`] trait, infers its output shape
//! from its input shapes (so `Dense::new(128)` needs no input size), declares its parameters and
//! workspaces, and implements an explicit forward and backward.
//!
//! A layer object is an immutable configuration: all mutable state (parameters, activations,
//! gradients) lives in buffers the graph executor planned, handed to the layer in [`Io`].

mod activation;
mod attention;
mod batchnorm;
mod conv;
mod dense;
mod dropout;
mod embedding;
mod embedding_attend;
pub mod init;
mod layernorm;
mod merge;
mod pool;
mod reshape;
mod seqpool;
mod serialize;
mod sinusoidal;
mod spatial_dropout;

pub use activation::{ActivationLayer, ActivationOp};
pub use attention::MultiHeadAttention;
pub use batchnorm::{BatchNorm, BatchNorm1D, BatchNorm2D};
pub use conv::{Conv1D, Conv2D, Padding};
pub use dense::Dense;
pub use dropout::Dropout;
pub use embedding::{Embedding, PositionEmbedding};
pub use embedding_attend::EmbeddingAttend;
pub use init::Initializer;
pub use layernorm::{LayerNorm, RmsNorm};
pub use merge::{Add, Concat, Multiply};
pub use pool::{AvgPool2D, GlobalAveragePool2D, MaxPool1D, MaxPool2D, PoolWindow};
pub use reshape::{Flatten, Reshape};
pub use seqpool::{SeqPoolMode, SequencePooling};
pub use serialize::layer_from_config;
pub use sinusoidal::{sinusoidal_table, SinusoidalPositionEncoding};
pub use spatial_dropout::SpatialDropout2D;

use crate::backend::{Backend, BufId};
use crate::dtype::{DType, HostData};
use crate::error::Result;
use crate::shape::Shape;

/// A trainable tensor a layer declares.
#[derive(Clone, Debug)]
pub struct ParamSpec {
    /// Name within the layer, e.g. `kernel` or `bias`.
    pub name: &'static str,
    /// Full shape of the tensor.
    pub shape: Shape,
    /// How to initialise it.
    pub init: Initializer,
    /// Fan-in and fan-out for the variance-scaling initialisers.
    pub fan_in: usize,
    pub fan_out: usize,
}

/// A non-trainable tensor a layer keeps from batch to batch (BatchNorm's running mean and
/// variance). It lives in the model's planned buffers beside the parameters, is initialised
/// from `init` when the model is built, saved and loaded with the weights, moved with the
/// model between devices, and never seen by the optimizer (it has no gradient). Only the
/// layer's own forward pass writes it, typically in training mode only.
#[derive(Clone, Debug)]
pub struct StateSpec {
    /// Name within the layer, e.g. `running_mean`.
    pub name: &'static str,
    /// Full shape of the tensor.
    pub shape: Shape,
    /// Its initial value (a constant initialiser: `Zeros`, `Ones`, `Constant`).
    pub init: Initializer,
}

/// What a layer's kernels run with.
pub struct LayerCtx<'a> {
    pub backend: &'a mut dyn Backend,
    /// Rows in this batch (≤ the planned capacity).
    pub batch: usize,
    /// The phase: `true` in a training step (dropout active, batch statistics, state
    /// updated), `false` in evaluation and prediction (state only read).
    pub training: bool,
    /// Model seed and this node's index: the Philox key and stream of any randomness.
    pub seed: u64,
    pub node: u32,
    /// Training step counter (the Philox counter of dropout masks).
    pub step: u64,
    /// The per-step scalar block ([`crate::backend::StepBlock`]) when the step may be recorded
    /// and replayed: kernels then read per-step values (the dropout counter) from it instead
    /// of `step`.
    pub step_block: Option<BufId>,
}

/// The buffers of one layer application. Activation buffers hold `batch × shape.numel()`
/// values, row-major, batch first.
pub struct Io<'a> {
    pub inputs: &'a [BufId],
    pub input_shapes: &'a [Shape],
    pub output: BufId,
    pub output_shape: &'a Shape,
    pub params: &'a [BufId],
    /// The per-sample workspaces ([`Layer::workspace`]), then the fixed-size ones
    /// ([`Layer::fixed_workspace`]).
    pub workspace: &'a [BufId],
    /// The layer's non-trainable state, in the order of [`Layer::state`].
    pub state: &'a [BufId],
}

/// Gradient buffers for backward. `grad_inputs[i]` is `None` when input `i` needs no gradient
/// (a model input); the layer writes (overwrites) every gradient it is given.
pub struct GradIo<'a> {
    pub grad_output: BufId,
    pub grad_inputs: &'a [Option<BufId>],
    pub grad_params: &'a [BufId],
}

/// A layer: shape inference, parameters, forward and explicit backward.
pub trait Layer: Send + Sync {
    /// The layer's type name, e.g. `Dense` (used in names, summaries and saved architectures).
    fn kind(&self) -> &'static str;
    /// The configuration as JSON (for saving the architecture); see [`layer_from_config`].
    fn config(&self) -> serde_json::Value;
    /// Output shape for the given input shapes; an error message says what is wrong.
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape>;
    /// Parameters for the given input shapes.
    fn params(&self, _inputs: &[Shape]) -> Vec<ParamSpec> {
        Vec::new()
    }
    /// Non-trainable state tensors for the given input shapes (see [`StateSpec`]).
    fn state(&self, _inputs: &[Shape]) -> Vec<StateSpec> {
        Vec::new()
    }
    /// Workspace buffers, each given as a number of values **per sample** (multiplied by the
    /// planned batch capacity).
    fn workspace(&self, _inputs: &[Shape], _output: &Shape) -> Vec<usize> {
        Vec::new()
    }
    /// Fixed-size workspace buffers (values independent of the batch: per-channel saved
    /// statistics), given in values. In [`Io::workspace`] they follow the per-sample ones.
    fn fixed_workspace(&self, _inputs: &[Shape]) -> Vec<usize> {
        Vec::new()
    }
    /// The dtype input `input` must have: f32 for every layer but those that read integer
    /// ids (Embedding: i32). Model building checks each input against it, so ids never reach
    /// a layer that reads floats; the output of every layer is f32.
    fn input_dtype(&self, _input: usize) -> DType {
        DType::F32
    }
    /// Checks the values of input `input` on the host before a batch that feeds this layer
    /// directly from a model input is uploaded (Embedding: every token id in range). Most
    /// layers accept any value.
    fn check_input(&self, _input: usize, _values: HostData<'_>) -> Result<()> {
        Ok(())
    }
    /// The layer that reads this layer's parameters the other way round, for weight tying
    /// through [`crate::graph::SharedLayer::attend`]: Embedding's is [`EmbeddingAttend`] (the
    /// output head `x · tableᵀ`). Most layers have none.
    fn tied_output(&self) -> Option<Box<dyn Layer>> {
        None
    }
    /// Computes the output, writing all of its `batch` rows: the output buffer may be shared
    /// with buffers of other lifetimes (buffer reuse), so it holds stale values before.
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()>;
    /// Computes input and parameter gradients from the output gradient. Every input gradient
    /// it is given is written whole (`batch` rows, never accumulated into: it may hold stale
    /// values of a shared buffer); the executor adds fan-out contributions itself.
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, grads: &GradIo) -> Result<()>;
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn Layer>;
}

impl Clone for Box<dyn Layer> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// Checks the number of inputs.
pub(crate) fn expect_inputs(inputs: &[Shape], n: usize) -> Result<()> {
    if inputs.len() != n {
        return Err(crate::Error::Shape(format!(
            "expected {n} input(s), got {}",
            inputs.len()
        )));
    }
    Ok(())
}

/// A plain copy of `n` values between distinct buffers.
pub(crate) fn copy(backend: &mut dyn Backend, src: BufId, dst: BufId, n: usize) -> Result<()> {
    crate::ops::copy::copy_2d(backend, &crate::ops::copy::Copy2d::plain(src, dst, n))
}
