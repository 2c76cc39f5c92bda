//! Merge layers for non-sequential graphs: Add (residual connections), Concat (last axis) and
//! Multiply (gating).

use super::{copy, GradIo, Io, Layer, LayerCtx};
use crate::ops;
use crate::ops::copy::Copy2d;
use crate::ops::elementwise;

use crate::error::{Error, Result};
use crate::shape::Shape;

/// Elementwise sum of two or more inputs of the same shape.
/// Forward order: `y = x0 + x1`, then `y += x2`, … (inputs in order).
#[derive(Clone, Debug, Default)]
pub struct Add;

/// Concatenation along the last axis.
#[derive(Clone, Debug, Default)]
pub struct Concat;

/// Elementwise product of two inputs of the same shape.
#[derive(Clone, Debug, Default)]
pub struct Multiply;

fn same_shapes(inputs: &[Shape], min: usize, max: usize) -> Result<Shape> {
    if inputs.len() < min || inputs.len() > max {
        return Err(Error::Shape(format!(
            "expected {min}..={max} inputs, got {}",
            inputs.len()
        )));
    }
    for (i, s) in inputs.iter().enumerate().skip(1) {
        if *s != inputs[0] {
            return Err(Error::Shape(format!(
                "input {i} has shape {s}, input 0 has {}; they must match",
                inputs[0]
            )));
        }
    }
    Ok(inputs[0].clone())
}

impl Layer for Add {
    fn kind(&self) -> &'static str {
        "Add"
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        same_shapes(inputs, 2, usize::MAX)
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let n = ctx.batch * io.output_shape.numel();
        elementwise::add(ctx.backend, io.inputs[0], io.inputs[1], io.output, n)?;
        for &x in &io.inputs[2..] {
            elementwise::add_assign(ctx.backend, io.output, x, n)?;
        }
        Ok(())
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let n = ctx.batch * io.output_shape.numel();
        for dx in g.grad_inputs.iter().flatten() {
            copy(ctx.backend, g.grad_output, *dx, n)?;
        }
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

impl Layer for Multiply {
    fn kind(&self) -> &'static str {
        "Multiply"
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        same_shapes(inputs, 2, 2)
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let n = ctx.batch * io.output_shape.numel();
        elementwise::mul(ctx.backend, io.inputs[0], io.inputs[1], io.output, n)
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let n = ctx.batch * io.output_shape.numel();
        if let Some(da) = g.grad_inputs[0] {
            elementwise::mul(ctx.backend, g.grad_output, io.inputs[1], da, n)?;
        }
        if let Some(db) = g.grad_inputs[1] {
            elementwise::mul(ctx.backend, g.grad_output, io.inputs[0], db, n)?;
        }
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

impl Layer for Concat {
    fn kind(&self) -> &'static str {
        "Concat"
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        if inputs.len() < 2 {
            return Err(Error::Shape(format!(
                "expected at least 2 inputs, got {}",
                inputs.len()
            )));
        }
        let lead = &inputs[0].dims()[..inputs[0].rank().saturating_sub(1)];
        let mut last = 0;
        for (i, s) in inputs.iter().enumerate() {
            if s.rank() == 0 || &s.dims()[..s.rank() - 1] != lead {
                return Err(Error::Shape(format!(
                    "input {i} has shape {s}; all inputs must agree on every axis but the last (input 0: {})",
                    inputs[0]
                )));
            }
            last += s.last();
        }
        let mut d = lead.to_vec();
        d.push(last);
        Ok(Shape(d))
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let out_cols = io.output_shape.last();
        let rows = ctx.batch * io.output_shape.numel() / out_cols;
        let mut offset = 0;
        for (x, s) in io.inputs.iter().zip(io.input_shapes) {
            let cols = s.last();
            ops::copy::copy_2d(
                ctx.backend,
                &Copy2d {
                    rows,
                    cols,
                    src: *x,
                    src_offset: 0,
                    src_stride: cols,
                    dst: io.output,
                    dst_offset: offset,
                    dst_stride: out_cols,
                },
            )?;
            offset += cols;
        }
        Ok(())
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let out_cols = io.output_shape.last();
        let rows = ctx.batch * io.output_shape.numel() / out_cols;
        let mut offset = 0;
        for (dx, s) in g.grad_inputs.iter().zip(io.input_shapes) {
            let cols = s.last();
            if let Some(dx) = dx {
                ops::copy::copy_2d(
                    ctx.backend,
                    &Copy2d {
                        rows,
                        cols,
                        src: g.grad_output,
                        src_offset: offset,
                        src_stride: out_cols,
                        dst: *dx,
                        dst_offset: 0,
                        dst_stride: cols,
                    },
                )?;
            }
            offset += cols;
        }
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
