//! Attention dropout's multipliers: `M[i] = 1/(1 − rate)` where element `i` is kept, else 0,
//! over the `[batch, heads, seq, seq]` attention weights. The draw is the [`Dropout`] layer's
//! (`ops::dropout::dropout_keep`: Philox4x32-10 keyed by the model seed, stream =
//! the node, counter = (i/4, stream, step)), so masks are the same on every backend and thread
//! count; the step counter comes from the per-step scalar block when there is one (PARITY.md
//! rule 8), which keeps the launch replayable. No arithmetic besides the comparison.
//!
//! [`Dropout`]: crate::layers::Dropout

use super::CUDA;
use crate::backend::cpu::pool::{par_rows, ThreadPool};
use crate::backend::cuda::KArgs;
use crate::backend::{Backend, BufId, Kernels, StepBlock};
use crate::error::{Error, Result};
use crate::ops::dropout::dropout_keep;

/// Fills `mask[0..n]` with the dropout multipliers of one attention application.
#[derive(Clone, Copy, Debug)]
pub struct AttentionDropoutMask {
    pub mask: BufId,
    pub n: usize,
    /// Drop probability in `[0, 1)`.
    pub rate: f32,
    pub seed: u64,
    /// The Philox stream (the node's index).
    pub stream: u32,
    /// The step counter, unless `step_block` holds it.
    pub step: u32,
    pub step_block: Option<BufId>,
}

/// Runs [`AttentionDropoutMask`].
pub fn attention_dropout_mask(backend: &mut dyn Backend, a: &AttentionDropoutMask) -> Result<()> {
    if !(0.0..1.0).contains(&a.rate) {
        return Err(Error::Shape(format!(
            "attention dropout rate must be in [0, 1), got {}",
            a.rate
        )));
    }
    let scale = 1.0 / (1.0 - a.rate);
    let (rate, seed, stream) = (a.rate, a.seed, a.stream);
    let fill = |pool: &ThreadPool, mask: &mut [f32], step: u32| {
        par_rows(pool, mask, a.n, 1, &|i0, part| {
            for (k, m) in part.iter_mut().enumerate() {
                let keep = dropout_keep(i0 + k, rate, seed, stream, step);
                *m = if keep { scale } else { 0.0 };
            }
        });
    };
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let outs = [(a.mask, a.n)];
            match a.step_block {
                Some(b) => {
                    let ins = [(b, StepBlock::LEN)];
                    let (pool, ([block], [mask])) =
                        cpu.operands("attention_dropout_mask", ins, outs)?;
                    fill(pool, mask, block[StepBlock::DROPOUT_STEP].to_bits());
                }
                None => {
                    let (pool, ([], [mask])) = cpu.operands("attention_dropout_mask", [], outs)?;
                    fill(pool, mask, a.step);
                }
            }
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let outs = [(a.mask, a.n)];
            let (block, mask) = match a.step_block {
                Some(b) => {
                    let ([block], [mask]) =
                        cuda.operands("attention_dropout_mask", [(b, StepBlock::LEN)], outs)?;
                    (block, mask)
                }
                None => {
                    let ([], [mask]) = cuda.operands("attention_dropout_mask", [], outs)?;
                    (0, mask)
                }
            };
            if a.n == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .ptr(mask)
                .u64(a.n)
                .f32(a.rate)
                .f32(scale)
                .word(a.seed)
                .u32(a.stream)
                .u32(a.step)
                .ptr(block);
            cuda.launch_op_1d(CUDA, "nx_attention_dropout_mask", a.n, args)
        }
    }
}
