//! The token embedding read the other way round: `[..., dim]` features → `[..., vocab]` logits
//! `x · tableᵀ` against a `[vocab, dim]` table (Flax's `Embed.attend`). Applied through
//! [`crate::graph::SharedLayer::attend`] it uses the embedding's own table, which is weight
//! tying of the output head with the token embedding (PyTorch's
//! `head.weight = tok_emb.weight`): one parameter, two uses, gradients summed by the executor
//! in the documented order of shared layers. Applied on its own it is a bias-free output layer
//! whose kernel is stored transposed.
//!
//! Exact arithmetic: three plain matmuls, each with the sequential order over its `k` of
//! [`crate::ops::matmul::Matmul`]:
//! - forward `logits[r, v] = Σ_p x[r, p] · table[v, p]` (p = 0..dim in order);
//! - `dtable[v, p] = Σ_r dlogits[r, v] · x[r, p]` (r = 0..rows in order);
//! - `dx[r, p] = Σ_v dlogits[r, v] · table[v, p]` (v = 0..vocab in order).

use super::embedding::{check_table, table_spec};
use super::{expect_inputs, GradIo, Initializer, Io, Layer, LayerCtx, ParamSpec};
use crate::backend::Activation;
use crate::error::{Error, Result};
use crate::ops::matmul::{matmul, Matmul};
use crate::shape::Shape;
use serde_json::json;

/// `[..., dim]` → `[..., vocab]` logits against a `[vocab, dim]` table (the tied output head).
#[derive(Clone, Debug)]
pub struct EmbeddingAttend {
    pub vocab: usize,
    pub dim: usize,
    /// The table's initialiser when this layer owns it (not when it shares an embedding's).
    pub init: Initializer,
}

impl EmbeddingAttend {
    /// Logits over `vocab` tokens from `dim` features; the table initialised like
    /// [`super::Embedding`]'s (uniform in ±0.05) when the layer owns it.
    pub fn new(vocab: usize, dim: usize) -> Self {
        EmbeddingAttend {
            vocab,
            dim,
            init: Initializer::Uniform(0.05),
        }
    }
}

impl Layer for EmbeddingAttend {
    fn kind(&self) -> &'static str {
        "EmbeddingAttend"
    }
    fn config(&self) -> serde_json::Value {
        json!({"vocab": self.vocab, "dim": self.dim, "init": self.init})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        check_table("EmbeddingAttend", self.vocab, self.dim)?;
        let s = &inputs[0];
        if s.rank() == 0 || s.last() != self.dim {
            return Err(Error::Shape(format!(
                "EmbeddingAttend reads features of width {} (the embedding dimension), got {s}",
                self.dim
            )));
        }
        let mut d = s.dims().to_vec();
        if let Some(last) = d.last_mut() {
            *last = self.vocab;
        }
        Ok(Shape(d))
    }
    fn params(&self, _inputs: &[Shape]) -> Vec<ParamSpec> {
        // Embedding's declaration, so a shared table fits both.
        vec![table_spec(self.vocab, self.dim, self.init)]
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let rows = ctx.batch * io.output_shape.numel() / self.vocab;
        matmul(
            ctx.backend,
            &Matmul {
                m: rows,
                n: self.vocab,
                k: self.dim,
                a: io.inputs[0],
                a_trans: false,
                b: io.params[0],
                b_trans: true,
                c: io.output,
                bias: None,
                pre_act: None,
                act: Activation::Linear,
            },
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let rows = ctx.batch * io.output_shape.numel() / self.vocab;
        // dtable = dlogitsᵀ · x   (vocab × dim, reduction over the rows in order)
        matmul(
            ctx.backend,
            &Matmul {
                m: self.vocab,
                n: self.dim,
                k: rows,
                a: g.grad_output,
                a_trans: true,
                b: io.inputs[0],
                b_trans: false,
                c: g.grad_params[0],
                bias: None,
                pre_act: None,
                act: Activation::Linear,
            },
        )?;
        // dx = dlogits · table   (rows × dim, reduction over the vocabulary in order)
        if let Some(dx) = g.grad_inputs[0] {
            matmul(
                ctx.backend,
                &Matmul {
                    m: rows,
                    n: self.dim,
                    k: self.vocab,
                    a: g.grad_output,
                    a_trans: false,
                    b: io.params[0],
                    b_trans: false,
                    c: dx,
                    bias: None,
                    pre_act: None,
                    act: Activation::Linear,
                },
            )?;
        }
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
