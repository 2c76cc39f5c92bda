//! Optimizer updates: SGD (momentum, Nesterov), Adam / AdamW and RMSprop, one parameter tensor
//! at a time or every tensor of a model in one launch.
//!
//! No reductions: each element's update reads only its own parameter, gradient and state, as
//! written on [`OptimizerStep`], so any thread count or launch shape gives the same bits. The
//! per-element update of each optimizer is one device function in `optimizer.cu`, called by the
//! one-tensor kernel (`nx_<opt>`) and the multi-tensor kernel (`nx_<opt>_multi`), so both
//! compute the same bits by construction.

pub mod cpu;

use crate::backend::cuda::{CudaBackend, Family, KArgs};
use crate::backend::{host_scalars, Backend, BufId, Kernels, OptimizerKind, StepBlock};
use crate::error::{Error, Result};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/optimizer/optimizer.cu", include_str!("optimizer.cu"));

/// One update of one parameter tensor of `n` values. Host-computed scalars (rule 8 of
/// PARITY.md) are passed in; `t` is the 1-based step number. Adam's bias corrections
/// `step_size` and `bc2_sqrt` are computed in f64 and rounded once to f32 (f32 `1 − β2^t`
/// loses about 6 digits to cancellation); the others are computed in f32.
///
/// Exact arithmetic per element (`g` = gradient, `w` = parameter):
/// - SGD: `g = g + wd*w` (if wd ≠ 0); with momentum: `b = mom*b + g`; Nesterov: `g = g + mom*b`,
///   else `g = b`; `w = w - lr*g`.
/// - Adam: `g = g + wd*w` (L2, if wd ≠ 0 and not decoupled); decoupled: `w = w * decay` with
///   `decay = 1 - lr*wd`; `m = b1*m + c1*g` with `c1 = 1 - b1`; `v = b2*v + c2*(g*g)` with
///   `c2 = 1 - b2`; `den = sqrt(v) / bc2_sqrt + eps`; `w = w - step_size * (m / den)` with
///   `step_size = lr / (1 - b1^t)`, `bc2_sqrt = sqrt(1 - b2^t)`.
/// - RMSprop: `g = g + wd*w`; `v = alpha*v + c*(g*g)` with `c = 1 - alpha`;
///   `den = sqrt(v) + eps`; with momentum: `b = mom*b + g/den`, `w = w - lr*b`;
///   else `w = w - lr*(g/den)`.
///
/// Every `a*b + c` above is a separate multiply and add (no fma).
#[derive(Clone, Copy, Debug)]
pub struct OptimizerStep {
    pub kind: OptimizerKind,
    pub n: usize,
    pub param: BufId,
    pub grad: BufId,
    /// State buffers: SGD `[momentum]`, Adam `[m, v]`, RMSprop `[v, momentum]`; unused ones
    /// are ignored.
    pub state: [Option<BufId>; 2],
    /// Host-computed scalars: Adam `[step_size, bc2_sqrt, decay, c1, c2]`, RMSprop `[c]`.
    pub scalars: [f32; 5],
    /// When set, the learning rate and `scalars` are read from this per-step scalar block
    /// ([`StepBlock`]) on the device instead of `kind.lr()` and `scalars`, so a captured
    /// step (a CUDA graph) replays with each step's own values (PARITY rule 8).
    pub block: Option<BufId>,
}

impl OptimizerStep {
    /// The same step reading its learning rate and scalars from a [`StepBlock`].
    pub fn with_block(mut self, block: BufId) -> Self {
        self.block = Some(block);
        self
    }

    /// This step with the learning rate and scalars taken from a block's values.
    pub fn resolved(mut self, block: &[f32]) -> Self {
        self.kind = self.kind.with_lr(block[StepBlock::LR]);
        self.scalars
            .copy_from_slice(&block[StepBlock::SCALARS..StepBlock::SCALARS + 5]);
        self.block = None;
        self
    }

    /// Builds the step for update number `t` (1-based), computing the host scalars in f32.
    pub fn new(
        kind: OptimizerKind,
        t: u64,
        param: BufId,
        grad: BufId,
        state: [Option<BufId>; 2],
        n: usize,
    ) -> Self {
        let scalars = host_scalars(kind, t);
        OptimizerStep {
            kind,
            n,
            param,
            grad,
            state,
            scalars,
            block: None,
        }
    }
}

/// Gradient in; parameter and two states out, each as (buffer, values).
type UpdateOperands = ([(BufId, usize); 1], [(BufId, usize); 3]);

/// The operands of one update: the gradient in; the parameter and the states the kind uses
/// out (an unused state has length 0).
fn operands(s: &OptimizerStep, kernel: &str) -> Result<UpdateOperands> {
    let need = s.kind.state_count();
    for (i, st) in s.state.iter().enumerate().take(need) {
        if st.is_none() {
            return Err(Error::backend(format!(
                "{kernel}: state buffer {i} missing"
            )));
        }
    }
    let state_len = |i: usize| if i < need { s.n } else { 0 };
    Ok((
        [(s.grad, s.n)],
        [
            (s.param, s.n),
            (s.state[0].unwrap_or(s.param), state_len(0)),
            (s.state[1].unwrap_or(s.param), state_len(1)),
        ],
    ))
}

/// One update of one parameter tensor (see [`OptimizerStep`]).
pub fn step(backend: &mut dyn Backend, s: &OptimizerStep) -> Result<()> {
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let resolved;
            let s = match s.block {
                Some(b) => {
                    let (_, ([block], [])) =
                        cpu.operands("optimizer_step", [(b, StepBlock::LEN)], [])?;
                    resolved = s.resolved(block);
                    &resolved
                }
                None => s,
            };
            let (ins, outs) = operands(s, "cpu optimizer_step")?;
            let need = s.kind.state_count();
            let (pool, ([g], [w, s0, s1])) = cpu.operands("optimizer_step", ins, outs)?;
            let (s0, s1) = ((need > 0).then_some(s0), (need > 1).then_some(s1));
            cpu::step(pool, s, w, g, s0, s1);
            Ok(())
        }
        Kernels::Cuda(cuda) => step_cuda(cuda, s),
    }
}

/// The updates of every parameter tensor of a model, with the per-element arithmetic of
/// [`step`] (so the same bits). On CUDA, when every step has the same kind and reads one
/// [`StepBlock`], they are one launch through a device table of the buffers (built once per
/// set of buffers and cached by the backend, so a recorded step allocates nothing); otherwise
/// they run one by one in order.
pub fn step_all(backend: &mut dyn Backend, steps: &[OptimizerStep]) -> Result<()> {
    let Some(first) = steps.first() else {
        return Ok(());
    };
    let one_launch = first.block.is_some()
        && steps
            .iter()
            .all(|s| s.kind == first.kind && s.block == first.block);
    let cuda = match backend.kernels() {
        Kernels::Cuda(cuda) if one_launch => cuda,
        _ => {
            for s in steps {
                step(backend, s)?;
            }
            return Ok(());
        }
    };
    let need = first.kind.state_count();
    for s in steps {
        let (ins, outs) = operands(s, "cuda optimizer_step_all")?;
        cuda.operands("optimizer_step_all", ins, outs)?;
    }
    let total: usize = steps.iter().map(|s| s.n).sum();
    if total == 0 {
        return Ok(());
    }
    let table = multi_tensor_table(cuda, steps, need)?;
    let block = first.block.unwrap_or(first.param);
    let ([pblock], []) = cuda.operands("optimizer_step_all", [(block, StepBlock::LEN)], [])?;
    let count = steps.len();
    let (name, args) = match first.kind {
        OptimizerKind::Sgd {
            momentum,
            nesterov,
            weight_decay,
            ..
        } => (
            "nx_sgd_multi",
            KArgs::new()
                .ptr(table)
                .u64(count)
                .f32(momentum)
                .i32(i32::from(nesterov))
                .f32(weight_decay),
        ),
        OptimizerKind::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            ..
        } => (
            "nx_adam_multi",
            KArgs::new()
                .ptr(table)
                .u64(count)
                .f32(beta1)
                .f32(beta2)
                .f32(eps)
                .f32(weight_decay)
                .i32(i32::from(decoupled)),
        ),
        OptimizerKind::RmsProp {
            alpha,
            eps,
            momentum,
            weight_decay,
            ..
        } => (
            "nx_rmsprop_multi",
            KArgs::new()
                .ptr(table)
                .u64(count)
                .f32(alpha)
                .f32(eps)
                .f32(momentum)
                .f32(weight_decay),
        ),
    };
    cuda.launch_op_1d(CUDA, name, total, args.ptr(pblock))
}

/// One tensor's update on CUDA (`nx_sgd`, `nx_adam`, `nx_rmsprop`).
fn step_cuda(cuda: &mut CudaBackend, s: &OptimizerStep) -> Result<()> {
    let need = s.kind.state_count();
    let (ins, outs) = operands(s, "cuda optimizer_step")?;
    let ([pg], [pw, ps0, ps1]) = cuda.operands("optimizer_step", ins, outs)?;
    if s.n == 0 {
        return Ok(());
    }
    let sc = s.scalars;
    let pblock = match s.block {
        Some(b) => {
            cuda.operands("optimizer_step", [(b, StepBlock::LEN)], [])?
                .0[0]
        }
        None => 0,
    };
    match s.kind {
        OptimizerKind::Sgd {
            lr,
            momentum,
            nesterov,
            weight_decay,
        } => {
            let args = KArgs::new()
                .ptr(pw)
                .ptr(pg)
                .ptr(if need > 0 { ps0 } else { 0 })
                .u64(s.n)
                .f32(lr)
                .f32(momentum)
                .i32(i32::from(nesterov))
                .f32(weight_decay)
                .ptr(pblock);
            cuda.launch_op_1d(CUDA, "nx_sgd", s.n, args)
        }
        OptimizerKind::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            ..
        } => {
            let args = KArgs::new()
                .ptr(pw)
                .ptr(pg)
                .ptr(ps0)
                .ptr(ps1)
                .u64(s.n)
                .f32(beta1)
                .f32(beta2)
                .f32(eps)
                .f32(weight_decay)
                .i32(i32::from(decoupled))
                .f32(sc[0])
                .f32(sc[1])
                .f32(sc[2])
                .f32(sc[3])
                .f32(sc[4])
                .ptr(pblock);
            cuda.launch_op_1d(CUDA, "nx_adam", s.n, args)
        }
        OptimizerKind::RmsProp {
            lr,
            alpha,
            eps,
            momentum,
            weight_decay,
        } => {
            let args = KArgs::new()
                .ptr(pw)
                .ptr(pg)
                .ptr(ps0)
                .ptr(if need > 1 { ps1 } else { 0 })
                .u64(s.n)
                .f32(lr)
                .f32(alpha)
                .f32(eps)
                .f32(momentum)
                .f32(weight_decay)
                .f32(sc[0])
                .ptr(pblock);
            cuda.launch_op_1d(CUDA, "nx_rmsprop", s.n, args)
        }
    }
}

/// The device table of the multi-tensor kernels for `steps` (`optimizer.cu`, `NX_MT_WORDS`
/// words per tensor: `[w, g, state0, state1, first element]`, then the total), built and
/// uploaded the first time a set of buffers is seen and reused afterwards.
fn multi_tensor_table(cuda: &mut CudaBackend, steps: &[OptimizerStep], need: usize) -> Result<u64> {
    let ids = |s: &OptimizerStep| {
        let st = |i: usize| s.state[i].filter(|_| i < need).map_or(u32::MAX, |b| b.0);
        [s.param.0, s.grad.0, st(0), st(1)]
    };
    let same = |key: &[u32]| {
        key.len() == 4 * steps.len()
            && key
                .chunks(4)
                .zip(steps)
                .all(|(k, s)| k == ids(s).as_slice())
    };
    if let Some(table) = cuda.cached_table(same) {
        return Ok(table);
    }
    let mut key = Vec::with_capacity(4 * steps.len());
    let mut words = Vec::with_capacity(5 * steps.len() + 1);
    let mut first = 0u64;
    for s in steps {
        key.extend(ids(s));
        let mut ptr = |b: Option<BufId>, len: usize| match b {
            Some(b) if len > 0 => Ok(cuda.operands("optimizer_step_all", [(b, len)], [])?.0[0]),
            _ => Ok::<u64, Error>(0),
        };
        words.push(ptr(Some(s.param), s.n)?);
        words.push(ptr(Some(s.grad), s.n)?);
        words.push(ptr(s.state[0].filter(|_| need > 0), s.n)?);
        words.push(ptr(s.state[1].filter(|_| need > 1), s.n)?);
        words.push(first);
        first += s.n as u64;
    }
    words.push(first);
    cuda.upload_table(key, &words)
}
