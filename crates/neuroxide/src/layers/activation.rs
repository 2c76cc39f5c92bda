//! Standalone activation layers: elementwise activations and row-wise softmax / log-softmax
//! (over the last axis).

use super::{expect_inputs, GradIo, Io, Layer, LayerCtx};
use crate::backend::Activation;
use crate::error::{Error, Result};
use crate::ops::elementwise::{self, ActivationBackward, ActivationForward};
use crate::ops::softmax::{self, Softmax, SoftmaxBackward};
use crate::shape::Shape;
use serde::{Deserialize, Serialize};

/// What an [`ActivationLayer`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActivationOp {
    Elementwise(Activation),
    Softmax,
    LogSoftmax,
}

/// An activation applied as its own layer.
#[derive(Clone, Debug)]
pub struct ActivationLayer {
    pub op: ActivationOp,
}

impl ActivationLayer {
    /// An elementwise activation layer.
    pub fn new(act: Activation) -> Self {
        ActivationLayer {
            op: ActivationOp::Elementwise(act),
        }
    }
    /// Softmax over the last axis.
    pub fn softmax() -> Self {
        ActivationLayer {
            op: ActivationOp::Softmax,
        }
    }
    /// Log-softmax over the last axis.
    pub fn log_softmax() -> Self {
        ActivationLayer {
            op: ActivationOp::LogSoftmax,
        }
    }
    /// Parses `relu`, `softmax`, `log_softmax`, … (see [`Activation::parse`]).
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "softmax" => Ok(Self::softmax()),
            "log_softmax" | "logsoftmax" => Ok(Self::log_softmax()),
            _ => Activation::parse(name)
                .map(Self::new)
                .ok_or_else(|| Error::invalid(format!("unknown activation '{name}'"))),
        }
    }
}

impl Layer for ActivationLayer {
    fn kind(&self) -> &'static str {
        "Activation"
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "op": self.op })
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        Ok(inputs[0].clone())
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let n = ctx.batch * io.output_shape.numel();
        let cols = io.output_shape.last();
        match self.op {
            ActivationOp::Elementwise(a) => elementwise::activation_forward(
                ctx.backend,
                &ActivationForward {
                    act: a,
                    x: io.inputs[0],
                    y: io.output,
                    n,
                },
            ),
            ActivationOp::Softmax | ActivationOp::LogSoftmax => softmax::forward(
                ctx.backend,
                &Softmax {
                    log: self.op == ActivationOp::LogSoftmax,
                    x: io.inputs[0],
                    y: io.output,
                    rows: n / cols,
                    cols,
                },
            ),
        }
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let Some(dx) = g.grad_inputs[0] else {
            return Ok(());
        };
        let n = ctx.batch * io.output_shape.numel();
        let cols = io.output_shape.last();
        match self.op {
            ActivationOp::Elementwise(a) => elementwise::activation_backward(
                ctx.backend,
                &ActivationBackward {
                    act: a,
                    x: io.inputs[0],
                    y: io.output,
                    dy: g.grad_output,
                    dx,
                    n,
                },
            ),
            ActivationOp::Softmax | ActivationOp::LogSoftmax => softmax::backward(
                ctx.backend,
                &SoftmaxBackward {
                    log: self.op == ActivationOp::LogSoftmax,
                    y: io.output,
                    dy: g.grad_output,
                    dx,
                    rows: n / cols,
                    cols,
                },
            ),
        }
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
