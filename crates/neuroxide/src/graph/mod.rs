//! The functional API: symbolic tensors, layer application, merge nodes, and `Sequential`.
//!
//! ```
//! use neuroxide::graph::{Graph, LayerApply, add};
//! use neuroxide::layers::Dense;
//! use neuroxide::Activation;
//! let g = Graph::new();
//! let x = g.input([8]);
//! let h = Dense::new(8).activation(Activation::Relu).apply(&x);
//! let y = Dense::new(1).apply(&add(&[&h, &x]));
//! let model = neuroxide::Model::new(&[&x], &[&y]).unwrap();
//! assert_eq!(model.param_count(), 8 * 8 + 8 + 8 + 1);
//! ```

mod cross_rank;
mod executor;
mod model;
mod node;
mod sequential;
mod shared;
mod step;

pub use cross_rank::{CrossRankReduce, ReduceBucket};
pub use executor::PlannedBytes;
pub use executor::{shard_rows, shard_seed};
pub use model::{Model, ParamInfo, TrainConfig};
pub use sequential::Sequential;
pub use shared::SharedLayer;

use crate::dtype::DType;
use crate::layers::{Add, Concat, Layer, Multiply};
use crate::shape::Shape;
use std::cell::RefCell;
use std::rc::Rc;

/// One node of a graph under construction.
pub(crate) struct NodeDef {
    pub name: Option<String>,
    /// `None` for a model input.
    pub layer: Option<Box<dyn Layer>>,
    pub input_shape: Shape,
    /// The dtype of a model input (f32 unless declared otherwise); layers output f32.
    pub dtype: DType,
    pub inputs: Vec<SymbolicTensor>,
    /// The identity of the [`SharedLayer`] this node applies, if any: nodes with the same
    /// identity share one parameter set.
    pub shared: Option<usize>,
}

/// A graph under construction. Cheap to clone (a shared handle).
#[derive(Clone, Default)]
pub struct Graph(pub(crate) Rc<RefCell<Vec<NodeDef>>>);

/// The symbolic output of a node: what layers are applied to.
#[derive(Clone)]
pub struct SymbolicTensor {
    pub(crate) graph: Graph,
    pub(crate) node: usize,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Graph::default()
    }
    /// Declares an f32 model input with the given per-sample shape (no batch axis).
    pub fn input(&self, shape: impl Into<Shape>) -> SymbolicTensor {
        self.input_typed(shape, DType::F32)
    }
    /// Declares a model input of i32 ids (token ids for an `Embedding`) with the given
    /// per-sample shape. Batches for it are i32 tensors ([`crate::Tensor::from_i32`]); the ids
    /// stay i32 from the data layer to the kernels.
    pub fn input_ids(&self, shape: impl Into<Shape>) -> SymbolicTensor {
        self.input_typed(shape, DType::I32)
    }
    /// Declares a model input of any dtype with the given per-sample shape.
    pub fn input_typed(&self, shape: impl Into<Shape>, dtype: DType) -> SymbolicTensor {
        self.push(NodeDef {
            name: None,
            layer: None,
            input_shape: shape.into(),
            dtype,
            inputs: Vec::new(),
            shared: None,
        })
    }
    fn push(&self, def: NodeDef) -> SymbolicTensor {
        let mut nodes = self.0.borrow_mut();
        nodes.push(def);
        SymbolicTensor {
            graph: self.clone(),
            node: nodes.len() - 1,
        }
    }
    /// Applies `layer` to `inputs` (which may come from other graphs; building the model
    /// reports that as an error).
    pub fn apply_layer(
        &self,
        layer: Box<dyn Layer>,
        name: Option<String>,
        inputs: &[&SymbolicTensor],
    ) -> SymbolicTensor {
        self.push(NodeDef {
            name,
            layer: Some(layer),
            input_shape: Shape::default(),
            dtype: DType::F32,
            inputs: inputs.iter().map(|&s| s.clone()).collect(),
            shared: None,
        })
    }
}

impl SymbolicTensor {
    /// The graph this tensor belongs to.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
    pub(crate) fn same_graph(&self, other: &SymbolicTensor) -> bool {
        Rc::ptr_eq(&self.graph.0, &other.graph.0)
    }
}

/// Applying a layer to a symbolic tensor: `Dense::new(10).apply(&x)`.
pub trait LayerApply {
    /// Adds this layer to `x`'s graph, fed by `x`.
    fn apply(self, x: &SymbolicTensor) -> SymbolicTensor;
    /// Same, with a name for summaries and saved weights.
    fn apply_named(self, name: &str, x: &SymbolicTensor) -> SymbolicTensor;
}

impl<L: Layer + 'static> LayerApply for L {
    fn apply(self, x: &SymbolicTensor) -> SymbolicTensor {
        x.graph.apply_layer(Box::new(self), None, &[x])
    }
    fn apply_named(self, name: &str, x: &SymbolicTensor) -> SymbolicTensor {
        x.graph
            .apply_layer(Box::new(self), Some(name.to_string()), &[x])
    }
}

fn merge(layer: Box<dyn Layer>, xs: &[&SymbolicTensor]) -> SymbolicTensor {
    match xs.first() {
        Some(first) => first.graph.apply_layer(layer, None, xs),
        // No inputs: a node in a fresh graph that fails shape inference when built.
        None => Graph::new().apply_layer(layer, None, &[]),
    }
}

/// Elementwise sum of tensors of the same shape (residual connections).
pub fn add(xs: &[&SymbolicTensor]) -> SymbolicTensor {
    merge(Box::new(Add), xs)
}

/// Concatenation along the last axis.
pub fn concat(xs: &[&SymbolicTensor]) -> SymbolicTensor {
    merge(Box::new(Concat), xs)
}

/// Elementwise product of two tensors of the same shape.
pub fn multiply(a: &SymbolicTensor, b: &SymbolicTensor) -> SymbolicTensor {
    merge(Box::new(Multiply), &[a, b])
}
