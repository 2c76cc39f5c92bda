//! `Sequential`: a stack of layers, as sugar over the functional graph.

use super::{Graph, Model};
use crate::error::Result;
use crate::layers::Layer;
use crate::shape::Shape;

/// A linear stack of layers with one input and one output.
pub struct Sequential {
    input: Shape,
    layers: Vec<Box<dyn Layer>>,
}

impl Sequential {
    /// A stack whose input samples have `input` shape (no batch axis).
    pub fn new(input: impl Into<Shape>) -> Self {
        Sequential {
            input: input.into(),
            layers: Vec::new(),
        }
    }
    /// Appends a layer.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Layer + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }
    /// Appends a boxed layer.
    pub fn add_boxed(mut self, layer: Box<dyn Layer>) -> Self {
        self.layers.push(layer);
        self
    }
    /// Builds the model: infers every shape and initialises the parameters with `seed`.
    pub fn build(self, seed: u64) -> Result<Model> {
        let g = Graph::new();
        let x = g.input(self.input);
        let mut y = x.clone();
        for layer in self.layers {
            y = g.apply_layer(layer, None, &[&y]);
        }
        Model::with_seed(&[&x], &[&y], seed)
    }
}
