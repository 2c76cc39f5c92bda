//! Inverted dropout with Philox masks keyed by (model seed, node, step), so masks are the same
//! on every backend and thread count. Identity at inference.

use super::{copy, expect_inputs, GradIo, Io, Layer, LayerCtx};
use crate::error::{Error, Result};
use crate::ops::dropout::{self, DropoutForward};
use crate::ops::elementwise;
use crate::shape::Shape;

/// Drops each value with probability `rate` during training and scales the rest by
/// `1 / (1 - rate)`.
#[derive(Clone, Debug)]
pub struct Dropout {
    pub rate: f32,
}

impl Dropout {
    /// Dropout with the given drop probability in `[0, 1)`.
    pub fn new(rate: f32) -> Self {
        Dropout { rate }
    }
}

impl Layer for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "rate": self.rate })
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::Shape(format!(
                "rate must be in [0, 1), got {}",
                self.rate
            )));
        }
        Ok(inputs[0].clone())
    }
    fn workspace(&self, _inputs: &[Shape], output: &Shape) -> Vec<usize> {
        vec![output.numel()]
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let n = ctx.batch * io.output_shape.numel();
        if !ctx.training || self.rate == 0.0 {
            return copy(ctx.backend, io.inputs[0], io.output, n);
        }
        let scale = 1.0 / (1.0 - self.rate);
        dropout::forward(
            ctx.backend,
            &DropoutForward {
                x: io.inputs[0],
                y: io.output,
                mask: io.workspace[0],
                n,
                p: self.rate,
                scale,
                seed: ctx.seed,
                stream: ctx.node,
                step: ctx.step as u32,
                step_block: ctx.step_block,
            },
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let Some(dx) = g.grad_inputs[0] else {
            return Ok(());
        };
        let n = ctx.batch * io.output_shape.numel();
        if !ctx.training || self.rate == 0.0 {
            return copy(ctx.backend, g.grad_output, dx, n);
        }
        elementwise::mul(ctx.backend, g.grad_output, io.workspace[0], dx, n)
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
