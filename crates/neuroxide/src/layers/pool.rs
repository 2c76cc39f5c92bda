//! Pooling layers over NCHW samples: MaxPool2D, AvgPool2D, GlobalAveragePool2D, and
//! MaxPool1D (MaxPool2D with a height of 1). Orders, tie and NaN rules: `ops::pool`.
//!
//! What forward saves: MaxPool keeps each window's argmax (workspace 0) so that backward is a
//! gather of the output gradient into the winning inputs; average pooling saves nothing.

use super::conv::{resolve_axis, Padding};
use super::{expect_inputs, GradIo, Io, Layer, LayerCtx};
use crate::error::{Error, Result};
use crate::ops::pool::{
    avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward, AvgPool2d,
    MaxPool2dBackward, MaxPool2dForward, Pool2dGeom,
};
use crate::shape::Shape;
use serde_json::json;

/// Window, stride and padding of a pooling layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolWindow {
    pub size: (usize, usize),
    pub stride: (usize, usize),
    pub padding: Padding,
}

impl PoolWindow {
    fn geom(&self, kind: &str, input: &Shape, batch: usize) -> Result<Pool2dGeom> {
        let err = |m: String| Error::layer(kind, m);
        let d = input.dims();
        if d.len() != 3 {
            return Err(err(format!(
                "expects samples of shape [channels, height, width], got {input}"
            )));
        }
        let (c, h, w) = (d[0], d[1], d[2]);
        let (kh, kw) = self.size;
        let (sh, sw) = self.stride;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err(err("window and stride must be at least 1".into()));
        }
        let fit = |a, n, k, s| {
            resolve_axis(self.padding, a, n, k, s, 1).ok_or_else(|| {
                err(format!(
                    "a {kh}x{kw} window (padding {:?}) does not fit input {input}",
                    self.padding
                ))
            })
        };
        let (oh, ph) = fit(0, h, kh, sh)?;
        let (ow, pw) = fit(1, w, kw, sw)?;
        if ph >= kh || pw >= kw {
            return Err(err(format!(
                "padding {ph}x{pw} must be smaller than the {kh}x{kw} window"
            )));
        }
        if oh == 0 || ow == 0 || c == 0 {
            return Err(err(format!("empty output for input {input}")));
        }
        Ok(Pool2dGeom {
            batch,
            channels: c,
            h,
            w,
            kh,
            kw,
            stride: self.stride,
            pad: (ph, pw),
            oh,
            ow,
        })
    }
    fn config(&self) -> serde_json::Value {
        json!({"size": self.size, "stride": self.stride, "padding": self.padding})
    }
}

/// Max pooling over `size` windows; the stride defaults to the window (Keras).
#[derive(Clone, Debug)]
pub struct MaxPool2D {
    pub window: PoolWindow,
}

/// Average pooling; padded taps are not counted in the divisor.
#[derive(Clone, Debug)]
pub struct AvgPool2D {
    pub window: PoolWindow,
}

macro_rules! pool_builders {
    ($t:ident) => {
        impl $t {
            /// `kh × kw` windows with stride equal to the window, no padding.
            pub fn new(size: (usize, usize)) -> Self {
                $t {
                    window: PoolWindow {
                        size,
                        stride: size,
                        padding: Padding::Valid,
                    },
                }
            }
            pub fn stride(mut self, sh: usize, sw: usize) -> Self {
                self.window.stride = (sh, sw);
                self
            }
            pub fn padding(mut self, padding: Padding) -> Self {
                self.window.padding = padding;
                self
            }
        }
    };
}
pool_builders!(MaxPool2D);
pool_builders!(AvgPool2D);

fn pooled_shape(g: &Pool2dGeom) -> Shape {
    Shape::new([g.channels, g.oh, g.ow])
}

impl Layer for MaxPool2D {
    fn kind(&self) -> &'static str {
        "MaxPool2D"
    }
    fn config(&self) -> serde_json::Value {
        self.window.config()
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        Ok(pooled_shape(&self.window.geom(
            "MaxPool2D",
            &inputs[0],
            1,
        )?))
    }
    fn workspace(&self, _inputs: &[Shape], output: &Shape) -> Vec<usize> {
        vec![output.numel()]
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let geom = self
            .window
            .geom("MaxPool2D", &io.input_shapes[0], ctx.batch)?;
        max_pool2d_forward(
            ctx.backend,
            &MaxPool2dForward {
                geom,
                x: io.inputs[0],
                y: io.output,
                argmax: io.workspace[0],
            },
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let Some(dx) = g.grad_inputs[0] else {
            return Ok(());
        };
        let geom = self
            .window
            .geom("MaxPool2D", &io.input_shapes[0], ctx.batch)?;
        max_pool2d_backward(
            ctx.backend,
            &MaxPool2dBackward {
                geom,
                dy: g.grad_output,
                argmax: io.workspace[0],
                dx,
            },
        )
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

fn avg_forward(kind: &str, w: &PoolWindow, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
    let geom = w.geom(kind, &io.input_shapes[0], ctx.batch)?;
    let a = AvgPool2d {
        geom,
        src: io.inputs[0],
        dst: io.output,
    };
    avg_pool2d_forward(ctx.backend, &a)
}

fn avg_backward(kind: &str, w: &PoolWindow, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
    let Some(dx) = g.grad_inputs[0] else {
        return Ok(());
    };
    let geom = w.geom(kind, &io.input_shapes[0], ctx.batch)?;
    let a = AvgPool2d {
        geom,
        src: g.grad_output,
        dst: dx,
    };
    avg_pool2d_backward(ctx.backend, &a)
}

impl Layer for AvgPool2D {
    fn kind(&self) -> &'static str {
        "AvgPool2D"
    }
    fn config(&self) -> serde_json::Value {
        self.window.config()
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        Ok(pooled_shape(&self.window.geom(
            "AvgPool2D",
            &inputs[0],
            1,
        )?))
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        avg_forward("AvgPool2D", &self.window, ctx, io)
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        avg_backward("AvgPool2D", &self.window, ctx, io, g)
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

/// The mean of each channel over its whole plane: `[C, H, W] → [C]` (average pooling with
/// one window of the whole plane, summed in the chunked order).
#[derive(Clone, Debug, Default)]
pub struct GlobalAveragePool2D;

impl GlobalAveragePool2D {
    pub fn new() -> Self {
        GlobalAveragePool2D
    }
    fn window(input: &Shape) -> Result<PoolWindow> {
        match input.dims() {
            &[_, h, w] if h > 0 && w > 0 => Ok(PoolWindow {
                size: (h, w),
                stride: (1, 1),
                padding: Padding::Valid,
            }),
            _ => Err(Error::layer(
                "GlobalAveragePool2D",
                format!("expects samples of shape [channels, height, width], got {input}"),
            )),
        }
    }
}

impl Layer for GlobalAveragePool2D {
    fn kind(&self) -> &'static str {
        "GlobalAveragePool2D"
    }
    fn config(&self) -> serde_json::Value {
        json!({})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        Self::window(&inputs[0])?;
        Ok(Shape::new([inputs[0].dims()[0]]))
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let w = Self::window(&io.input_shapes[0])?;
        avg_forward("GlobalAveragePool2D", &w, ctx, io)
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let w = Self::window(&io.input_shapes[0])?;
        avg_backward("GlobalAveragePool2D", &w, ctx, io, g)
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

/// Max pooling over `[C, L]` samples: a [`MaxPool2D`] with a height of 1.
#[derive(Clone, Debug)]
pub struct MaxPool1D {
    pub inner: MaxPool2D,
}

impl MaxPool1D {
    /// Windows of `size` with stride `size`, no padding.
    pub fn new(size: usize) -> Self {
        MaxPool1D {
            inner: MaxPool2D::new((1, size)),
        }
    }
    pub fn stride(mut self, s: usize) -> Self {
        self.inner.window.stride = (1, s);
        self
    }
    fn as_2d(input: &Shape) -> Result<Shape> {
        match input.dims() {
            &[c, l] => Ok(Shape::new([c, 1, l])),
            _ => Err(Error::layer(
                "MaxPool1D",
                format!("expects samples of shape [channels, length], got {input}"),
            )),
        }
    }
    fn shapes(io: &Io) -> Result<[Shape; 1]> {
        Ok([Self::as_2d(&io.input_shapes[0])?])
    }
}

impl Layer for MaxPool1D {
    fn kind(&self) -> &'static str {
        "MaxPool1D"
    }
    fn config(&self) -> serde_json::Value {
        self.inner.window.config()
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        let g = self
            .inner
            .window
            .geom("MaxPool1D", &Self::as_2d(&inputs[0])?, 1)?;
        Ok(Shape::new([g.channels, g.ow]))
    }
    fn workspace(&self, _inputs: &[Shape], output: &Shape) -> Vec<usize> {
        vec![output.numel()]
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let shapes = Self::shapes(io)?;
        let io2 = Io {
            input_shapes: &shapes,
            ..*io
        };
        self.inner.forward(ctx, &io2)
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let shapes = Self::shapes(io)?;
        let io2 = Io {
            input_shapes: &shapes,
            ..*io
        };
        self.inner.backward(ctx, &io2, g)
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
