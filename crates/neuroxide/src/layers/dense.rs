//! Dense (fully connected) layer with a fused activation: `y = act(x·W + b)` in one matmul
//! kernel. Applies to the last axis, so `[T, d]` inputs work row by row.

use super::{expect_inputs, GradIo, Initializer, Io, Layer, LayerCtx, ParamSpec};
use crate::backend::Activation;
use crate::error::{Error, Result};
use crate::ops;
use crate::ops::elementwise::{self, ActivationBackward};
use crate::ops::matmul::Matmul;
use crate::ops::reduce::{column_sums, ColumnSums};
use crate::shape::Shape;
use serde_json::json;

/// A fully connected layer; the kernel `W` is `[in, units]` (Keras layout).
#[derive(Clone, Debug)]
pub struct Dense {
    pub units: usize,
    pub activation: Activation,
    pub use_bias: bool,
    pub kernel_init: Initializer,
    pub bias_init: Initializer,
}

impl Dense {
    /// `units` outputs, linear activation, bias, Glorot-uniform kernel, zero bias (Keras).
    pub fn new(units: usize) -> Self {
        Dense {
            units,
            activation: Activation::Linear,
            use_bias: true,
            kernel_init: Initializer::GlorotUniform,
            bias_init: Initializer::Zeros,
        }
    }
    /// Sets the fused activation.
    pub fn activation(mut self, act: Activation) -> Self {
        self.activation = act;
        self
    }
    /// Shorthand for `.activation(Activation::Relu)`.
    pub fn relu(self) -> Self {
        self.activation(Activation::Relu)
    }
    /// Removes the bias.
    pub fn no_bias(mut self) -> Self {
        self.use_bias = false;
        self
    }
    /// Sets the kernel initialiser.
    pub fn kernel_init(mut self, init: Initializer) -> Self {
        self.kernel_init = init;
        self
    }
    /// Sets the bias initialiser.
    pub fn bias_init(mut self, init: Initializer) -> Self {
        self.bias_init = init;
        self
    }
    fn fused(&self) -> bool {
        self.activation != Activation::Linear
    }
}

impl Layer for Dense {
    fn kind(&self) -> &'static str {
        "Dense"
    }
    fn config(&self) -> serde_json::Value {
        json!({"units": self.units, "activation": self.activation, "use_bias": self.use_bias,
               "kernel_init": self.kernel_init, "bias_init": self.bias_init})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        if self.units == 0 {
            return Err(Error::Shape("units must be at least 1".into()));
        }
        let s = &inputs[0];
        if s.rank() == 0 || s.last() == 0 {
            return Err(Error::Shape(format!(
                "input shape {s} has no feature axis to apply to"
            )));
        }
        let mut d = s.dims().to_vec();
        if let Some(last) = d.last_mut() {
            *last = self.units;
        }
        Ok(Shape(d))
    }
    fn params(&self, inputs: &[Shape]) -> Vec<ParamSpec> {
        let fan_in = inputs.first().map_or(1, Shape::last);
        let mut p = vec![ParamSpec {
            name: "kernel",
            shape: Shape::new([fan_in, self.units]),
            init: self.kernel_init,
            fan_in,
            fan_out: self.units,
        }];
        if self.use_bias {
            p.push(ParamSpec {
                name: "bias",
                shape: Shape::new([self.units]),
                init: self.bias_init,
                fan_in,
                fan_out: self.units,
            });
        }
        p
    }
    fn workspace(&self, _inputs: &[Shape], output: &Shape) -> Vec<usize> {
        // [pre-activation z, gradient dz] when an activation is fused.
        if self.fused() {
            vec![output.numel(), output.numel()]
        } else {
            Vec::new()
        }
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let k = io.input_shapes[0].last();
        let rows = ctx.batch * io.output_shape.numel() / self.units;
        ops::matmul::matmul(
            ctx.backend,
            &Matmul {
                m: rows,
                n: self.units,
                k,
                a: io.inputs[0],
                a_trans: false,
                b: io.params[0],
                b_trans: false,
                c: io.output,
                bias: self.use_bias.then(|| io.params[1]),
                pre_act: self.fused().then(|| io.workspace[0]),
                act: self.activation,
            },
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let k = io.input_shapes[0].last();
        let n = self.units;
        let rows = ctx.batch * io.output_shape.numel() / n;
        // dz = dy * act'(z): the gradient at the pre-activation.
        let dz = if self.fused() {
            elementwise::activation_backward(
                ctx.backend,
                &ActivationBackward {
                    act: self.activation,
                    x: io.workspace[0],
                    y: io.output,
                    dy: g.grad_output,
                    dx: io.workspace[1],
                    n: rows * n,
                },
            )?;
            io.workspace[1]
        } else {
            g.grad_output
        };
        // dW = xᵀ · dz   (k × n, reduction over the batch rows in order)
        ops::matmul::matmul(
            ctx.backend,
            &Matmul {
                m: k,
                n,
                k: rows,
                a: io.inputs[0],
                a_trans: true,
                b: dz,
                b_trans: false,
                c: g.grad_params[0],
                bias: None,
                pre_act: None,
                act: Activation::Linear,
            },
        )?;
        // db = Σ_rows dz (chunked order over the rows)
        if self.use_bias {
            let sums = ColumnSums {
                x: dz,
                out: g.grad_params[1],
                rows,
                cols: n,
            };
            column_sums(ctx.backend, &sums)?;
        }
        // dx = dz · Wᵀ
        if let Some(dx) = g.grad_inputs[0] {
            ops::matmul::matmul(
                ctx.backend,
                &Matmul {
                    m: rows,
                    n: k,
                    k: n,
                    a: dz,
                    a_trans: false,
                    b: io.params[0],
                    b_trans: true,
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
