//! 2-D convolution (NCHW), forward and backward, with stride, zero padding (top/left given,
//! bottom/right implied by the output size, so "same" may be asymmetric), dilation and groups.
//!
//! Layouts: input `x[n, c_in, h, w]`, weights `w[c_out, c_in/groups, kh, kw]` (PyTorch's),
//! bias `[c_out]`, output `y[n, c_out, oh, ow]`. A *tap* `(ci, i, j)` of output `(oh, ow)` reads
//! input row `oh*stride_h - pad_h + i*dil_h` and column `ow*stride_w - pad_w + j*dil_w`; a tap
//! that falls outside the input is *padding* and is skipped, never multiplied by zero
//! (PARITY rule 2b: a product that underflows to −0 can leave an accumulator at −0.0, and an
//! added `+0 · w` would flip it to +0.0 on one backend only).
//!
//! Reduction orders (the contract; the CPU kernels in `cpu.rs` / `cpu_grad.rs` and the CUDA
//! kernels in `conv.cu` follow it to the letter):
//! - **Forward** (short reduction, like matmul: sequential, one accumulator per output):
//!   `acc = 0`; for `ci` in the group's input channels, then `i`, then `j`, all increasing,
//!   skipping padding: `acc = fma(x, w, acc)`; `z = acc + bias[co]` (when there is a bias);
//!   `pre_act = z`; `y = act(z)` (the activation formulas of `backend::Activation`).
//! - **Input gradient** (a gather, no scatter, no atomics — rule 6): each `dx[n, c, ih, iw]`
//!   has one accumulator from 0 and adds, for `co` in the group's output channels, then `i`,
//!   then `j`, all increasing, every output `(oh, ow)` that read it
//!   (`oh*stride_h - pad_h + i*dil_h == ih`, same for columns):
//!   `acc = fma(dy[n, co, oh, ow], w[co, ci, i, j], acc)`.
//! - **Weight gradient** (long reduction over `N × OH × OW`: the chunked order of rule 2a via
//!   [`crate::ops::reduce::chunked`] / `nx_chunk_partial`): for each weight, the terms are
//!   indexed by `r = (n*OH + oh)*OW + ow`; term `r` is `fma(x_tap, dy[n, co, oh, ow], acc)`,
//!   skipped (left out of its chunk) when the tap is padding.
//! - **Bias gradient**: `db[co] = Σ_r dy[n, co, oh, ow]` over the same `r`, chunked order.
//!
//! CUDA kernels: `conv.cu` holds the general ones (one output per thread, any geometry);
//! `conv_tiled.cu` the tiled ones, which the dispatch below prefers when a layer fits them
//! (32-bit offsets, weights of a channel tile within 32 KiB of shared memory, stride 1 for the
//! input gradient). Both run each output's sequence of operations above unchanged, so they give
//! the same bits; only which thread computes which outputs, and what is staged in shared
//! memory, differ.

mod cpu;
mod cpu_grad;

use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Activation, Backend, BufId, Kernels};
use crate::error::{Error, Result};

/// The CUDA source of this folder: `conv.cu` (geometry helpers, the general kernels), then
/// `conv_tiled.cu` (the tiled kernels, which use those helpers) in the same unit.
pub const CUDA: Family = Family::new(
    "conv.cu",
    concat!(include_str!("conv.cu"), include_str!("conv_tiled.cu")),
);

/// Largest kernel extent per axis (the CPU kernels keep tap lists on the stack).
pub const MAX_KERNEL: usize = 32;

/// The geometry of one convolution, shared by every pass and both backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeom {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    /// Zero padding before the first row and column (after the last: implied by `oh`, `ow`).
    pub pad: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Conv2dGeom {
    /// Output size along one axis for a symmetric padding `pad` on both sides, or an error.
    pub fn out_len(
        input: usize,
        kernel: usize,
        stride: usize,
        pad_total: usize,
        dil: usize,
    ) -> Option<usize> {
        let span = dil.checked_mul(kernel.checked_sub(1)?)?.checked_add(1)?;
        let padded = input.checked_add(pad_total)?;
        if stride == 0 || padded < span {
            return None;
        }
        Some((padded - span) / stride + 1)
    }

    /// Input channels per group.
    pub fn cig(&self) -> usize {
        self.c_in / self.groups
    }
    /// Output channels per group.
    pub fn cog(&self) -> usize {
        self.c_out / self.groups
    }
    /// Values of `x`, `y` and the weights.
    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h * self.w
    }
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.oh * self.ow
    }
    pub fn w_len(&self) -> usize {
        self.c_out * self.cig() * self.kh * self.kw
    }

    /// Checks the geometry (the layer gives clearer errors first; this guards the kernels).
    pub fn check(&self, op: &str) -> Result<()> {
        let bad = |why: String| Err(Error::Shape(format!("{op}: {why} ({self:?})")));
        if self.groups == 0
            || !self.c_in.is_multiple_of(self.groups)
            || !self.c_out.is_multiple_of(self.groups)
        {
            return bad("channels must be divisible by groups".into());
        }
        if self.kh == 0 || self.kw == 0 || self.kh > MAX_KERNEL || self.kw > MAX_KERNEL {
            return bad(format!("kernel extents must be in 1..={MAX_KERNEL}"));
        }
        let (sh, sw) = self.stride;
        let (dh, dw) = self.dilation;
        if sh == 0 || sw == 0 || dh == 0 || dw == 0 {
            return bad("stride and dilation must be at least 1".into());
        }
        if self.c_in == 0 || self.c_out == 0 || self.h == 0 || self.w == 0 {
            return bad("empty input or output channels".into());
        }
        if self.oh == 0 || self.ow == 0 {
            return bad("empty output".into());
        }
        // Every output must have at least its first tap position inside the padded input.
        let last_h = (self.oh - 1) * sh + (self.kh - 1) * dh;
        let last_w = (self.ow - 1) * sw + (self.kw - 1) * dw;
        if last_h >= self.h + 2 * self.pad.0 + sh || last_w >= self.w + 2 * self.pad.1 + sw {
            return bad("output size does not fit the padded input".into());
        }
        if self.h.max(self.w).max(self.oh).max(self.ow) >= 1 << 31 {
            return bad("spatial extent too large".into());
        }
        let total = self.y_len().max(self.x_len()).max(self.w_len());
        if total >= 1 << 40 {
            return bad("tensor too large".into());
        }
        Ok(())
    }

    /// The geometry packed into 8 words of two 32-bit halves, as the CUDA kernels take it
    /// (`nx_conv_geom` in `conv.cu` unpacks them in this order).
    pub(crate) fn words(&self) -> [u64; 8] {
        let p = |a: usize, b: usize| (a as u64 & 0xffff_ffff) | ((b as u64) << 32);
        [
            p(self.batch, self.groups),
            p(self.c_in, self.c_out),
            p(self.h, self.w),
            p(self.oh, self.ow),
            p(self.kh, self.kw),
            p(self.stride.0, self.stride.1),
            p(self.pad.0, self.pad.1),
            p(self.dilation.0, self.dilation.1),
        ]
    }

    fn args(&self, mut a: KArgs) -> KArgs {
        for w in self.words() {
            a = a.word(w);
        }
        a
    }
}

/// Forward: `y = act(conv(x, w) + bias)`, with the pre-activation kept when asked.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dForward {
    pub geom: Conv2dGeom,
    pub x: BufId,
    pub w: BufId,
    pub bias: Option<BufId>,
    pub y: BufId,
    /// Receives `z` (before the activation) when given.
    pub pre_act: Option<BufId>,
    pub act: Activation,
}

/// Input gradient `dx` from the output gradient `dy` (at the pre-activation).
#[derive(Clone, Copy, Debug)]
pub struct Conv2dBackwardInput {
    pub geom: Conv2dGeom,
    pub dy: BufId,
    pub w: BufId,
    pub dx: BufId,
}

/// Weight and bias gradients from the input `x` and the output gradient `dy`.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dBackwardParams {
    pub geom: Conv2dGeom,
    pub x: BufId,
    pub dy: BufId,
    pub dw: BufId,
    pub db: Option<BufId>,
}

/// Runs [`Conv2dForward`].
pub fn conv2d_forward(backend: &mut dyn Backend, a: &Conv2dForward) -> Result<()> {
    let g = a.geom;
    g.check("conv2d_forward")?;
    let ins = [
        (a.x, g.x_len()),
        (a.w, g.w_len()),
        (a.bias.unwrap_or(a.w), a.bias.map_or(0, |_| g.c_out)),
    ];
    let outs = [
        (a.y, g.y_len()),
        (a.pre_act.unwrap_or(a.y), a.pre_act.map_or(0, |_| g.y_len())),
    ];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, w, bias], [y, pre])) = cpu.operands("conv2d_forward", ins, outs)?;
            let bias = a.bias.map(|_| bias);
            let pre = a.pre_act.map(|_| pre);
            cpu::forward(pool, &g, x, w, bias, y, pre, a.act);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, w, bias], [y, pre]) = cuda.operands("conv2d_forward", ins, outs)?;
            let (code, alpha) = a.act.kernel_args();
            let args = KArgs::new()
                .ptr(x)
                .ptr(w)
                .ptr(if a.bias.is_some() { bias } else { 0 })
                .ptr(y)
                .ptr(if a.pre_act.is_some() { pre } else { 0 })
                .i32(code)
                .f32(alpha);
            match forward_tiled_launch(&g) {
                Some((name, grid)) => cuda.launch_op(CUDA, name, grid, TILE_BLOCK, g.args(args)),
                None => cuda.launch_op_1d(CUDA, "nx_conv2d_forward", g.y_len(), g.args(args)),
            }
        }
    }
}

/// Runs [`Conv2dBackwardInput`].
pub fn conv2d_backward_input(backend: &mut dyn Backend, a: &Conv2dBackwardInput) -> Result<()> {
    let g = a.geom;
    g.check("conv2d_backward_input")?;
    let ins = [(a.dy, g.y_len()), (a.w, g.w_len())];
    let outs = [(a.dx, g.x_len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([dy, w], [dx])) = cpu.operands("conv2d_backward_input", ins, outs)?;
            cpu::backward_input(pool, &g, dy, w, dx);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([dy, w], [dx]) = cuda.operands("conv2d_backward_input", ins, outs)?;
            let args = KArgs::new().ptr(dy).ptr(w).ptr(dx);
            match backward_input_tiled_launch(&g) {
                Some((name, grid)) => cuda.launch_op(CUDA, name, grid, TILE_BLOCK, g.args(args)),
                None => {
                    cuda.launch_op_1d(CUDA, "nx_conv2d_backward_input", g.x_len(), g.args(args))
                }
            }
        }
    }
}

/// Runs [`Conv2dBackwardParams`].
pub fn conv2d_backward_params(backend: &mut dyn Backend, a: &Conv2dBackwardParams) -> Result<()> {
    let g = a.geom;
    g.check("conv2d_backward_params")?;
    let ins = [(a.x, g.x_len()), (a.dy, g.y_len())];
    let outs = [
        (a.dw, g.w_len()),
        (a.db.unwrap_or(a.dw), a.db.map_or(0, |_| g.c_out)),
    ];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, dy], [dw, db])) = cpu.operands("conv2d_backward_params", ins, outs)?;
            let db = a.db.map(|_| db);
            cpu_grad::backward_params(pool, &g, x, dy, dw, db);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, dy], [dw, db]) = cuda.operands("conv2d_backward_params", ins, outs)?;
            let rows = g.batch * g.oh * g.ow;
            let n_chunks = crate::ops::reduce::chunks(rows).max(1);
            let (nw, nb) = (g.w_len(), if a.db.is_some() { g.c_out } else { 0 });
            let partial = cuda.op_scratch(n_chunks * (nw + nb))?;
            let pb = partial + (n_chunks * nw * 4) as u64;
            // The tiled kernel writes the bias partials too (from the dy it stages).
            let tiled = dw_tiled_launch(&g, n_chunks);
            if let Some((name, grid, block)) = tiled {
                let pb_arg = if nb > 0 { pb } else { 0 };
                let args = KArgs::new().ptr(x).ptr(dy).ptr(partial).ptr(pb_arg);
                cuda.launch_op(CUDA, name, grid, block, g.args(args))?;
            } else {
                let args = KArgs::new().ptr(x).ptr(dy).ptr(partial).u64(n_chunks);
                cuda.launch_op_1d(CUDA, "nx_conv2d_dw_partial", n_chunks * nw, g.args(args))?;
            }
            let args = KArgs::new().ptr(partial).ptr(dw).u64(n_chunks).u64(nw);
            let grid = (nw.div_ceil(32).min(1 << 20) as u32, 1, 1);
            cuda.launch_op(CUDA, "nx_conv_sum_partials", grid, TILE_BLOCK, args)?;
            if nb > 0 {
                if tiled.is_none() {
                    let args = KArgs::new().ptr(dy).ptr(pb).u64(n_chunks);
                    cuda.launch_op_1d(CUDA, "nx_conv2d_db_partial", n_chunks * nb, g.args(args))?;
                }
                let args = KArgs::new().ptr(pb).ptr(db).u64(n_chunks).u64(nb);
                let grid = (nb.div_ceil(32).min(1 << 20) as u32, 1, 1);
                cuda.launch_op(CUDA, "nx_conv_sum_partials", grid, TILE_BLOCK, args)?;
            }
            Ok(())
        }
    }
}

/// Whether the tiled kernels' 32-bit offsets hold: they address x and dy as `i32`, and before
/// a tap test an offset may reach past a tensor's end (or before its start) by up to the
/// kernel's dilated extent and the padding, in rows and columns.
fn offsets_fit(g: &Conv2dGeom) -> bool {
    let wide = g.w.max(g.ow);
    let rows = g.kh.saturating_mul(g.dilation.0).saturating_add(g.pad.0);
    let cols = g.kw.saturating_mul(g.dilation.1).saturating_add(g.pad.1);
    let reach = rows
        .saturating_mul(wide)
        .saturating_add(cols)
        .saturating_add(wide);
    g.x_len().max(g.y_len()).saturating_add(reach) < 1 << 30
}

/// Whether `nx_conv2d_dw_tiled_*` (conv.cu) can take the weight gradient's partials, and its
/// launch: one block per (chunk, group and block of `cob` output channels, task block), a thread
/// per 4 output channels x `tn` input channels of one tap. It needs 32-bit offsets and the
/// grid's y and z limits (chunks < 2^22 follows from the offsets); otherwise the one-weight-per-thread `nx_conv2d_dw_partial` runs.
/// `tn` = 4 gives each thread 16 accumulators; when there are few chunks (small batches) 1
/// spreads the same work over more blocks. `cob` = 16 halves the staged dy of layers with at
/// most 16 output channels per group, so more of their (small) blocks fit an SM.
fn dw_tiled_launch(g: &Conv2dGeom, chunks: usize) -> Option<(&'static str, (u32, u32, u32), u32)> {
    let (cig, cog) = (g.cig(), g.cog());
    let fits = offsets_fit(g);
    let tn = if cig >= 4 && chunks >= 128 { 4 } else { 1 };
    let cob = if cog <= 16 { 16 } else { 32 };
    let tasks = g.kh * g.kw * cig.div_ceil(tn) * cog.min(cob).div_ceil(4);
    let (y, z) = (g.groups * cog.div_ceil(cob), tasks.div_ceil(512));
    if !fits || y >= 1 << 16 || z >= 1 << 16 {
        return None;
    }
    let block = tasks.div_ceil(z).div_ceil(32) * 32;
    let name = match (tn, cob) {
        (4, 32) => "nx_conv2d_dw_tiled_n4_c32",
        (1, 32) => "nx_conv2d_dw_tiled_n1_c32",
        (4, _) => "nx_conv2d_dw_tiled_n4_c16",
        _ => "nx_conv2d_dw_tiled_n1_c16",
    };
    Some((name, (chunks as u32, y as u32, z as u32), block as u32))
}

/// Threads per block of the tiled forward and input-gradient kernels (one pixel each) and of
/// `nx_conv_sum_partials`.
const TILE_BLOCK: u32 = 256;
/// Weights a block of those kernels stages in shared memory (`NX_CONV_TILE_W` in conv.cu).
const TILE_WEIGHTS: usize = 8192;

/// The tiled kernel over `pixels` pixels with `tm`-channel tiles of `channels` channels per
/// group, each tile staging `taps` weights per channel: its name suffix and grid, or `None`
/// when the staged weights or the offsets do not fit (the one-output-per-thread kernel runs).
fn pixel_tiled_grid(
    g: &Conv2dGeom,
    pixels: usize,
    channels: usize,
    taps: usize,
) -> Option<(usize, (u32, u32, u32))> {
    let tm = if channels >= 8 { 8 } else { 4 };
    let tiles = g.groups * channels.div_ceil(tm);
    let fits = offsets_fit(g) && taps * tm <= TILE_WEIGHTS;
    if !fits || tiles >= 1 << 16 {
        return None;
    }
    let blocks = pixels.div_ceil(TILE_BLOCK as usize);
    Some((tm, (blocks as u32, tiles as u32, 1)))
}

/// `nx_conv2d_forward_tiled_m8/_m4` (a thread per pixel and 8 or 4 output channels) when the
/// layer's weights per channel tile fit in shared memory.
fn forward_tiled_launch(g: &Conv2dGeom) -> Option<(&'static str, (u32, u32, u32))> {
    let (tm, grid) = pixel_tiled_grid(g, g.batch * g.oh * g.ow, g.cog(), g.cig() * g.kh * g.kw)?;
    let name = if tm == 8 {
        "nx_conv2d_forward_tiled_m8"
    } else {
        "nx_conv2d_forward_tiled_m4"
    };
    Some((name, grid))
}

/// `nx_conv2d_backward_input_tiled_m8/_m4` (a thread per input pixel and 8 or 4 input
/// channels) for stride 1 when the weights per channel tile fit in shared memory.
fn backward_input_tiled_launch(g: &Conv2dGeom) -> Option<(&'static str, (u32, u32, u32))> {
    if g.stride != (1, 1) {
        return None;
    }
    let (tm, grid) = pixel_tiled_grid(g, g.batch * g.h * g.w, g.cig(), g.cog() * g.kh * g.kw)?;
    let name = if tm == 8 {
        "nx_conv2d_backward_input_tiled_m8"
    } else {
        "nx_conv2d_backward_input_tiled_m4"
    };
    Some((name, grid))
}
