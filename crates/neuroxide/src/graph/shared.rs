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
//! **Weight tying** (a language model's output head reading the token embedding's table, as
//! PyTorch's `head.weight = tok_emb.weight` or Flax's `Embed.attend`): [`SharedLayer::attend`]
//! applies the layer's [`Layer::tied_output`] — for an Embedding, logits `x · tableᵀ` — with
//! the same parameters. The gradient order above holds unchanged: with the embedding applied
//! first and the head last, `grad(table) = g_head + g_embedding`.
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
use crate::error::{Error, Result};
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
        self.push(self.layer.clone_box(), name, inputs)
    }

    /// Applies the layer's tied form ([`Layer::tied_output`]) to `x` with the same parameters:
    /// for a shared [`crate::layers::Embedding`], the output head `x · tableᵀ`
    /// ([`crate::layers::EmbeddingAttend`]). An error for a layer that has no tied form.
    ///
    /// ```
    /// use neuroxide::graph::{Graph, SharedLayer};
    /// use neuroxide::layers::Embedding;
    /// let g = Graph::new();
    /// let ids = g.input_ids([8]);
    /// let tokens = SharedLayer::new(Embedding::new(50, 16));
    /// let logits = tokens.attend(&tokens.apply(&ids)).unwrap();
    /// let model = neuroxide::Model::new(&[&ids], &[&logits]).unwrap();
    /// assert_eq!(model.param_count(), 50 * 16);
    /// ```
    pub fn attend(&self, x: &SymbolicTensor) -> Result<SymbolicTensor> {
        self.attend_to(None, x)
    }

    /// Same, with a name for summaries.
    pub fn attend_named(&self, name: &str, x: &SymbolicTensor) -> Result<SymbolicTensor> {
        self.attend_to(Some(name.to_string()), x)
    }

    fn attend_to(&self, name: Option<String>, x: &SymbolicTensor) -> Result<SymbolicTensor> {
        let tied = self.layer.tied_output().ok_or_else(|| {
            Error::invalid(format!(
                "SharedLayer::attend: a {} layer has no tied output form (an Embedding has: \
                 x · tableᵀ)",
                self.layer.kind()
            ))
        })?;
        Ok(self.push(tied, name, &[x]))
    }

    /// Whether `kind` with `config` is this layer or its tied form: what a later application
    /// of it may be (checked when a saved architecture is rebuilt).
    pub(crate) fn admits(&self, kind: &str, config: &serde_json::Value) -> bool {
        let same = |l: &dyn Layer| l.kind() == kind && l.config() == *config;
        same(self.layer()) || self.layer.tied_output().is_some_and(|t| same(t.as_ref()))
    }

    /// Applies `layer` (this layer or its tied form) with this layer's parameters.
    pub(crate) fn push(
        &self,
        layer: Box<dyn Layer>,
        name: Option<String>,
        inputs: &[&SymbolicTensor],
    ) -> SymbolicTensor {
        let graph = match inputs.first() {
            Some(first) => first.graph.clone(),
            None => super::Graph::new(),
        };
        graph.push(NodeDef {
            name,
            layer: Some(layer),
            input_shape: Shape::default(),
            dtype: DType::F32,
            inputs: inputs.iter().map(|&s| s.clone()).collect(),
            shared: Some(self.id),
        })
    }
}
