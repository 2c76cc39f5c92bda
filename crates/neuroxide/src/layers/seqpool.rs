//! Sequence pooling layer: `[T, d]` → `[d]` by the mean over positions or the first position
//! (`ops::seqpool`), for sequence classification over a transformer's outputs.

use super::{expect_inputs, GradIo, Io, Layer, LayerCtx};
use crate::error::{Error, Result};
pub use crate::ops::seqpool::SeqPoolMode;
use crate::ops::seqpool::{seqpool_backward, seqpool_forward, SeqPool};
use crate::shape::Shape;
use serde_json::json;

/// Pools a `[T, d]` sample into `[d]`.
#[derive(Clone, Debug)]
pub struct SequencePooling {
    pub mode: SeqPoolMode,
}

impl SequencePooling {
    /// The mean over positions.
    pub fn mean() -> Self {
        SequencePooling {
            mode: SeqPoolMode::Mean,
        }
    }
    /// The first position (a class token).
    pub fn first() -> Self {
        SequencePooling {
            mode: SeqPoolMode::First,
        }
    }
    fn op(&self, batch: usize, s: &Shape) -> SeqPool {
        SeqPool {
            mode: self.mode,
            batch,
            seq: s.dims()[0],
            dim: s.last(),
        }
    }
}

impl Layer for SequencePooling {
    fn kind(&self) -> &'static str {
        "SequencePooling"
    }
    fn config(&self) -> serde_json::Value {
        json!({"mode": self.mode})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        let s = &inputs[0];
        if s.rank() != 2 || s.numel() == 0 {
            return Err(Error::Shape(format!(
                "SequencePooling expects [positions, features] per sample, got {s}"
            )));
        }
        Ok(Shape::new([s.last()]))
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let op = self.op(ctx.batch, &io.input_shapes[0]);
        seqpool_forward(ctx.backend, &op, io.inputs[0], io.output)
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        if let Some(dx) = g.grad_inputs[0] {
            let op = self.op(ctx.batch, &io.input_shapes[0]);
            seqpool_backward(ctx.backend, &op, g.grad_output, dx)?;
        }
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
