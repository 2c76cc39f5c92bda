//! Inverted dropout: a mask of `scale` or 0 drawn from Philox, and `y = x * mask`.
//!
//! Order (the contract; the CPU kernel below and `dropout.cu` follow it): for element `i`,
//! draw `u` = the `i % 4`-th word of
//! `philox4x32_10(counter = [i/4 low, i/4 high, stream, step], key = [seed low, seed high])`,
//! mapped to `[0, 1)` as `(u >> 8) * 2^-24`; keep when `u >= p`. `mask[i] = keep ? scale : 0`
//! with `scale = 1 / (1 - p)` computed on the host; `y[i] = x[i] * mask[i]`. No reduction.
//! With a per-step scalar block, `step` is read from that [`StepBlock`] (its `DROPOUT_STEP`
//! bits) instead, so a recorded step draws each step's own mask (PARITY rule 8).

use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Backend, BufId, Kernels, StepBlock};
use crate::error::Result;
use crate::philox::{philox4x32_10, uniform01};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/dropout/dropout.cu", include_str!("dropout.cu"));

/// Inverted dropout of `n` values (the draw: the module doc).
#[derive(Clone, Copy, Debug)]
pub struct DropoutForward {
    pub x: BufId,
    pub y: BufId,
    pub mask: BufId,
    pub n: usize,
    /// Drop probability.
    pub p: f32,
    /// `1 / (1 - p)`, computed once on the host.
    pub scale: f32,
    pub seed: u64,
    /// Philox counter word 2 (the layer's node id, so layers draw independent masks).
    pub stream: u32,
    /// Philox counter word 3 (the step), unless `step_block` is given.
    pub step: u32,
    pub step_block: Option<BufId>,
}

/// Runs [`DropoutForward`].
pub fn forward(backend: &mut dyn Backend, a: &DropoutForward) -> Result<()> {
    let n = a.n;
    let block_len = if a.step_block.is_some() {
        StepBlock::LEN
    } else {
        0
    };
    let ins = [(a.x, n), (a.step_block.unwrap_or(a.x), block_len)];
    let outs = [(a.y, n), (a.mask, n)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (_, ([x, block], [y, mask])) = cpu.operands("dropout_forward", ins, outs)?;
            let step = match a.step_block {
                Some(_) => block[StepBlock::DROPOUT_STEP].to_bits(),
                None => a.step,
            };
            cpu_forward(x, y, mask, a.p, a.scale, a.seed, a.stream, step);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([px, pblock], [py, pm]) = cuda.operands("dropout_forward", ins, outs)?;
            if n == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .ptr(px)
                .ptr(py)
                .ptr(pm)
                .u64(n)
                .f32(a.p)
                .f32(a.scale)
                .word(a.seed)
                .u32(a.stream)
                .u32(a.step)
                .ptr(if a.step_block.is_some() { pblock } else { 0 });
            cuda.launch_op_1d(CUDA, "nx_dropout", n, args)
        }
    }
}

/// The keep/drop draw for element `i` (see [`DropoutForward`]).
#[inline]
pub fn dropout_keep(i: usize, p: f32, seed: u64, stream: u32, step: u32) -> bool {
    let block = (i / 4) as u64;
    let words = philox4x32_10(
        [block as u32, (block >> 32) as u32, stream, step],
        [seed as u32, (seed >> 32) as u32],
    );
    uniform01(words[i % 4]) >= p
}

/// Inverted dropout: writes the mask (`scale` or 0) and `y = x * mask`.
#[allow(clippy::too_many_arguments)]
pub fn cpu_forward(
    x: &[f32],
    y: &mut [f32],
    mask: &mut [f32],
    p: f32,
    scale: f32,
    seed: u64,
    stream: u32,
    step: u32,
) {
    for i in 0..y.len() {
        let m = if dropout_keep(i, p, seed, stream, step) {
            scale
        } else {
            0.0
        };
        mask[i] = m;
        y[i] = x[i] * m;
    }
}
