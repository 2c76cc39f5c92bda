//! A planned node of a model: its layer, inputs and shapes (shared by the model and the
//! executor, so neither imports the other for it).

use crate::dtype::DType;
use crate::layers::Layer;
use crate::shape::Shape;
use std::ops::Range;

/// A built node.
pub(crate) struct Node {
    pub name: String,
    /// `None` for a model input.
    pub layer: Option<Box<dyn Layer>>,
    pub inputs: Vec<usize>,
    pub input_shapes: Vec<Shape>,
    pub shape: Shape,
    /// The dtype of the node's output: a model input's declared dtype, f32 for a layer.
    pub dtype: DType,
    /// This node's parameters in `Model::params` (the same range for every application of a
    /// shared layer).
    pub params: Range<usize>,
    /// This node's non-trainable state in `Model::state_info` (shared like `params`).
    pub state: Range<usize>,
    /// For a later application of a shared layer: the node that owns the parameters (its
    /// first application).
    pub shares: Option<usize>,
}
