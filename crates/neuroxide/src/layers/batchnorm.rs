//! BatchNorm: `BatchNorm1D` over the features of `[N, F]`, `BatchNorm2D` over the channels of
//! NCHW images. In training it normalises with the batch statistics (saved for the backward)
//! and updates the running statistics, its non-trainable state; in evaluation and prediction
//! it normalises with the running statistics. Orders in `ops::batchnorm`.

use super::{expect_inputs, GradIo, Initializer, Io, Layer, LayerCtx, ParamSpec, StateSpec};
use crate::error::{Error, Result};
use crate::ops::batchnorm::{
    batchnorm_backward, batchnorm_normalize, batchnorm_stats, BatchNormBackward,
    BatchNormNormalize, BatchNormStats, Geometry, Scale,
};
use crate::shape::Shape;
use serde_json::json;

/// Batch normalisation; `SPATIAL = false` is [`BatchNorm1D`], `true` is [`BatchNorm2D`].
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm<const SPATIAL: bool> {
    /// Weight of the new batch in the running statistics (PyTorch's convention:
    /// `running = (1 - momentum) * running + momentum * batch`).
    pub momentum: f32,
    pub eps: f32,
    /// Learn a per-channel scale `gamma` and shift `beta`.
    pub affine: bool,
}

/// BatchNorm over the features of `[N, F]` inputs.
pub type BatchNorm1D = BatchNorm<false>;
/// BatchNorm over the channels of `[N, C, H, W]` inputs.
pub type BatchNorm2D = BatchNorm<true>;

impl<const SPATIAL: bool> BatchNorm<SPATIAL> {
    /// PyTorch's defaults: momentum 0.1, eps 1e-5, affine.
    pub fn new() -> Self {
        BatchNorm {
            momentum: 0.1,
            eps: 1e-5,
            affine: true,
        }
    }
    /// Sets the momentum of the running statistics.
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }
    /// Sets eps.
    pub fn eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }
    /// Turns the learned scale and shift on or off.
    pub fn affine(mut self, affine: bool) -> Self {
        self.affine = affine;
        self
    }

    /// Channels and values per channel per sample of a per-sample input shape.
    fn channels_plane(&self, s: &Shape) -> Result<(usize, usize)> {
        let d = s.dims();
        match (SPATIAL, d) {
            (false, &[f]) if f > 0 => Ok((f, 1)),
            (true, &[c, h, w]) if c > 0 && h * w > 0 => Ok((c, h * w)),
            (false, _) => Err(Error::Shape(format!(
                "BatchNorm1D normalises the features of [N, F] inputs, got per-sample shape \
                 {s}; use BatchNorm2D for [C, H, W]"
            ))),
            (true, _) => Err(Error::Shape(format!(
                "BatchNorm2D normalises the channels of [N, C, H, W] inputs, got per-sample \
                 shape {s}"
            ))),
        }
    }

    fn geometry(&self, ctx: &LayerCtx, io: &Io) -> Result<Geometry> {
        let (channels, plane) = self.channels_plane(&io.input_shapes[0])?;
        Ok(Geometry {
            batch: ctx.batch,
            channels,
            plane,
        })
    }
}

impl<const SPATIAL: bool> Default for BatchNorm<SPATIAL> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SPATIAL: bool> Layer for BatchNorm<SPATIAL> {
    fn kind(&self) -> &'static str {
        if SPATIAL {
            "BatchNorm2D"
        } else {
            "BatchNorm1D"
        }
    }
    fn config(&self) -> serde_json::Value {
        json!({"momentum": self.momentum, "eps": self.eps, "affine": self.affine})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        self.channels_plane(&inputs[0])?;
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(Error::invalid(format!(
                "{}: eps must be positive and finite, got {}",
                self.kind(),
                self.eps
            )));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(Error::invalid(format!(
                "{}: momentum must be in [0, 1], got {}",
                self.kind(),
                self.momentum
            )));
        }
        Ok(inputs[0].clone())
    }
    fn params(&self, inputs: &[Shape]) -> Vec<ParamSpec> {
        if !self.affine {
            return Vec::new();
        }
        let c = inputs
            .first()
            .map_or(1, |s| s.dims().first().copied().unwrap_or(1));
        let spec = |name, init| ParamSpec {
            name,
            shape: Shape::new([c]),
            init,
            fan_in: c,
            fan_out: c,
        };
        vec![
            spec("gamma", Initializer::Ones),
            spec("beta", Initializer::Zeros),
        ]
    }
    fn state(&self, inputs: &[Shape]) -> Vec<StateSpec> {
        let c = inputs
            .first()
            .map_or(1, |s| s.dims().first().copied().unwrap_or(1));
        vec![
            StateSpec {
                name: "running_mean",
                shape: Shape::new([c]),
                init: Initializer::Zeros,
            },
            StateSpec {
                name: "running_var",
                shape: Shape::new([c]),
                init: Initializer::Ones,
            },
        ]
    }
    fn fixed_workspace(&self, inputs: &[Shape]) -> Vec<usize> {
        // [batch mean, batch rstd, Σdy and Σdy·xhat when there are no parameter gradients]
        let c = inputs
            .first()
            .map_or(1, |s| s.dims().first().copied().unwrap_or(1));
        vec![c, c, c, c]
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let geometry = self.geometry(ctx, io)?;
        let affine = self.affine.then(|| (io.params[0], io.params[1]));
        let (mean, scale) = if ctx.training {
            batchnorm_stats(
                ctx.backend,
                &BatchNormStats {
                    geometry,
                    x: io.inputs[0],
                    mean: io.workspace[0],
                    rstd: io.workspace[1],
                    running_mean: io.state[0],
                    running_var: io.state[1],
                    eps: self.eps,
                    momentum: self.momentum,
                },
            )?;
            (io.workspace[0], Scale::Rstd(io.workspace[1]))
        } else {
            let var = io.state[1];
            (io.state[0], Scale::Variance { var, eps: self.eps })
        };
        batchnorm_normalize(
            ctx.backend,
            &BatchNormNormalize {
                geometry,
                x: io.inputs[0],
                mean,
                scale,
                affine,
                y: io.output,
            },
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let geometry = self.geometry(ctx, io)?;
        let (sum_dy, sum_dy_xhat) = if self.affine {
            (g.grad_params[1], g.grad_params[0])
        } else {
            (io.workspace[2], io.workspace[3])
        };
        batchnorm_backward(
            ctx.backend,
            &BatchNormBackward {
                geometry,
                x: io.inputs[0],
                dy: g.grad_output,
                mean: io.workspace[0],
                rstd: io.workspace[1],
                gamma: self.affine.then(|| io.params[0]),
                sum_dy,
                sum_dy_xhat,
                dx: g.grad_inputs[0],
            },
        )
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
