//! Normalisation over the last axis: LayerNorm with a learned scale and shift (the forward
//! saves each row's mean and reciprocal standard deviation for the backward; orders in
//! `ops::layernorm`) and RMSNorm with a learned scale (`ops::rmsnorm`).

use super::{expect_inputs, GradIo, Initializer, Io, Layer, LayerCtx, ParamSpec};
use crate::error::{Error, Result};
use crate::ops::layernorm::{
    layernorm_backward, layernorm_forward, LayerNormBackward, LayerNormForward,
};
use crate::ops::rmsnorm::{rmsnorm_backward, rmsnorm_forward, RmsNormBackward, RmsNormForward};
use crate::shape::Shape;
use serde_json::json;

/// The output shape of a normalisation over the last axis: the input's, which needs a
/// non-empty feature axis.
fn feature_axis_shape(kind: &str, inputs: &[Shape]) -> Result<Shape> {
    expect_inputs(inputs, 1)?;
    let s = &inputs[0];
    if s.rank() == 0 || s.last() == 0 {
        return Err(Error::Shape(format!(
            "{kind} needs a feature axis, got input shape {s}"
        )));
    }
    Ok(s.clone())
}

/// A per-feature parameter vector of `d` values (scale or shift).
fn feature_param(name: &'static str, d: usize, init: Initializer) -> ParamSpec {
    ParamSpec {
        name,
        shape: Shape::new([d]),
        init,
        fan_in: d,
        fan_out: d,
    }
}

/// `y = (x - mean) / sqrt(var + eps) * gamma + beta` per row of the last axis.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub eps: f32,
}

impl LayerNorm {
    /// `eps = 1e-5` (PyTorch's default).
    pub fn new() -> Self {
        LayerNorm { eps: 1e-5 }
    }
}

impl Default for LayerNorm {
    fn default() -> Self {
        Self::new()
    }
}

impl Layer for LayerNorm {
    fn kind(&self) -> &'static str {
        "LayerNorm"
    }
    fn config(&self) -> serde_json::Value {
        json!({"eps": self.eps})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        feature_axis_shape("LayerNorm", inputs)
    }
    fn params(&self, inputs: &[Shape]) -> Vec<ParamSpec> {
        let d = inputs.first().map_or(1, Shape::last);
        let spec = |name, init| feature_param(name, d, init);
        vec![
            spec("gamma", Initializer::Ones),
            spec("beta", Initializer::Zeros),
        ]
    }
    fn workspace(&self, inputs: &[Shape], _output: &Shape) -> Vec<usize> {
        // [mean, rstd, dx scratch for a LayerNorm fed by a model input (no input gradient)]
        let rows = inputs[0].numel() / inputs[0].last();
        vec![rows, rows, inputs[0].numel()]
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let dim = io.input_shapes[0].last();
        layernorm_forward(
            ctx.backend,
            &LayerNormForward {
                x: io.inputs[0],
                gamma: io.params[0],
                beta: io.params[1],
                y: io.output,
                mean: io.workspace[0],
                rstd: io.workspace[1],
                rows: ctx.batch * io.input_shapes[0].numel() / dim,
                dim,
                eps: self.eps,
            },
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let dim = io.input_shapes[0].last();
        let rows = ctx.batch * io.input_shapes[0].numel() / dim;
        // The kernel always writes dx: into the scratch when the input needs no gradient.
        let dx = g.grad_inputs[0].unwrap_or(io.workspace[2]);
        layernorm_backward(
            ctx.backend,
            &LayerNormBackward {
                x: io.inputs[0],
                gamma: io.params[0],
                mean: io.workspace[0],
                rstd: io.workspace[1],
                dy: g.grad_output,
                dx,
                dgamma: g.grad_params[0],
                dbeta: g.grad_params[1],
                rows,
                dim,
            },
        )
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

/// `y = x / sqrt(mean(x²) + eps) * gamma` per row of the last axis (RMSNorm, as in LLaMA).
#[derive(Clone, Debug)]
pub struct RmsNorm {
    pub eps: f32,
}

impl RmsNorm {
    /// `eps = 1e-6`.
    pub fn new() -> Self {
        RmsNorm { eps: 1e-6 }
    }
}

impl Default for RmsNorm {
    fn default() -> Self {
        Self::new()
    }
}

impl Layer for RmsNorm {
    fn kind(&self) -> &'static str {
        "RmsNorm"
    }
    fn config(&self) -> serde_json::Value {
        json!({"eps": self.eps})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        feature_axis_shape("RmsNorm", inputs)
    }
    fn params(&self, inputs: &[Shape]) -> Vec<ParamSpec> {
        let d = inputs.first().map_or(1, Shape::last);
        vec![feature_param("gamma", d, Initializer::Ones)]
    }
    fn workspace(&self, inputs: &[Shape], _output: &Shape) -> Vec<usize> {
        // [rrms, dx scratch for an RmsNorm fed by a model input]
        vec![inputs[0].numel() / inputs[0].last(), inputs[0].numel()]
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let dim = io.input_shapes[0].last();
        rmsnorm_forward(
            ctx.backend,
            &RmsNormForward {
                x: io.inputs[0],
                gamma: io.params[0],
                y: io.output,
                rrms: io.workspace[0],
                rows: ctx.batch * io.input_shapes[0].numel() / dim,
                dim,
                eps: self.eps,
            },
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let dim = io.input_shapes[0].last();
        rmsnorm_backward(
            ctx.backend,
            &RmsNormBackward {
                x: io.inputs[0],
                gamma: io.params[0],
                rrms: io.workspace[0],
                dy: g.grad_output,
                dx: g.grad_inputs[0].unwrap_or(io.workspace[1]),
                dgamma: g.grad_params[0],
                rows: ctx.batch * io.input_shapes[0].numel() / dim,
                dim,
            },
        )
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
