//! The CPU backend: buffers in host memory, exact kernels, an allocation-free thread pool.
//!
//! One file per kernel family; this file owns the buffer table and checks every kernel's
//! arguments (sizes, aliasing) before running it, so a planning bug is an error, not UB.

pub mod activation;
mod buffers;
pub mod elementwise;
pub mod loss;
pub mod matmul;
pub mod optimizer;
pub mod pool;
pub mod reduce;
pub mod softmax;

use crate::backend::device::Device;
use crate::backend::{
    Activation, Backend, BufId, Copy2d, LossArgs, Matmul, OptimizerStep, StepBlock, TargetKind,
};
use crate::dtype::{DType, HostData, HostDataMut};
use crate::error::{Error, Result};
use buffers::Buffers;
use pool::ThreadPool;

/// Number of CPU threads to use when the caller says 0: `NEUROXIDE_THREADS`, else all cores.
pub fn default_threads() -> usize {
    std::env::var("NEUROXIDE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The CPU backend.
pub struct CpuBackend {
    bufs: Buffers,
    pool: ThreadPool,
    /// [`Backend::constant_table`]'s tables.
    constants: Vec<(String, BufId)>,
}

pub use buffers::KernelOperands;

impl CpuBackend {
    /// A CPU backend with `threads` threads (0 = [`default_threads`]).
    pub fn new(threads: usize) -> Self {
        let threads = if threads == 0 {
            default_threads()
        } else {
            threads
        };
        CpuBackend {
            bufs: Buffers::default(),
            pool: ThreadPool::new(threads),
            constants: Vec::new(),
        }
    }

    /// The thread pool kernels run on.
    pub fn pool(&self) -> &ThreadPool {
        &self.pool
    }

    /// An f32 buffer's values.
    pub fn slice(&self, id: BufId) -> Result<&[f32]> {
        self.bufs.slice(id)
    }

    /// The operands of an op's CPU kernel: `N` inputs and `M` outputs, each given as (buffer,
    /// values the kernel touches), checked as every kernel's are (sizes; outputs distinct from
    /// each other and from the inputs; a length of 0 marks an unused operand), and the pool to
    /// run on.
    pub fn operands<const N: usize, const M: usize>(
        &mut self,
        kernel: &str,
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<(&ThreadPool, KernelOperands<'_, N, M>)> {
        let ops = self.bufs.ios(kernel, ins, outs)?;
        Ok((&self.pool, ops))
    }

    /// [`CpuBackend::operands`] with one more input first: an i32 buffer of ids or class
    /// labels (buffer, values touched), borrowed as `&[i32]`. An f32 buffer there is a dtype
    /// error naming both dtypes.
    #[allow(clippy::type_complexity)]
    pub fn operands_with_ids<const N: usize, const M: usize>(
        &mut self,
        kernel: &str,
        ids: (BufId, usize),
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<(&ThreadPool, &[i32], KernelOperands<'_, N, M>)> {
        let (ids, ops) = self.bufs.ios_with_ids(kernel, ids, ins, outs)?;
        Ok((&self.pool, ids, ops))
    }
}

impl Backend for CpuBackend {
    fn kernels(&mut self) -> crate::backend::Kernels<'_> {
        crate::backend::Kernels::Cpu(self)
    }
    fn name(&self) -> String {
        format!("cpu ({} threads)", self.pool.threads())
    }
    fn device(&self) -> Device {
        Device::Cpu {
            threads: self.pool.threads(),
        }
    }
    fn alloc_typed(&mut self, dtype: DType, shape: &[usize]) -> Result<BufId> {
        self.bufs.alloc(dtype, shape)
    }
    fn free(&mut self, buf: BufId) -> Result<()> {
        self.bufs.free(buf)
    }
    fn buf_dtype(&self, buf: BufId) -> Option<DType> {
        self.bufs.dtype(buf)
    }
    fn buf_shape(&self, buf: BufId) -> Option<Vec<usize>> {
        self.bufs.get(buf).ok().map(|b| b.shape.clone())
    }
    fn buf_len(&self, buf: BufId) -> usize {
        self.bufs.len(buf)
    }
    fn upload_values(&mut self, dst: BufId, offset: usize, src: HostData<'_>) -> Result<()> {
        self.bufs.upload(dst, offset, src)
    }
    fn download_values(&mut self, src: BufId, offset: usize, dst: HostDataMut<'_>) -> Result<()> {
        self.bufs.download(src, offset, dst)
    }
    fn synchronize(&mut self) -> Result<()> {
        Ok(())
    }
    fn constant_tables(&mut self) -> &mut Vec<(String, BufId)> {
        &mut self.constants
    }
    fn fill(&mut self, dst: BufId, len: usize, value: f32) -> Result<()> {
        self.bufs.slice_mut("fill", dst, len)?[..len].fill(value);
        Ok(())
    }
    fn copy_2d(&mut self, c: &Copy2d) -> Result<()> {
        self.bufs.copy_2d(c)
    }
    fn matmul(&mut self, mm: &Matmul) -> Result<()> {
        let (m, n, k) = (mm.m, mm.n, mm.k);
        let bias_len = if mm.bias.is_some() { n } else { 0 };
        let bias_id = mm.bias.unwrap_or(mm.a);
        let pre_len = if mm.pre_act.is_some() { m * n } else { 0 };
        let ([a, b, bias], [c, pre]) = self.bufs.ios(
            "matmul",
            [(mm.a, m * k), (mm.b, k * n), (bias_id, bias_len)],
            [(mm.c, m * n), (mm.pre_act.unwrap_or(mm.c), pre_len)],
        )?;
        let args = matmul::MatmulArgs {
            m,
            n,
            k,
            a,
            a_trans: mm.a_trans,
            b,
            b_trans: mm.b_trans,
            bias: mm.bias.map(|_| bias),
            act: mm.act,
        };
        let pre = mm.pre_act.map(|_| pre);
        matmul::matmul(&self.pool, &args, c, pre);
        Ok(())
    }
    fn activation_forward(&mut self, act: Activation, x: BufId, y: BufId, n: usize) -> Result<()> {
        let ([x], y) = self.bufs.io("activation_forward", [(x, n)], (y, n))?;
        elementwise::activation_forward(&self.pool, act, x, y);
        Ok(())
    }
    fn activation_backward(
        &mut self,
        act: Activation,
        x: BufId,
        y: BufId,
        dy: BufId,
        dx: BufId,
        n: usize,
    ) -> Result<()> {
        let ([x, y, dy], dx) =
            self.bufs
                .io("activation_backward", [(x, n), (y, n), (dy, n)], (dx, n))?;
        elementwise::activation_backward(&self.pool, act, x, y, dy, dx);
        Ok(())
    }
    fn softmax_forward(
        &mut self,
        log: bool,
        x: BufId,
        y: BufId,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        let ([x], y) = self
            .bufs
            .io("softmax_forward", [(x, rows * cols)], (y, rows * cols))?;
        softmax::forward(&self.pool, log, x, y, rows, cols);
        Ok(())
    }
    fn softmax_backward(
        &mut self,
        log: bool,
        y: BufId,
        dy: BufId,
        dx: BufId,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        let n = rows * cols;
        let ([y, dy], dx) = self
            .bufs
            .io("softmax_backward", [(y, n), (dy, n)], (dx, n))?;
        softmax::backward(&self.pool, log, y, dy, dx, rows, cols);
        Ok(())
    }
    fn add(&mut self, a: BufId, b: BufId, out: BufId, n: usize) -> Result<()> {
        let ([a, b], out) = self.bufs.io("add", [(a, n), (b, n)], (out, n))?;
        elementwise::add(&self.pool, a, b, out);
        Ok(())
    }
    fn add_assign(&mut self, acc: BufId, x: BufId, n: usize) -> Result<()> {
        let ([x], acc) = self.bufs.io("add_assign", [(x, n)], (acc, n))?;
        elementwise::add_assign(acc, x);
        Ok(())
    }
    fn mul(&mut self, a: BufId, b: BufId, out: BufId, n: usize) -> Result<()> {
        let ([a, b], out) = self.bufs.io("mul", [(a, n), (b, n)], (out, n))?;
        elementwise::mul(&self.pool, a, b, out);
        Ok(())
    }
    fn scale(&mut self, x: BufId, n: usize, s: f32) -> Result<()> {
        for v in &mut self.bufs.slice_mut("scale", x, n)?[..n] {
            *v *= s;
        }
        Ok(())
    }
    fn dropout_forward(
        &mut self,
        x: BufId,
        y: BufId,
        mask: BufId,
        n: usize,
        p: f32,
        scale: f32,
        seed: u64,
        stream: u32,
        step: u32,
        step_block: Option<BufId>,
    ) -> Result<()> {
        let step = match step_block {
            Some(b) => {
                self.bufs.check("dropout_forward", b, StepBlock::LEN)?;
                self.bufs.slice(b)?[StepBlock::DROPOUT_STEP].to_bits()
            }
            None => step,
        };
        let ([x], [y, mask]) = self
            .bufs
            .ios("dropout_forward", [(x, n)], [(y, n), (mask, n)])?;
        elementwise::dropout_forward(x, y, mask, p, scale, seed, stream, step);
        Ok(())
    }
    fn loss(&mut self, a: &LossArgs) -> Result<()> {
        let n = a.rows * a.cols;
        self.bufs.check("loss", a.loss_out, a.loss_index + 1)?;
        if let Some(r) = a.running_index {
            self.bufs.check("loss", a.loss_out, r + 1)?;
        }
        if a.loss_out == a.grad || a.loss_out == a.pred || a.loss_out == a.target {
            return Err(Error::backend("cpu loss: loss_out aliases another operand"));
        }
        let value = match a.target_kind {
            TargetKind::Dense => {
                let ([pred, target], grad) =
                    self.bufs
                        .io("loss", [(a.pred, n), (a.target, n)], (a.grad, n))?;
                let targets = loss::Targets::Dense(target);
                loss::loss(a.kind, targets, pred, grad, a.rows, a.cols)?
            }
            TargetKind::ClassIndex => {
                let (labels, ([pred], [grad])) = self.bufs.ios_with_ids(
                    "loss",
                    (a.target, a.rows),
                    [(a.pred, n)],
                    [(a.grad, n)],
                )?;
                let targets = loss::Targets::Classes(labels);
                loss::loss(a.kind, targets, pred, grad, a.rows, a.cols)?
            }
        };
        let out = self.bufs.slice_mut("loss", a.loss_out, a.loss_index + 1)?;
        out[a.loss_index] = value;
        if let Some(r) = a.running_index {
            out[r] += value;
        }
        Ok(())
    }
    fn count_correct(
        &mut self,
        pred: BufId,
        target: BufId,
        target_kind: TargetKind,
        from_logits: bool,
        rows: usize,
        cols: usize,
        out: BufId,
        out_index: usize,
    ) -> Result<()> {
        let n = rows * cols;
        self.bufs.check("count_correct", out, out_index + 1)?;
        let count = match target_kind {
            TargetKind::Dense => {
                let ([pred, target], []) =
                    self.bufs
                        .ios("count_correct", [(pred, n), (target, n)], [])?;
                reduce::count_correct(pred, loss::Targets::Dense(target), from_logits, rows, cols)
            }
            TargetKind::ClassIndex => {
                let (labels, ([pred], [])) =
                    self.bufs
                        .ios_with_ids("count_correct", (target, rows), [(pred, n)], [])?;
                reduce::count_correct(
                    pred,
                    loss::Targets::Classes(labels),
                    from_logits,
                    rows,
                    cols,
                )
            }
        };
        self.bufs.slice_mut("count_correct", out, out_index + 1)?[out_index] += count;
        Ok(())
    }
    fn accumulate_scalar(
        &mut self,
        src: BufId,
        src_index: usize,
        dst: BufId,
        dst_index: usize,
    ) -> Result<()> {
        let v = self.bufs.slice(src)?.get(src_index).copied();
        let v = v.ok_or_else(|| {
            Error::backend(format!(
                "cpu accumulate_scalar: buffer {} has no value {src_index}",
                src.0
            ))
        })?;
        self.bufs
            .slice_mut("accumulate_scalar", dst, dst_index + 1)?[dst_index] += v;
        Ok(())
    }
    fn clip_by_global_norm(
        &mut self,
        grad: BufId,
        n: usize,
        partials: BufId,
        count: usize,
        max_norm: f32,
    ) -> Result<()> {
        let ([partials], grad) =
            self.bufs
                .io("clip_by_global_norm", [(partials, count)], (grad, n))?;
        if let Some(f) = reduce::clip_factor(partials, max_norm) {
            for g in grad.iter_mut() {
                *g *= f;
            }
        }
        Ok(())
    }
    fn optimizer_step(&mut self, s: &OptimizerStep) -> Result<()> {
        let resolved;
        let s = match s.block {
            Some(b) => {
                let ([block], []) = self.bufs.ios("optimizer_step", [(b, StepBlock::LEN)], [])?;
                resolved = s.resolved(block);
                &resolved
            }
            None => s,
        };
        let need = s.kind.state_count();
        for (i, st) in s.state.iter().enumerate().take(need) {
            match st {
                Some(id) => self.bufs.check("optimizer_step", *id, s.n)?,
                None => {
                    return Err(Error::backend(format!(
                        "cpu optimizer_step: state buffer {i} missing"
                    )))
                }
            }
        }
        let state_len = |i: usize| if i < need { s.n } else { 0 };
        let ([g], [w, s0, s1]) = self.bufs.ios(
            "optimizer_step",
            [(s.grad, s.n)],
            [
                (s.param, s.n),
                (s.state[0].unwrap_or(s.param), state_len(0)),
                (s.state[1].unwrap_or(s.param), state_len(1)),
            ],
        )?;
        let (s0, s1) = ((need > 0).then_some(s0), (need > 1).then_some(s1));
        optimizer::step(&self.pool, s, w, g, s0, s1);
        Ok(())
    }
}
