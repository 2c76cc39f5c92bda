//! Flatten and Reshape: same values, new per-sample shape (a copy, so every node owns its
//! buffer and the executor needs no aliasing rules).

use super::{copy, expect_inputs, GradIo, Io, Layer, LayerCtx};
use crate::error::{Error, Result};
use crate::shape::Shape;

/// Flattens each sample to one axis.
#[derive(Clone, Debug, Default)]
pub struct Flatten;

impl Flatten {
    /// A Flatten layer.
    pub fn new() -> Self {
        Flatten
    }
}

/// Reshapes each sample; at most one dimension may be 0, meaning "inferred".
#[derive(Clone, Debug)]
pub struct Reshape {
    pub target: Vec<usize>,
}

impl Reshape {
    /// Reshape to `target` (per sample; 0 = infer that dimension).
    pub fn new(target: impl Into<Vec<usize>>) -> Self {
        Reshape {
            target: target.into(),
        }
    }
}

fn forward_copy(ctx: &mut LayerCtx, io: &Io) -> Result<()> {
    copy(
        ctx.backend,
        io.inputs[0],
        io.output,
        ctx.batch * io.output_shape.numel(),
    )
}

fn backward_copy(ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
    match g.grad_inputs[0] {
        Some(dx) => copy(
            ctx.backend,
            g.grad_output,
            dx,
            ctx.batch * io.output_shape.numel(),
        ),
        None => Ok(()),
    }
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        Ok(Shape::new([inputs[0].numel()]))
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        forward_copy(ctx, io)
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        backward_copy(ctx, io, g)
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

impl Layer for Reshape {
    fn kind(&self) -> &'static str {
        "Reshape"
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "target": self.target })
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1)?;
        let n = inputs[0].numel();
        let known: usize = self.target.iter().filter(|&&d| d != 0).product();
        let unknown = self.target.iter().filter(|&&d| d == 0).count();
        let dims: Vec<usize> = match unknown {
            0 => self.target.clone(),
            1 if known > 0 && n.is_multiple_of(known) => self
                .target
                .iter()
                .map(|&d| if d == 0 { n / known } else { d })
                .collect(),
            _ => {
                return Err(Error::Shape(format!(
                    "cannot reshape {} ({n} values) to {:?}",
                    inputs[0], self.target
                )))
            }
        };
        let out = Shape(dims);
        if out.numel() != n {
            return Err(Error::Shape(format!(
                "cannot reshape {} ({n} values) to {out} ({} values)",
                inputs[0],
                out.numel()
            )));
        }
        Ok(out)
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        forward_copy(ctx, io)
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        backward_copy(ctx, io, g)
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
