//! Spatial dropout (Keras' SpatialDropout2D, PyTorch's Dropout2d): drops whole channels of
//! `[C, H, W]` (or `[C, L]`) samples, because neighbouring pixels of a feature map are strongly
//! correlated and per-value dropout barely regularises them.
//!
//! What forward saves: the per-(image, channel) mask (workspace 1), drawn with the dropout
//! kernel of the backend (Philox keyed by model seed, node and step, so every backend and
//! thread count draws the same channels) over a vector of ones (workspace 0). Backward scales
//! the output gradient by the same mask.

use super::{copy, expect_inputs, GradIo, Io, Layer, LayerCtx};
use crate::error::{Error, Result};
use crate::ops::channel::{channel_scale, ChannelScale};
use crate::ops::dropout::{self, DropoutForward};
use crate::ops::elementwise;
use crate::shape::Shape;

/// Drops each channel with probability `rate` during training and scales the kept ones by
/// `1 / (1 - rate)`; identity at inference.
#[derive(Clone, Debug)]
pub struct SpatialDropout2D {
    pub rate: f32,
}

impl SpatialDropout2D {
    /// Spatial dropout with the given drop probability in `[0, 1)`.
    pub fn new(rate: f32) -> Self {
        SpatialDropout2D { rate }
    }
    fn channels(input: &Shape) -> Result<(usize, usize)> {
        match input.dims() {
            [c, rest @ ..] if !rest.is_empty() => Ok((*c, rest.iter().product())),
            _ => Err(Error::layer(
                "SpatialDropout2D",
                format!("expects samples of shape [channels, height, width], got {input}"),
            )),
        }
    }
    fn scale_args(
        &self,
        ctx: &LayerCtx,
        io: &Io,
        x: crate::BufId,
        y: crate::BufId,
    ) -> Result<ChannelScale> {
        let (channels, plane) = Self::channels(&io.input_shapes[0])?;
        Ok(ChannelScale {
            batch: ctx.batch,
            channels,
            plane,
            x,
            s: io.workspace[1],
            y,
        })
    }
}

impl Layer for SpatialDropout2D {
    fn kind(&self) -> &'static str {
        "SpatialDropout2D"
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "rate": self.rate })
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::layer(
                "SpatialDropout2D",
                format!("rate must be in [0, 1), got {}", self.rate),
            ));
        }
        Self::channels(&inputs[0])?;
        Ok(inputs[0].clone())
    }
    fn workspace(&self, inputs: &[Shape], _output: &Shape) -> Vec<usize> {
        let c = inputs
            .first()
            .and_then(|s| s.dims().first().copied())
            .unwrap_or(1);
        // [ones, mask]
        vec![c, c]
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let n = ctx.batch * io.output_shape.numel();
        if !ctx.training || self.rate == 0.0 {
            return copy(ctx.backend, io.inputs[0], io.output, n);
        }
        let (channels, _) = Self::channels(&io.input_shapes[0])?;
        let rows = ctx.batch * channels;
        let scale = 1.0 / (1.0 - self.rate);
        // The mask alone: dropout of a vector of ones writes mask = keep ? scale : 0 (and a
        // copy of it into workspace 0, which is refilled with ones next step).
        elementwise::fill(ctx.backend, io.workspace[0], rows, 1.0)?;
        dropout::forward(
            ctx.backend,
            &DropoutForward {
                x: io.workspace[0],
                y: io.output,
                mask: io.workspace[1],
                n: rows,
                p: self.rate,
                scale,
                seed: ctx.seed,
                stream: ctx.node,
                step: ctx.step as u32,
                step_block: ctx.step_block,
            },
        )?;
        let a = self.scale_args(ctx, io, io.inputs[0], io.output)?;
        channel_scale(ctx.backend, &a)
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let Some(dx) = g.grad_inputs[0] else {
            return Ok(());
        };
        let n = ctx.batch * io.output_shape.numel();
        if !ctx.training || self.rate == 0.0 {
            return copy(ctx.backend, g.grad_output, dx, n);
        }
        let a = self.scale_args(ctx, io, g.grad_output, dx)?;
        channel_scale(ctx.backend, &a)
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
