//! Conv2D and Conv1D: `y = act(conv(x, W) + b)` over NCHW samples (`[C, H, W]`, or `[C, L]`
//! for Conv1D, which runs the 2-D op with a height of 1), with stride, padding ("valid",
//! "same" or explicit), dilation and groups (depthwise when `groups == C == filters`).
//!
//! What forward saves: the pre-activation `z` (workspace 0) when an activation is fused.
//! What backward computes, in the math's order: `dz = dy · act'(z)` (workspace 1), then
//! `dW`, `db` from `x` and `dz` (chunked over N×OH×OW), then `dx` as a gather over `dz`.
//! The orders are those of `ops::conv`.

use super::{expect_inputs, GradIo, Initializer, Io, Layer, LayerCtx, ParamSpec};
use crate::backend::Activation;
use crate::error::{Error, Result};
use crate::ops::conv::{
    conv2d_backward_input, conv2d_backward_params, conv2d_forward, Conv2dBackwardInput,
    Conv2dBackwardParams, Conv2dForward, Conv2dGeom, MAX_KERNEL,
};
use crate::ops::elementwise::{self, ActivationBackward};
use crate::shape::Shape;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Zero padding of a convolution or pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Padding {
    /// No padding: only windows that fit inside the input.
    #[default]
    Valid,
    /// Output size `ceil(in / stride)`; the total padding is split with the extra row or
    /// column at the bottom/right (as Keras and TensorFlow do).
    Same,
    /// `(rows, columns)` of padding on both sides.
    Explicit(usize, usize),
}

/// Output length and leading padding along one axis, or `None` when the window does not fit.
pub(crate) fn resolve_axis(
    padding: Padding,
    axis: usize,
    input: usize,
    kernel: usize,
    stride: usize,
    dil: usize,
) -> Option<(usize, usize)> {
    let span = dil.checked_mul(kernel.checked_sub(1)?)?.checked_add(1)?;
    if stride == 0 {
        return None;
    }
    match padding {
        Padding::Valid => Conv2dGeom::out_len(input, kernel, stride, 0, dil).map(|o| (o, 0)),
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out.checked_sub(1)?) * stride + span).saturating_sub(input);
            Some((out, total / 2))
        }
        Padding::Explicit(ph, pw) => {
            let p = if axis == 0 { ph } else { pw };
            Conv2dGeom::out_len(input, kernel, stride, 2 * p, dil).map(|o| (o, p))
        }
    }
}

/// A 2-D convolution layer; the kernel is `[filters, C/groups, kh, kw]` (PyTorch's layout).
#[derive(Clone, Debug)]
pub struct Conv2D {
    pub filters: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: Padding,
    pub dilation: (usize, usize),
    pub groups: usize,
    pub activation: Activation,
    pub use_bias: bool,
    pub kernel_init: Initializer,
    pub bias_init: Initializer,
}

impl Conv2D {
    /// `filters` output channels, a `kh × kw` kernel, stride 1, no padding, no dilation, one
    /// group, linear activation, bias, Glorot-uniform kernel and zero bias (Keras defaults).
    pub fn new(filters: usize, kernel: (usize, usize)) -> Self {
        Conv2D {
            filters,
            kernel,
            stride: (1, 1),
            padding: Padding::Valid,
            dilation: (1, 1),
            groups: 1,
            activation: Activation::Linear,
            use_bias: true,
            kernel_init: Initializer::GlorotUniform,
            bias_init: Initializer::Zeros,
        }
    }
    pub fn stride(mut self, sh: usize, sw: usize) -> Self {
        self.stride = (sh, sw);
        self
    }
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    /// Shorthand for `.padding(Padding::Same)`.
    pub fn same(self) -> Self {
        self.padding(Padding::Same)
    }
    pub fn dilation(mut self, dh: usize, dw: usize) -> Self {
        self.dilation = (dh, dw);
        self
    }
    /// Channel groups (`groups == C == filters`: depthwise).
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    pub fn activation(mut self, act: Activation) -> Self {
        self.activation = act;
        self
    }
    /// Shorthand for `.activation(Activation::Relu)`.
    pub fn relu(self) -> Self {
        self.activation(Activation::Relu)
    }
    pub fn no_bias(mut self) -> Self {
        self.use_bias = false;
        self
    }
    pub fn kernel_init(mut self, init: Initializer) -> Self {
        self.kernel_init = init;
        self
    }
    pub fn bias_init(mut self, init: Initializer) -> Self {
        self.bias_init = init;
        self
    }
    fn fused(&self) -> bool {
        self.activation != Activation::Linear
    }

    /// The op geometry for input `[C, H, W]` and `batch` samples (`kind` names the layer in
    /// errors).
    fn geom(&self, kind: &str, input: &Shape, batch: usize) -> Result<Conv2dGeom> {
        let err = |m: String| Error::layer(kind, m);
        let d = input.dims();
        if d.len() != 3 {
            return Err(err(format!(
                "expects samples of shape [channels, height, width], got {input}"
            )));
        }
        let (c, h, w) = (d[0], d[1], d[2]);
        let (kh, kw) = self.kernel;
        if self.filters == 0 || self.groups == 0 {
            return Err(err("filters and groups must be at least 1".into()));
        }
        if kh == 0 || kw == 0 || kh > MAX_KERNEL || kw > MAX_KERNEL {
            return Err(err(format!(
                "kernel {kh}x{kw}: each side must be in 1..={MAX_KERNEL}"
            )));
        }
        if !c.is_multiple_of(self.groups) || !self.filters.is_multiple_of(self.groups) {
            return Err(err(format!(
                "{c} input channels and {} filters must both be divisible by groups = {}",
                self.filters, self.groups
            )));
        }
        let (sh, sw) = self.stride;
        let (dh, dw) = self.dilation;
        if sh == 0 || sw == 0 || dh == 0 || dw == 0 {
            return Err(err("stride and dilation must be at least 1".into()));
        }
        let axis = |a, n, k, s, dil| {
            resolve_axis(self.padding, a, n, k, s, dil).ok_or_else(|| {
                err(format!(
                    "a {kh}x{kw} kernel (dilation {dh}x{dw}, padding {:?}) does not fit input {input}",
                    self.padding
                ))
            })
        };
        let (oh, ph) = axis(0, h, kh, sh, dh)?;
        let (ow, pw) = axis(1, w, kw, sw, dw)?;
        if oh == 0 || ow == 0 {
            return Err(err(format!("empty output for input {input}")));
        }
        Ok(Conv2dGeom {
            batch,
            c_in: c,
            h,
            w,
            c_out: self.filters,
            kh,
            kw,
            stride: self.stride,
            pad: (ph, pw),
            dilation: self.dilation,
            groups: self.groups,
            oh,
            ow,
        })
    }

    fn config_json(&self) -> serde_json::Value {
        json!({"filters": self.filters, "kernel": self.kernel, "stride": self.stride,
               "padding": self.padding, "dilation": self.dilation, "groups": self.groups,
               "activation": self.activation, "use_bias": self.use_bias,
               "kernel_init": self.kernel_init, "bias_init": self.bias_init})
    }

    fn param_specs(&self, c_in: usize) -> Vec<ParamSpec> {
        let (kh, kw) = self.kernel;
        let fan_in = (c_in / self.groups.max(1)) * kh * kw;
        let fan_out = self.filters * kh * kw;
        let mut p = vec![ParamSpec {
            name: "kernel",
            shape: Shape::new([self.filters, c_in / self.groups.max(1), kh, kw]),
            init: self.kernel_init,
            fan_in,
            fan_out,
        }];
        if self.use_bias {
            p.push(ParamSpec {
                name: "bias",
                shape: Shape::new([self.filters]),
                init: self.bias_init,
                fan_in,
                fan_out,
            });
        }
        p
    }

    fn run_forward(&self, g: Conv2dGeom, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        conv2d_forward(
            ctx.backend,
            &Conv2dForward {
                geom: g,
                x: io.inputs[0],
                w: io.params[0],
                bias: self.use_bias.then(|| io.params[1]),
                y: io.output,
                pre_act: self.fused().then(|| io.workspace[0]),
                act: self.activation,
            },
        )
    }

    fn run_backward(&self, g: Conv2dGeom, ctx: &mut LayerCtx, io: &Io, gr: &GradIo) -> Result<()> {
        let dz = if self.fused() {
            elementwise::activation_backward(
                ctx.backend,
                &ActivationBackward {
                    act: self.activation,
                    x: io.workspace[0],
                    y: io.output,
                    dy: gr.grad_output,
                    dx: io.workspace[1],
                    n: g.y_len(),
                },
            )?;
            io.workspace[1]
        } else {
            gr.grad_output
        };
        conv2d_backward_params(
            ctx.backend,
            &Conv2dBackwardParams {
                geom: g,
                x: io.inputs[0],
                dy: dz,
                dw: gr.grad_params[0],
                db: self.use_bias.then(|| gr.grad_params[1]),
            },
        )?;
        if let Some(dx) = gr.grad_inputs[0] {
            conv2d_backward_input(
                ctx.backend,
                &Conv2dBackwardInput {
                    geom: g,
                    dy: dz,
                    w: io.params[0],
                    dx,
                },
            )?;
        }
        Ok(())
    }
}

impl Layer for Conv2D {
    fn kind(&self) -> &'static str {
        "Conv2D"
    }
    fn config(&self) -> serde_json::Value {
        self.config_json()
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        let g = self.geom("Conv2D", &inputs[0], 1)?;
        Ok(Shape::new([g.c_out, g.oh, g.ow]))
    }
    fn params(&self, inputs: &[Shape]) -> Vec<ParamSpec> {
        self.param_specs(
            inputs
                .first()
                .and_then(|s| s.dims().first().copied())
                .unwrap_or(1),
        )
    }
    fn workspace(&self, _inputs: &[Shape], output: &Shape) -> Vec<usize> {
        if self.fused() {
            vec![output.numel(), output.numel()]
        } else {
            Vec::new()
        }
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let g = self.geom("Conv2D", &io.input_shapes[0], ctx.batch)?;
        self.run_forward(g, ctx, io)
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, gr: &GradIo) -> Result<()> {
        let g = self.geom("Conv2D", &io.input_shapes[0], ctx.batch)?;
        self.run_backward(g, ctx, io, gr)
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

/// A 1-D convolution over `[C, L]` samples: a [`Conv2D`] with a height of 1 (kernel
/// `[filters, C/groups, 1, k]`), so it shares every kernel and its exactness.
#[derive(Clone, Debug)]
pub struct Conv1D {
    pub inner: Conv2D,
}

impl Conv1D {
    /// `filters` output channels and a kernel of length `k` (other options as [`Conv2D`]).
    pub fn new(filters: usize, k: usize) -> Self {
        Conv1D {
            inner: Conv2D::new(filters, (1, k)),
        }
    }
    pub fn stride(mut self, s: usize) -> Self {
        self.inner.stride = (1, s);
        self
    }
    /// `Valid`, `Same`, or `Explicit(_, p)` (only the second value is used).
    pub fn padding(mut self, padding: Padding) -> Self {
        self.inner.padding = match padding {
            Padding::Explicit(_, p) => Padding::Explicit(0, p),
            other => other,
        };
        self
    }
    pub fn dilation(mut self, d: usize) -> Self {
        self.inner.dilation = (1, d);
        self
    }
    pub fn groups(mut self, groups: usize) -> Self {
        self.inner.groups = groups;
        self
    }
    pub fn activation(mut self, act: Activation) -> Self {
        self.inner.activation = act;
        self
    }
    pub fn no_bias(mut self) -> Self {
        self.inner.use_bias = false;
        self
    }
    fn as_2d(input: &Shape) -> Result<Shape> {
        match input.dims() {
            &[c, l] => Ok(Shape::new([c, 1, l])),
            _ => Err(Error::layer(
                "Conv1D",
                format!("expects samples of shape [channels, length], got {input}"),
            )),
        }
    }
}

impl Layer for Conv1D {
    fn kind(&self) -> &'static str {
        "Conv1D"
    }
    fn config(&self) -> serde_json::Value {
        self.inner.config_json()
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        let g = self.inner.geom("Conv1D", &Self::as_2d(&inputs[0])?, 1)?;
        Ok(Shape::new([g.c_out, g.ow]))
    }
    fn params(&self, inputs: &[Shape]) -> Vec<ParamSpec> {
        self.inner.param_specs(
            inputs
                .first()
                .and_then(|s| s.dims().first().copied())
                .unwrap_or(1),
        )
    }
    fn workspace(&self, inputs: &[Shape], output: &Shape) -> Vec<usize> {
        self.inner.workspace(inputs, output)
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let g = self
            .inner
            .geom("Conv1D", &Self::as_2d(&io.input_shapes[0])?, ctx.batch)?;
        self.inner.run_forward(g, ctx, io)
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, gr: &GradIo) -> Result<()> {
        let g = self
            .inner
            .geom("Conv1D", &Self::as_2d(&io.input_shapes[0])?, ctx.batch)?;
        self.inner.run_backward(g, ctx, io, gr)
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
