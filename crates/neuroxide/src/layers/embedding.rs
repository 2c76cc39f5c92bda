//! Token embedding (a table lookup by integer id) and the learned positional embedding added
//! to it. Token ids are i32 from the data layer to the kernel (the model input is declared
//! with `Graph::input_ids`); a negative or out-of-range id is rejected on the host when the
//! batch enters the model ([`Layer::check_input`]).

use super::{expect_inputs, GradIo, Initializer, Io, Layer, LayerCtx, ParamSpec};
use crate::dtype::{DType, HostData};
use crate::error::{Error, Result};
use crate::ops::elementwise;
use crate::ops::embedding::{
    add_position, check_ids, embedding_backward, embedding_forward, AddPosition, EmbeddingBackward,
    EmbeddingGather,
};
use crate::ops::reduce::{column_sums, ColumnSums};
use crate::shape::Shape;
use serde_json::json;

/// The `[vocab, dim]` table a token embedding declares. [`super::EmbeddingAttend`] declares
/// the same, so one shared table fits both (weight tying).
pub(super) fn table_spec(vocab: usize, dim: usize, init: Initializer) -> ParamSpec {
    ParamSpec {
        name: "table",
        shape: Shape::new([vocab, dim]),
        init,
        fan_in: vocab,
        fan_out: dim,
    }
}

/// A table needs at least one row and one column; `layer` names the layer in the error.
pub(super) fn check_table(layer: &str, vocab: usize, dim: usize) -> Result<()> {
    if vocab == 0 || dim == 0 {
        return Err(Error::Shape(format!(
            "{layer} needs a vocabulary and a dimension of at least 1, got vocab {vocab} and \
             dim {dim}"
        )));
    }
    Ok(())
}

/// `[..., ]` token ids → `[..., dim]` vectors from a `[vocab, dim]` table.
#[derive(Clone, Debug)]
pub struct Embedding {
    pub vocab: usize,
    pub dim: usize,
    pub init: Initializer,
}

impl Embedding {
    /// A table of `vocab` rows of `dim` values, initialised uniformly in ±0.05 (Keras).
    pub fn new(vocab: usize, dim: usize) -> Self {
        Embedding {
            vocab,
            dim,
            init: Initializer::Uniform(0.05),
        }
    }
}

impl Layer for Embedding {
    fn kind(&self) -> &'static str {
        "Embedding"
    }
    fn config(&self) -> serde_json::Value {
        json!({"vocab": self.vocab, "dim": self.dim, "init": self.init})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        check_table("Embedding", self.vocab, self.dim)?;
        let mut d = inputs[0].dims().to_vec();
        d.push(self.dim);
        Ok(Shape(d))
    }
    fn params(&self, _inputs: &[Shape]) -> Vec<ParamSpec> {
        vec![table_spec(self.vocab, self.dim, self.init)]
    }
    fn input_dtype(&self, _input: usize) -> DType {
        DType::I32
    }
    fn check_input(&self, _input: usize, values: HostData<'_>) -> Result<()> {
        match values {
            HostData::I32(ids) => check_ids("Embedding", ids, self.vocab),
            other => Err(Error::invalid(format!(
                "Embedding takes i32 token ids, got {} values",
                other.dtype()
            ))),
        }
    }
    fn tied_output(&self) -> Option<Box<dyn Layer>> {
        Some(Box::new(super::EmbeddingAttend {
            vocab: self.vocab,
            dim: self.dim,
            init: self.init,
        }))
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        embedding_forward(
            ctx.backend,
            &EmbeddingGather {
                ids: io.inputs[0],
                table: io.params[0],
                out: io.output,
                rows: ctx.batch * io.input_shapes[0].numel(),
                vocab: self.vocab,
                dim: self.dim,
            },
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let rows = ctx.batch * io.input_shapes[0].numel();
        embedding_backward(
            ctx.backend,
            &EmbeddingBackward {
                ids: io.inputs[0],
                grad_out: g.grad_output,
                grad_table: g.grad_params[0],
                rows,
                vocab: self.vocab,
                dim: self.dim,
            },
        )?;
        // Ids are not differentiable: their gradient is zero.
        if let Some(dx) = g.grad_inputs[0] {
            elementwise::fill(ctx.backend, dx, rows, 0.0)?;
        }
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

/// Adds a learned `[T, d]` table to a `[T, d]` input (GPT's position embedding). The table's
/// shape comes from the input (lazy), so the layer needs no arguments.
#[derive(Clone, Debug)]
pub struct PositionEmbedding {
    pub init: Initializer,
}

impl PositionEmbedding {
    /// Initialised uniformly in ±0.05.
    pub fn new() -> Self {
        PositionEmbedding {
            init: Initializer::Uniform(0.05),
        }
    }
}

impl Default for PositionEmbedding {
    fn default() -> Self {
        Self::new()
    }
}

impl Layer for PositionEmbedding {
    fn kind(&self) -> &'static str {
        "PositionEmbedding"
    }
    fn config(&self) -> serde_json::Value {
        json!({"init": self.init})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        if inputs[0].rank() != 2 {
            return Err(Error::Shape(format!(
                "PositionEmbedding expects [positions, features] per sample, got {}",
                inputs[0]
            )));
        }
        Ok(inputs[0].clone())
    }
    fn params(&self, inputs: &[Shape]) -> Vec<ParamSpec> {
        let s = inputs.first().cloned().unwrap_or_default();
        vec![ParamSpec {
            name: "table",
            fan_in: s.dims().first().copied().unwrap_or(1),
            fan_out: s.last(),
            shape: s,
            init: self.init,
        }]
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        add_position(
            ctx.backend,
            &AddPosition {
                x: io.inputs[0],
                pos: io.params[0],
                out: io.output,
                batch: ctx.batch,
                n: io.output_shape.numel(),
            },
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let n = io.output_shape.numel();
        column_sums(
            ctx.backend,
            &ColumnSums {
                x: g.grad_output,
                out: g.grad_params[0],
                rows: ctx.batch,
                cols: n,
            },
        )?;
        if let Some(dx) = g.grad_inputs[0] {
            super::copy(ctx.backend, g.grad_output, dx, ctx.batch * n)?;
        }
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
