//! Elementwise ops: activations (forward and backward), `add`, `add_assign`, `mul`, `scale`,
//! `fill`, `moving_average` and `swap`. No reductions: every output depends on one index only, so any thread count and any
//! launch shape give the same bits.
//!
//! Formulas: [`Activation`] lists each activation's forward and backward (`activation.rs` on
//! the CPU, mirrored line for line by `activation.cuh`, which the matmul and convolution
//! epilogues share); the arithmetic ops are one IEEE operation per element, as written on each
//! function.

pub mod activation;
pub mod cpu;

use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Activation, Backend, BufId, Kernels, StepBlock};
use crate::error::Result;

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new(
    "ops/elementwise/elementwise.cu",
    include_str!("elementwise.cu"),
);

/// `y[i] = act(x[i])` for `i < n`.
#[derive(Clone, Copy, Debug)]
pub struct ActivationForward {
    pub act: Activation,
    pub x: BufId,
    pub y: BufId,
    pub n: usize,
}

/// `dx[i] = dy[i] * act'(x[i])`, the derivative computed from `x` (the pre-activation) or `y`
/// (the output), as each activation's formula in [`Activation`] says.
#[derive(Clone, Copy, Debug)]
pub struct ActivationBackward {
    pub act: Activation,
    pub x: BufId,
    pub y: BufId,
    pub dy: BufId,
    pub dx: BufId,
    pub n: usize,
}

/// Runs [`ActivationForward`].
pub fn activation_forward(backend: &mut dyn Backend, a: &ActivationForward) -> Result<()> {
    let (ins, outs) = ([(a.x, a.n)], [(a.y, a.n)]);
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x], [y])) = cpu.operands("activation_forward", ins, outs)?;
            cpu::activation_forward(pool, a.act, x, y);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([px], [py]) = cuda.operands("activation_forward", ins, outs)?;
            if a.n == 0 {
                return Ok(());
            }
            let (code, p) = a.act.kernel_args();
            let args = KArgs::new().i32(code).f32(p).ptr(px).ptr(py).u64(a.n);
            cuda.launch_op_1d(CUDA, "nx_act_fwd", a.n, args)
        }
    }
}

/// Runs [`ActivationBackward`].
pub fn activation_backward(backend: &mut dyn Backend, a: &ActivationBackward) -> Result<()> {
    let n = a.n;
    let (ins, outs) = ([(a.x, n), (a.y, n), (a.dy, n)], [(a.dx, n)]);
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, y, dy], [dx])) = cpu.operands("activation_backward", ins, outs)?;
            cpu::activation_backward(pool, a.act, x, y, dy, dx);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([px, py, pdy], [pdx]) = cuda.operands("activation_backward", ins, outs)?;
            if n == 0 {
                return Ok(());
            }
            let (code, p) = a.act.kernel_args();
            let args = KArgs::new()
                .i32(code)
                .f32(p)
                .ptr(px)
                .ptr(py)
                .ptr(pdy)
                .ptr(pdx)
                .u64(n);
            cuda.launch_op_1d(CUDA, "nx_act_bwd", n, args)
        }
    }
}

/// `out[i] = a[i] + b[i]` for `i < n`.
pub fn add(backend: &mut dyn Backend, a: BufId, b: BufId, out: BufId, n: usize) -> Result<()> {
    let (ins, outs) = ([(a, n), (b, n)], [(out, n)]);
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([a, b], [out])) = cpu.operands("add", ins, outs)?;
            cpu::add(pool, a, b, out);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([pa, pb], [po]) = cuda.operands("add", ins, outs)?;
            if n == 0 {
                return Ok(());
            }
            let args = KArgs::new().ptr(pa).ptr(pb).ptr(po).u64(n);
            cuda.launch_op_1d(CUDA, "nx_add", n, args)
        }
    }
}

/// `acc[i] = acc[i] + x[i]` for `i < n` (in place on `acc`).
pub fn add_assign(backend: &mut dyn Backend, acc: BufId, x: BufId, n: usize) -> Result<()> {
    let (ins, outs) = ([(x, n)], [(acc, n)]);
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (_, ([x], [acc])) = cpu.operands("add_assign", ins, outs)?;
            cpu::add_assign(acc, x);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([px], [pacc]) = cuda.operands("add_assign", ins, outs)?;
            if n == 0 {
                return Ok(());
            }
            let args = KArgs::new().ptr(pacc).ptr(px).u64(n);
            cuda.launch_op_1d(CUDA, "nx_add_assign", n, args)
        }
    }
}

/// `out[i] = a[i] * b[i]` for `i < n`.
pub fn mul(backend: &mut dyn Backend, a: BufId, b: BufId, out: BufId, n: usize) -> Result<()> {
    let (ins, outs) = ([(a, n), (b, n)], [(out, n)]);
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([a, b], [out])) = cpu.operands("mul", ins, outs)?;
            cpu::mul(pool, a, b, out);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([pa, pb], [po]) = cuda.operands("mul", ins, outs)?;
            if n == 0 {
                return Ok(());
            }
            let args = KArgs::new().ptr(pa).ptr(pb).ptr(po).u64(n);
            cuda.launch_op_1d(CUDA, "nx_mul", n, args)
        }
    }
}

/// `x[i] = x[i] * s` for `i < n` (in place).
pub fn scale(backend: &mut dyn Backend, x: BufId, n: usize, s: f32) -> Result<()> {
    scale_range(backend, x, 0, n, s)
}

/// `x[i] = x[i] * s` for `offset <= i < offset + n` (in place).
pub fn scale_range(
    backend: &mut dyn Backend,
    x: BufId,
    offset: usize,
    n: usize,
    s: f32,
) -> Result<()> {
    let outs = [(x, offset + n)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (_, ([], [x])) = cpu.operands("scale", [], outs)?;
            for v in x[offset..offset + n].iter_mut() {
                *v *= s;
            }
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([], [p]) = cuda.operands("scale", [], outs)?;
            if n == 0 {
                return Ok(());
            }
            let args = KArgs::new().ptr(p + (offset * 4) as u64).u64(n).f32(s);
            cuda.launch_op_1d(CUDA, "nx_scale", n, args)
        }
    }
}

/// `dst[i] = value` for `i < len`.
pub fn fill(backend: &mut dyn Backend, dst: BufId, len: usize, value: f32) -> Result<()> {
    let outs = [(dst, len)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (_, ([], [dst])) = cpu.operands("fill", [], outs)?;
            dst.fill(value);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([], [p]) = cuda.operands("fill", [], outs)?;
            if len == 0 {
                return Ok(());
            }
            let args = KArgs::new().ptr(p).u64(len).f32(value);
            cuda.launch_op_1d(CUDA, "nx_fill", len, args)
        }
    }
}

/// `avg[i] = keep * avg[i] + take * x[i]` for `i < n`, with `keep` and `take` read from the
/// per-step scalar block ([`StepBlock`]'s `EMA_KEEP`, `EMA_TAKE`; `take = 1 − keep` rounded once
/// on the host): two multiplies and one add, no fma (the optimizer's convention). The
/// exponential moving average of the weights (`Model::set_weight_ema`).
pub fn moving_average(
    backend: &mut dyn Backend,
    avg: BufId,
    x: BufId,
    n: usize,
    block: BufId,
) -> Result<()> {
    let (ins, outs) = ([(x, n), (block, StepBlock::LEN)], [(avg, n)]);
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (_, ([x, block], [avg])) = cpu.operands("moving_average", ins, outs)?;
            let (keep, take) = (block[StepBlock::EMA_KEEP], block[StepBlock::EMA_TAKE]);
            cpu::moving_average(avg, x, keep, take);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([px, pblock], [pavg]) = cuda.operands("moving_average", ins, outs)?;
            if n == 0 {
                return Ok(());
            }
            let args = KArgs::new().ptr(pavg).ptr(px).u64(n).ptr(pblock);
            cuda.launch_op_1d(CUDA, "nx_moving_average", n, args)
        }
    }
}

/// Exchanges `a[i]` and `b[i]` for `i < n` (no arithmetic).
pub fn swap(backend: &mut dyn Backend, a: BufId, b: BufId, n: usize) -> Result<()> {
    let outs = [(a, n), (b, n)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (_, ([], [a, b])) = cpu.operands("swap", [], outs)?;
            a[..n].swap_with_slice(&mut b[..n]);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([], [pa, pb]) = cuda.operands("swap", [], outs)?;
            if n == 0 {
                return Ok(());
            }
            let args = KArgs::new().ptr(pa).ptr(pb).u64(n);
            cuda.launch_op_1d(CUDA, "nx_swap", n, args)
        }
    }
}
