//! The fixed sinusoidal positional encoding of "Attention Is All You Need", added to a `[T, d]`
//! input: `PE[t, 2i] = sin(t·ω_i)`, `PE[t, 2i + 1] = cos(t·ω_i)`, `ω_i = base^(−2i/d)`.
//!
//! The table has no parameters and never trains: it is computed on the host in f64 with
//! `math::host` (PARITY.md rule 8a), rounded once to f32, and uploaded once per backend as a
//! constant table ([`crate::backend::Backend::constant_table`]), so every backend adds the same
//! bits. Forward is `ops::embedding::add_position` (the learned position embedding's op);
//! backward passes the gradient through unchanged.

use super::{expect_inputs, GradIo, Io, Layer, LayerCtx};
use crate::error::{Error, Result};
use crate::math::host;
use crate::ops::embedding::{add_position, AddPosition};
use crate::shape::Shape;
use serde_json::json;

/// Adds the sinusoidal encoding of positions `0..T` to a `[T, d]` input.
#[derive(Clone, Debug)]
pub struct SinusoidalPositionEncoding {
    /// The wavelength base (10000 in the paper).
    pub base: f32,
}

impl SinusoidalPositionEncoding {
    /// The paper's encoding (base 10000).
    pub fn new() -> Self {
        SinusoidalPositionEncoding { base: 10000.0 }
    }
    /// Another wavelength base.
    pub fn base(mut self, base: f32) -> Self {
        self.base = base;
        self
    }
}

impl Default for SinusoidalPositionEncoding {
    fn default() -> Self {
        Self::new()
    }
}

/// The `[positions, dim]` table: `sin(t·ω_i)` in even columns `2i`, `cos(t·ω_i)` in odd columns
/// `2i + 1`, `ω_i = base^(−2i/dim)`; f64 through `math::host`, rounded once to f32.
pub fn sinusoidal_table(positions: usize, dim: usize, base: f32) -> Vec<f32> {
    let mut table = vec![0.0f32; positions * dim];
    for col in 0..dim {
        let pair = col / 2;
        let omega = host::powf(f64::from(base), -((2 * pair) as f64) / dim as f64);
        for t in 0..positions {
            let angle = t as f64 * omega;
            let v = if col % 2 == 0 {
                host::sin(angle)
            } else {
                host::cos(angle)
            };
            table[t * dim + col] = v as f32;
        }
    }
    table
}

impl Layer for SinusoidalPositionEncoding {
    fn kind(&self) -> &'static str {
        "SinusoidalPositionEncoding"
    }
    fn config(&self) -> serde_json::Value {
        json!({"base": self.base})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        if inputs[0].rank() != 2 || inputs[0].numel() == 0 {
            return Err(Error::Shape(format!(
                "SinusoidalPositionEncoding expects [positions, features] per sample, got {}",
                inputs[0]
            )));
        }
        if !(self.base.is_finite() && self.base > 1.0) {
            return Err(Error::Shape(format!(
                "SinusoidalPositionEncoding: the base must be a finite number above 1, got {}",
                self.base
            )));
        }
        Ok(inputs[0].clone())
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let (t, d) = (io.output_shape.dims()[0], io.output_shape.last());
        let base = self.base;
        let key = format!("sinusoidal/t={t}/d={d}/base={:08x}", base.to_bits());
        let table = ctx
            .backend
            .constant_table(&key, &|| sinusoidal_table(t, d, base))?;
        add_position(
            ctx.backend,
            &AddPosition {
                x: io.inputs[0],
                pos: table,
                out: io.output,
                batch: ctx.batch,
                n: t * d,
            },
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        if let Some(dx) = g.grad_inputs[0] {
            super::copy(
                ctx.backend,
                g.grad_output,
                dx,
                ctx.batch * io.output_shape.numel(),
            )?;
        }
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
