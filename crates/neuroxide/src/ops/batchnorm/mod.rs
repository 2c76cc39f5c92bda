//! BatchNorm over the channels of `[N, C, P]` data (`P` = H×W for NCHW images, 1 for the
//! features of `[N, F]`): batch statistics in training, running statistics in evaluation, and
//! the explicit backward.
//!
//! Order (the contract; `batchnorm.cu` follows it line for line). Channel `c` reduces over its
//! `M = N·P` values, term `k` being sample `k / P`, pixel `k % P` (samples outer, pixels
//! inner), every sum in the chunked order of rule 2a (`ops::reduce::chunked`):
//! ```text
//! mean  = chunked(acc + x[k]) / M
//! sq    = chunked(fma(d, d, acc), d = x[k] - mean)
//! rstd  = 1 / sqrt(sq / M + eps)                          (biased variance)
//! running_mean = (1 - momentum) * running_mean + momentum * mean
//! running_var  = (1 - momentum) * running_var  + momentum * (sq / (M - 1))   (unbiased)
//! y = ((x - mean) * rstd) * gamma + beta        (affine; no fma)
//! y =  (x - mean) * rstd                        (without affine: no ·1 + 0, which would
//!                                                turn −0 into +0)
//! ```
//! Evaluation uses `mean = running_mean`, `rstd = 1 / sqrt(running_var + eps)` in the same
//! expression. Backward, with `xhat = (x - mean) * rstd` recomputed:
//! ```text
//! sum_dy      = chunked(acc + dy[k])           (= dbeta)
//! sum_dy_xhat = chunked(fma(dy[k], xhat[k], acc))   (= dgamma)
//! dx = ((dy - sum_dy / M) - xhat * (sum_dy_xhat / M)) * (rstd * gamma)   (rstd alone without
//!                                                                        affine; no fma)
//! ```
//! PyTorch's conventions: momentum 0.1 weighs the new batch, the running variance is
//! unbiased, the normalisation uses the biased one. No atomics: on CUDA one thread per
//! (channel, chunk) writes each partial, one thread per channel adds them in chunk order.

mod cpu;

use super::reduce::chunks;
use crate::backend::cuda::{Family, KArgs, BLOCK};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/batchnorm/batchnorm.cu", include_str!("batchnorm.cu"));

/// The layout of the normalised data: `batch × channels × plane`, row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
}

impl Geometry {
    /// Values per channel: `M = batch × plane`.
    pub fn terms(&self) -> usize {
        self.batch * self.plane
    }
    /// Every value.
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.plane
    }
    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn check(&self, what: &str) -> Result<()> {
        let ok = self
            .batch
            .checked_mul(self.channels)
            .and_then(|v| v.checked_mul(self.plane))
            .is_some();
        if !ok || self.channels == 0 || self.plane == 0 {
            return Err(Error::Shape(format!("{what}: bad geometry {self:?}")));
        }
        Ok(())
    }
}

/// Training-mode statistics: saves `mean` and `rstd` (one per channel) and updates the
/// running statistics in place. Needs at least 2 values per channel (`M ≥ 2`), as PyTorch.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormStats {
    pub geometry: Geometry,
    pub x: BufId,
    pub mean: BufId,
    pub rstd: BufId,
    pub running_mean: BufId,
    pub running_var: BufId,
    pub eps: f32,
    pub momentum: f32,
}

/// Where the per-channel scale of [`BatchNormNormalize`] comes from.
#[derive(Clone, Copy, Debug)]
pub enum Scale {
    /// Saved reciprocal standard deviations (training).
    Rstd(BufId),
    /// `1 / sqrt(var + eps)` of a running variance (evaluation).
    Variance { var: BufId, eps: f32 },
}

/// `y = ((x - mean) * scale) * gamma + beta` per channel (`affine` = `Some((gamma, beta))`).
#[derive(Clone, Copy, Debug)]
pub struct BatchNormNormalize {
    pub geometry: Geometry,
    pub x: BufId,
    pub mean: BufId,
    pub scale: Scale,
    pub affine: Option<(BufId, BufId)>,
    pub y: BufId,
}

/// Backward: the per-channel sums (`dbeta`, `dgamma`), then `dx` when wanted.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormBackward {
    pub geometry: Geometry,
    pub x: BufId,
    pub dy: BufId,
    pub mean: BufId,
    pub rstd: BufId,
    pub gamma: Option<BufId>,
    /// Per channel `Σ dy` (the `beta` gradient).
    pub sum_dy: BufId,
    /// Per channel `Σ dy · xhat` (the `gamma` gradient).
    pub sum_dy_xhat: BufId,
    pub dx: Option<BufId>,
}

/// Runs [`BatchNormStats`].
pub fn batchnorm_stats(backend: &mut dyn Backend, a: &BatchNormStats) -> Result<()> {
    let g = a.geometry;
    g.check("batchnorm_stats")?;
    if g.terms() < 2 {
        return Err(Error::Shape(format!(
            "BatchNorm in training needs more than 1 value per channel, got {} (batch {} × \
             {} per channel): use a larger batch",
            g.terms(),
            g.batch,
            g.plane
        )));
    }
    let c = g.channels;
    let ins = [(a.x, g.len())];
    let outs = [
        (a.mean, c),
        (a.rstd, c),
        (a.running_mean, c),
        (a.running_var, c),
    ];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x], [mean, rstd, rm, rv])) = cpu.operands("batchnorm_stats", ins, outs)?;
            cpu::stats(pool, g, x, mean, rstd, rm, rv, a.eps, a.momentum);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x], [mean, rstd, rm, rv]) = cuda.operands("batchnorm_stats", ins, outs)?;
            let n_chunks = chunks(g.terms());
            let partial = cuda.op_scratch(c * n_chunks)?;
            let grid = (n_chunks.div_ceil(BLOCK as usize) as u32, c as u32, 1);
            let geo = |k: KArgs| k.u64(g.terms()).u64(c).u64(g.plane);
            let args = geo(KArgs::new().ptr(x).ptr(partial));
            cuda.launch_op(CUDA, "nx_batchnorm_sum_partial", grid, BLOCK, args)?;
            let args = KArgs::new().ptr(partial).ptr(mean).u64(g.terms()).u64(c);
            cuda.launch_op_1d(CUDA, "nx_batchnorm_mean", c, args)?;
            let args = geo(KArgs::new().ptr(x).ptr(mean).ptr(partial));
            cuda.launch_op(CUDA, "nx_batchnorm_squares_partial", grid, BLOCK, args)?;
            let args = KArgs::new()
                .ptr(partial)
                .ptr(mean)
                .ptr(rstd)
                .ptr(rm)
                .ptr(rv)
                .u64(g.terms())
                .u64(c)
                .f32(a.eps)
                .f32(a.momentum);
            cuda.launch_op_1d(CUDA, "nx_batchnorm_var", c, args)
        }
    }
}

/// Runs [`BatchNormNormalize`].
pub fn batchnorm_normalize(backend: &mut dyn Backend, a: &BatchNormNormalize) -> Result<()> {
    let g = a.geometry;
    g.check("batchnorm_normalize")?;
    let c = g.channels;
    let (stat, from_var) = match a.scale {
        Scale::Rstd(b) => (b, None),
        Scale::Variance { var, eps } => (var, Some(eps)),
    };
    // An unused operand is given with length 0 (never read).
    let (gamma, beta) = a
        .affine
        .map_or(((a.x, 0), (a.x, 0)), |(gm, bt)| ((gm, c), (bt, c)));
    let ins = [(a.x, g.len()), (a.mean, c), (stat, c), gamma, beta];
    let outs = [(a.y, g.len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, mean, stat, gamma, beta], [y])) =
                cpu.operands("batchnorm_normalize", ins, outs)?;
            let affine = a.affine.map(|_| (gamma, beta));
            cpu::normalize(pool, g, x, mean, stat, affine, y, from_var);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, mean, stat, gamma, beta], [y]) =
                cuda.operands("batchnorm_normalize", ins, outs)?;
            let args = KArgs::new()
                .ptr(x)
                .ptr(mean)
                .ptr(stat)
                .ptr(gamma)
                .ptr(beta)
                .ptr(y)
                .u64(g.len())
                .u64(c)
                .u64(g.plane)
                .u32(u32::from(a.affine.is_some()))
                .u32(u32::from(from_var.is_some()))
                .f32(from_var.unwrap_or(0.0));
            cuda.launch_op_1d(CUDA, "nx_batchnorm_normalize", g.len(), args)
        }
    }
}

/// Runs [`BatchNormBackward`].
pub fn batchnorm_backward(backend: &mut dyn Backend, a: &BatchNormBackward) -> Result<()> {
    let g = a.geometry;
    g.check("batchnorm_backward")?;
    let c = g.channels;
    let ins = [(a.x, g.len()), (a.dy, g.len()), (a.mean, c), (a.rstd, c)];
    let outs = [(a.sum_dy, c), (a.sum_dy_xhat, c)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, dy, mean, rstd], [sa, sb])) =
                cpu.operands("batchnorm_grad_sums", ins, outs)?;
            cpu::grad_sums(pool, g, x, dy, mean, rstd, sa, sb);
        }
        Kernels::Cuda(cuda) => {
            let ([x, dy, mean, rstd], [sa, sb]) =
                cuda.operands("batchnorm_grad_sums", ins, outs)?;
            let n_chunks = chunks(g.terms()).max(1);
            let partial = cuda.op_scratch(2 * c * n_chunks)?;
            let partial_b = partial + (c * n_chunks * 4) as u64;
            let grid = (n_chunks.div_ceil(BLOCK as usize) as u32, c as u32, 1);
            let args = KArgs::new()
                .ptr(x)
                .ptr(dy)
                .ptr(mean)
                .ptr(rstd)
                .ptr(partial)
                .ptr(partial_b)
                .u64(g.terms())
                .u64(c)
                .u64(g.plane);
            cuda.launch_op(CUDA, "nx_batchnorm_grad_partial", grid, BLOCK, args)?;
            let args = KArgs::new()
                .ptr(partial)
                .ptr(partial_b)
                .ptr(sa)
                .ptr(sb)
                .u64(n_chunks)
                .u64(c);
            cuda.launch_op_1d(CUDA, "nx_batchnorm_grad_total", c, args)?;
        }
    }
    let Some(dx) = a.dx else {
        return Ok(());
    };
    let gamma = a.gamma.map_or((a.x, 0), |gm| (gm, c));
    let ins = [
        (a.x, g.len()),
        (a.dy, g.len()),
        (a.mean, c),
        (a.rstd, c),
        gamma,
        (a.sum_dy, c),
        (a.sum_dy_xhat, c),
    ];
    let outs = [(dx, g.len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, dy, mean, rstd, gamma, sa, sb], [dx])) =
                cpu.operands("batchnorm_dx", ins, outs)?;
            let gamma = a.gamma.map(|_| gamma);
            cpu::dx(pool, g, x, dy, mean, rstd, gamma, sa, sb, dx);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, dy, mean, rstd, gamma, sa, sb], [dx]) =
                cuda.operands("batchnorm_dx", ins, outs)?;
            let args = KArgs::new()
                .ptr(x)
                .ptr(dy)
                .ptr(mean)
                .ptr(rstd)
                .ptr(gamma)
                .ptr(sa)
                .ptr(sb)
                .ptr(dx)
                .u64(g.len())
                .u64(g.terms())
                .u64(c)
                .u64(g.plane)
                .u32(u32::from(a.gamma.is_some()));
            cuda.launch_op_1d(CUDA, "nx_batchnorm_dx", g.len(), args)
        }
    }
}
