//! Multi-head self-attention with a fused exact attention kernel (`ops::attention`).
//!
//! Forward, per sample `[T, d]` (`H` heads of `d/H`):
//! ```text
//! qkv  = x · Wqkv + bqkv                 [T, 3d]   (one matmul for Q, K and V)
//! qkv  = rope(qkv)                       (option: q and k of each head turned by t·θ, in place)
//! a    = attention(qkv)                  [T, d]    (causal or not; probs saved; training with
//!                                                   dropout: the weights times a Philox mask)
//! y    = a · Wo + bo                     [T, d]
//! ```
//! Backward: `da = dy · Woᵀ`, `dWo = aᵀ · dy`, `dbo = Σ dy`; `dqkv = attention_backward(da)`;
//! with RoPE `dqkv = rope⁻¹(dqkv)` (the rotation by −θ, in place); `dWqkv = xᵀ · dqkv`, `dbqkv = Σ dqkv`, `dx = dqkv · Wqkvᵀ` (bias sums in the chunked order).

use super::{expect_inputs, GradIo, Initializer, Io, Layer, LayerCtx, ParamSpec};
use crate::backend::{Activation, BufId};
use crate::error::{Error, Result};
use crate::ops;
use crate::ops::attention::dropout::{attention_dropout_mask, AttentionDropoutMask};
use crate::ops::attention::{
    attention_backward, attention_forward, AttentionBackward, AttentionForward, AttentionShape,
};
use crate::ops::elementwise;
use crate::ops::matmul::Matmul;
use crate::ops::reduce::{column_sums, ColumnSums};
use crate::ops::rope::{check_rope, rope_rotate, rope_table, rope_table_key, Rope};
use crate::shape::Shape;
use serde_json::json;

/// Self-attention over `[T, d]` inputs with `heads` heads.
#[derive(Clone, Debug)]
pub struct MultiHeadAttention {
    pub heads: usize,
    pub causal: bool,
    pub use_bias: bool,
    pub kernel_init: Initializer,
    /// A second input `[T]` per sample marks the real keys (non-zero) and the padding (0);
    /// padded keys are never attended to.
    pub key_padding_mask: bool,
    /// Rotary position embedding of the queries and keys with this base (usually 10000).
    pub rope: Option<f32>,
    /// Dropout rate on the attention weights during training (0: none).
    pub dropout: f32,
}

impl MultiHeadAttention {
    /// `heads` heads, not causal, with biases.
    pub fn new(heads: usize) -> Self {
        MultiHeadAttention {
            heads,
            causal: false,
            use_bias: true,
            kernel_init: Initializer::GlorotUniform,
            key_padding_mask: false,
            rope: None,
            dropout: 0.0,
        }
    }
    /// Dropout on the attention weights during training, keyed like [`super::Dropout`]'s
    /// masks (model seed, node, step), so both backends drop the same weights.
    pub fn dropout(mut self, rate: f32) -> Self {
        self.dropout = rate;
        self
    }
    /// Rotary position embedding (RoPE) of the queries and keys, `θ_i = base^(−2i/head_dim)`
    /// (`ops::rope`); the head dimension must be even.
    pub fn rope(mut self, base: f32) -> Self {
        self.rope = Some(base);
        self
    }
    /// Takes a second input: a `[T]` key padding mask per sample (0 = padding).
    pub fn key_padding_mask(mut self) -> Self {
        self.key_padding_mask = true;
        self
    }
    /// Query `i` attends to keys `0..=i` only (language models).
    pub fn causal(mut self) -> Self {
        self.causal = true;
        self
    }
    /// Removes the projection biases.
    pub fn no_bias(mut self) -> Self {
        self.use_bias = false;
        self
    }
    fn dims(&self, s: &Shape) -> (usize, usize) {
        (s.dims()[0], s.last())
    }
    fn shape(&self, batch: usize, s: &Shape) -> AttentionShape {
        let (t, d) = self.dims(s);
        let head_dim = d / self.heads;
        AttentionShape {
            batch,
            seq: t,
            heads: self.heads,
            head_dim,
            causal: self.causal,
            scale: (1.0 / (head_dim as f64).sqrt()) as f32,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn mm(
    m: usize,
    n: usize,
    k: usize,
    a: BufId,
    a_trans: bool,
    b: BufId,
    b_trans: bool,
    c: BufId,
    bias: Option<BufId>,
) -> Matmul {
    Matmul {
        m,
        n,
        k,
        a,
        a_trans,
        b,
        b_trans,
        c,
        bias,
        pre_act: None,
        act: Activation::Linear,
    }
}

impl Layer for MultiHeadAttention {
    fn kind(&self) -> &'static str {
        "MultiHeadAttention"
    }
    fn config(&self) -> serde_json::Value {
        json!({"heads": self.heads, "causal": self.causal, "use_bias": self.use_bias,
               "kernel_init": self.kernel_init, "key_padding_mask": self.key_padding_mask,
               "rope": self.rope, "dropout": self.dropout})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        expect_inputs(inputs, 1 + usize::from(self.key_padding_mask))?;
        let s = &inputs[0];
        if s.rank() != 2 || s.numel() == 0 {
            return Err(Error::Shape(format!(
                "MultiHeadAttention expects [positions, features] per sample, got {s}"
            )));
        }
        if self.key_padding_mask && inputs[1].dims() != [s.dims()[0]] {
            return Err(Error::Shape(format!(
                "MultiHeadAttention: the key padding mask must be [{}] per sample, got {}",
                s.dims()[0],
                inputs[1]
            )));
        }
        if self.heads == 0 || !s.last().is_multiple_of(self.heads) {
            return Err(Error::Shape(format!(
                "MultiHeadAttention: {} features do not split into {} heads",
                s.last(),
                self.heads
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Shape(format!(
                "MultiHeadAttention: the dropout rate must be in [0, 1), got {}",
                self.dropout
            )));
        }
        if let Some(base) = self.rope {
            check_rope(s.last() / self.heads, base)
                .map_err(|e| Error::Shape(format!("MultiHeadAttention: {e}")))?;
        }
        Ok(s.clone())
    }
    fn params(&self, inputs: &[Shape]) -> Vec<ParamSpec> {
        let d = inputs.first().map_or(1, Shape::last);
        let mut p = vec![ParamSpec {
            name: "qkv_kernel",
            shape: Shape::new([d, 3 * d]),
            init: self.kernel_init,
            fan_in: d,
            fan_out: d,
        }];
        if self.use_bias {
            p.push(ParamSpec {
                name: "qkv_bias",
                shape: Shape::new([3 * d]),
                init: Initializer::Zeros,
                fan_in: d,
                fan_out: d,
            });
        }
        p.push(ParamSpec {
            name: "out_kernel",
            shape: Shape::new([d, d]),
            init: self.kernel_init,
            fan_in: d,
            fan_out: d,
        });
        if self.use_bias {
            p.push(ParamSpec {
                name: "out_bias",
                shape: Shape::new([d]),
                init: Initializer::Zeros,
                fan_in: d,
                fan_out: d,
            });
        }
        p
    }
    fn workspace(&self, inputs: &[Shape], _output: &Shape) -> Vec<usize> {
        let (t, d) = self.dims(&inputs[0]);
        // [qkv, attended a, probs, da, dqkv] (+ the dropout multipliers)
        let mut ws = vec![t * 3 * d, t * d, self.heads * t * t, t * d, t * 3 * d];
        if self.dropout > 0.0 {
            ws.push(self.heads * t * t);
        }
        ws
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let s = self.shape(ctx.batch, &io.input_shapes[0]);
        let (rows, d) = (ctx.batch * s.seq, s.model_dim());
        let (wqkv, bqkv, wo, bo) = self.param_ids(io.params);
        let ws = io.workspace;
        ops::matmul::matmul(
            ctx.backend,
            &mm(
                rows,
                3 * d,
                d,
                io.inputs[0],
                false,
                wqkv,
                false,
                ws[0],
                bqkv,
            ),
        )?;
        self.rotate(ctx, &s, ws[0], false)?;
        let drop = self.drop_mask(ctx, io)?;
        if let Some(mask) = drop {
            attention_dropout_mask(
                ctx.backend,
                &AttentionDropoutMask {
                    mask,
                    n: ctx.batch * self.heads * s.seq * s.seq,
                    rate: self.dropout,
                    seed: ctx.seed,
                    stream: ctx.node,
                    step: ctx.step as u32,
                    step_block: ctx.step_block,
                },
            )?;
        }
        attention_forward(
            ctx.backend,
            &AttentionForward {
                shape: s,
                qkv: ws[0],
                out: ws[1],
                probs: ws[2],
                key_mask: self.key_padding_mask.then(|| io.inputs[1]),
                drop,
            },
        )?;
        ops::matmul::matmul(
            ctx.backend,
            &mm(rows, d, d, ws[1], false, wo, false, io.output, bo),
        )
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let s = self.shape(ctx.batch, &io.input_shapes[0]);
        let (rows, d) = (ctx.batch * s.seq, s.model_dim());
        let (wqkv, _, wo, _) = self.param_ids(io.params);
        let (gwqkv, gbqkv, gwo, gbo) = self.param_ids(g.grad_params);
        let ws = io.workspace;
        let drop = self.drop_mask(ctx, io)?;
        let be = &mut *ctx.backend;
        ops::matmul::matmul(
            be,
            &mm(d, d, rows, ws[1], true, g.grad_output, false, gwo, None),
        )?;
        if let Some(gbo) = gbo {
            column_sums(
                be,
                &ColumnSums {
                    x: g.grad_output,
                    out: gbo,
                    rows,
                    cols: d,
                },
            )?;
        }
        ops::matmul::matmul(
            be,
            &mm(rows, d, d, g.grad_output, false, wo, true, ws[3], None),
        )?;
        attention_backward(
            be,
            &AttentionBackward {
                shape: s,
                qkv: ws[0],
                probs: ws[2],
                dout: ws[3],
                dqkv: ws[4],
                key_mask: self.key_padding_mask.then(|| io.inputs[1]),
                drop,
            },
        )?;
        self.rotate(ctx, &s, ws[4], true)?;
        let be = &mut *ctx.backend;
        // The mask is not differentiable.
        if let Some(Some(dm)) = g.grad_inputs.get(1) {
            elementwise::fill(be, *dm, ctx.batch * s.seq, 0.0)?;
        }
        ops::matmul::matmul(
            be,
            &mm(
                d,
                3 * d,
                rows,
                io.inputs[0],
                true,
                ws[4],
                false,
                gwqkv,
                None,
            ),
        )?;
        if let Some(gbqkv) = gbqkv {
            column_sums(
                be,
                &ColumnSums {
                    x: ws[4],
                    out: gbqkv,
                    rows,
                    cols: 3 * d,
                },
            )?;
        }
        if let Some(dx) = g.grad_inputs[0] {
            ops::matmul::matmul(be, &mm(rows, d, 3 * d, ws[4], false, wqkv, true, dx, None))?;
        }
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

impl MultiHeadAttention {
    /// The dropout multipliers' workspace when this application drops weights (training with a
    /// rate above 0).
    fn drop_mask(&self, ctx: &LayerCtx, io: &Io) -> Result<Option<BufId>> {
        Ok((ctx.training && self.dropout > 0.0).then(|| io.workspace[5]))
    }
    /// With RoPE: turns the queries and keys of `qkv` by +θ (forward) or −θ (backward).
    fn rotate(
        &self,
        ctx: &mut LayerCtx,
        s: &AttentionShape,
        qkv: BufId,
        inverse: bool,
    ) -> Result<()> {
        let Some(base) = self.rope else {
            return Ok(());
        };
        let (seq, hd) = (s.seq, s.head_dim);
        let table = ctx
            .backend
            .constant_table(&rope_table_key(seq, hd, base), &|| {
                rope_table(seq, hd, base)
            })?;
        rope_rotate(
            ctx.backend,
            &Rope {
                qkv,
                table,
                batch: s.batch,
                seq,
                heads: s.heads,
                head_dim: hd,
                inverse,
            },
        )
    }
    /// (qkv kernel, qkv bias, out kernel, out bias) from a parameter list in `params` order.
    fn param_ids(&self, p: &[BufId]) -> (BufId, Option<BufId>, BufId, Option<BufId>) {
        if self.use_bias {
            (p[0], Some(p[1]), p[2], Some(p[3]))
        } else {
            (p[0], None, p[1], None)
        }
    }
}
