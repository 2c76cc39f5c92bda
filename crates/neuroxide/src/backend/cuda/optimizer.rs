//! Optimizer updates on the CUDA backend: one tensor per launch, or every parameter of a model
//! in one launch through a cached device table of its buffers (`kernels/optimizer.cu`).

use super::backend::CudaBackend;
use super::compile;
use super::context::drv;
use super::launch::KArgs;
use crate::backend::{BufId, OptimizerKind, OptimizerStep, StepBlock};
use crate::error::{Error, Result};
use cudarc::driver::result as cu;

impl CudaBackend {
    pub(super) fn optimizer_step_all_kernel(&mut self, steps: &[OptimizerStep]) -> Result<()> {
        let Some(first) = steps.first() else {
            return Ok(());
        };
        let one_launch = first.block.is_some()
            && steps
                .iter()
                .all(|s| s.kind == first.kind && s.block == first.block);
        if !one_launch {
            for s in steps {
                self.optimizer_step_kernel(s)?;
            }
            return Ok(());
        }
        self.bind()?;
        let need = first.kind.state_count();
        for s in steps {
            if s.state.iter().take(need).any(Option::is_none) {
                return Err(Error::backend(
                    "cuda optimizer_step_all: state buffer missing",
                ));
            }
            let state_len = |i: usize| if i < need { s.n } else { 0 };
            self.ios(
                "optimizer_step_all",
                [(s.grad, s.n)],
                [
                    (s.param, s.n),
                    (s.state[0].unwrap_or(s.param), state_len(0)),
                    (s.state[1].unwrap_or(s.param), state_len(1)),
                ],
            )?;
        }
        let total: usize = steps.iter().map(|s| s.n).sum();
        if total == 0 {
            return Ok(());
        }
        let table = self.optimizer_table(steps, need)?;
        let pblock = self.buf(
            "optimizer_step_all",
            first.block.unwrap_or(first.param),
            StepBlock::LEN,
        )?;
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
        self.launch_1d(compile::OPTIMIZER, name, total, args.ptr(pblock))
    }

    pub(super) fn optimizer_step_kernel(&mut self, s: &OptimizerStep) -> Result<()> {
        self.bind()?;
        let need = s.kind.state_count();
        for (i, st) in s.state.iter().enumerate().take(need) {
            if st.is_none() {
                return Err(Error::backend(format!(
                    "cuda optimizer_step: state buffer {i} missing"
                )));
            }
        }
        let state_len = |i: usize| if i < need { s.n } else { 0 };
        let ([pg], [pw, ps0, ps1]) = self.ios(
            "optimizer_step",
            [(s.grad, s.n)],
            [
                (s.param, s.n),
                (s.state[0].unwrap_or(s.param), state_len(0)),
                (s.state[1].unwrap_or(s.param), state_len(1)),
            ],
        )?;
        if s.n == 0 {
            return Ok(());
        }
        let sc = s.scalars;
        let pblock = match s.block {
            Some(b) => self.buf("optimizer_step", b, StepBlock::LEN)?,
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
                self.launch_1d(compile::OPTIMIZER, "nx_sgd", s.n, args)
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
                self.launch_1d(compile::OPTIMIZER, "nx_adam", s.n, args)
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
                self.launch_1d(compile::OPTIMIZER, "nx_rmsprop", s.n, args)
            }
        }
    }

    /// The device table of the multi-tensor optimizer for `steps` (`optimizer.cu`,
    /// `NX_MT_WORDS` words per tensor, then the total), built and uploaded the first time a
    /// set of buffers is seen and reused afterwards (so a recorded step allocates nothing).
    fn optimizer_table(&mut self, steps: &[OptimizerStep], need: usize) -> Result<u64> {
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
        if let Some((_, b)) = self.optimizer_tables.iter().find(|(k, _)| same(k)) {
            return Ok(b.ptr);
        }
        let mut key = Vec::with_capacity(4 * steps.len());
        let mut words = Vec::with_capacity(5 * steps.len() + 1);
        let mut first = 0u64;
        for s in steps {
            key.extend(ids(s));
            let ptr = |b: Option<BufId>, len: usize| match b {
                Some(b) if len > 0 => self.buf("optimizer_step_all", b, len),
                _ => Ok(0),
            };
            words.push(ptr(Some(s.param), s.n)?);
            words.push(ptr(Some(s.grad), s.n)?);
            words.push(ptr(s.state[0].filter(|_| need > 0), s.n)?);
            words.push(ptr(s.state[1].filter(|_| need > 1), s.n)?);
            words.push(first);
            first += s.n as u64;
        }
        words.push(first);
        let block = self.raw_alloc(words.len() * 8)?;
        // SAFETY: `block` holds `words.len()` u64 values; the pageable source is staged by the
        // driver before the call returns.
        drv("uploading an optimizer table", unsafe {
            cu::memcpy_htod_async(block.ptr, &words, self.stream.cu_stream())
        })?;
        self.optimizer_tables.push((key, block));
        Ok(block.ptr)
    }
}
