//! Shared layers: one layer object applied at several places of a graph with **one** parameter
//! set (a siamese encoder, tied weights), as when a Keras layer object is called twice.
//!
//! The first application (in creation order) owns the parameters and the non-trainable state;
//! every later one uses the same buffers. Each application's backward computes its own
//! gradient, and the executor adds them in a fixed order: backward runs in reverse
//! topological order, so the **last** application writes the parameter gradient and each
//! earlier one adds its own in, in reverse order of application:
//! `grad = ((g_last + g_last-1) + …) + g_first`. The optimizer, the clipping norm and the saved
//! weights see one parameter.
//!
//! ```
//! use neuroxide::graph::{Graph, SharedLayer};
//! use neuroxide::layers::Dense;
//! let g = Graph::new();
//! let x = g.input([4]);
//! let encoder = SharedLayer::new(Dense::new(4));
//! let y = encoder.apply(&encoder.apply(&x));
//! let model = neuroxide::Model::new(&[&x], &[&y]).unwrap();
//! assert_eq!(model.param_count(), 4 * 4 + 4);
//! ```

use super::{NodeDef, SymbolicTensor};
use crate::dtype::DType;
use crate::layers::Layer;
use crate::shape::Shape;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Identities of shared layers: unique within the process, so two handles never collide.
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// A layer that may be applied several times, sharing its parameters.
pub struct SharedLayer {
    layer: Box<dyn Layer>,
    id: usize,
}

impl SharedLayer {
    /// Wraps `layer` for applying it at several places.
    pub fn new(layer: impl Layer + 'static) -> Self {
        Self::from_box(Box::new(layer))
    }

    /// Wraps a boxed layer (a layer rebuilt from its saved configuration).
    pub fn from_box(layer: Box<dyn Layer>) -> Self {
        SharedLayer {
            layer,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The wrapped layer.
    pub fn layer(&self) -> &dyn Layer {
        self.layer.as_ref()
    }

    /// Applies the layer to `x` (another application with the same parameters).
    pub fn apply(&self, x: &SymbolicTensor) -> SymbolicTensor {
        self.apply_to(None, &[x])
    }

    /// Same, with a name for summaries (the parameters keep the first application's name).
    pub fn apply_named(&self, name: &str, x: &SymbolicTensor) -> SymbolicTensor {
        self.apply_to(Some(name.to_string()), &[x])
    }

    /// Applies the layer to several inputs (merge layers).
    pub fn apply_to(&self, name: Option<String>, inputs: &[&SymbolicTensor]) -> SymbolicTensor {
        let graph = match inputs.first() {
            Some(first) => first.graph.clone(),
            None => super::Graph::new(),
        };
        graph.push(NodeDef {
            name,
            layer: Some(self.layer.clone_box()),
            input_shape: Shape::default(),
            dtype: DType::F32,
            inputs: inputs.iter().map(|&s| s.clone()).collect(),
            shared: Some(self.id),
        })
    }
}
