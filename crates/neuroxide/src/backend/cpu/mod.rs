//! The CPU backend: buffers in host memory, exact kernels, an allocation-free thread pool.
//!
//! One file per kernel family; this file owns the buffer table and checks every kernel's
//! arguments (sizes, aliasing) before running it, so a planning bug is an error, not UB.

pub mod activation;
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
use crate::error::{Error, Result};
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

/// Borrowed kernel operands: `N` inputs and `M` outputs.
pub type KernelOperands<'a, const N: usize, const M: usize> = ([&'a [f32]; N], [&'a mut [f32]; M]);

/// The buffer table, with checked borrows for kernels.
struct Buffers(Vec<Vec<f32>>);

impl CpuBackend {
    /// A CPU backend with `threads` threads (0 = [`default_threads`]).
    pub fn new(threads: usize) -> Self {
        let threads = if threads == 0 {
            default_threads()
        } else {
            threads
        };
        CpuBackend {
            bufs: Buffers(Vec::new()),
            pool: ThreadPool::new(threads),
            constants: Vec::new(),
        }
    }

    /// The thread pool kernels run on.
    pub fn pool(&self) -> &ThreadPool {
        &self.pool
    }

    /// A buffer's values.
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
}

impl Buffers {
    fn slice(&self, id: BufId) -> Result<&[f32]> {
        self.0
            .get(id.0 as usize)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::backend(format!("cpu: unknown buffer {}", id.0)))
    }

    pub fn check(&self, kernel: &str, id: BufId, need: usize) -> Result<()> {
        let have = self.slice(id)?.len();
        if need > have {
            return Err(Error::backend(format!(
                "cpu {kernel}: buffer {} holds {have} values, the kernel needs {need}",
                id.0
            )));
        }
        Ok(())
    }

    /// Borrows `N` input buffers and one distinct output buffer (first `len` values of each).
    pub fn io<const N: usize>(
        &mut self,
        kernel: &str,
        ins: [(BufId, usize); N],
        out: (BufId, usize),
    ) -> Result<([&[f32]; N], &mut [f32])> {
        let (ins, [out]) = self.ios(kernel, ins, [out])?;
        Ok((ins, out))
    }

    /// Borrows `N` input buffers and `M` output buffers (first `len` values of each). Outputs
    /// must be distinct from each other and from the inputs; an entry of length 0 is unused and
    /// yields an empty slice.
    pub fn ios<const N: usize, const M: usize>(
        &mut self,
        kernel: &str,
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<KernelOperands<'_, N, M>> {
        for &(id, len) in ins.iter().chain(outs.iter()) {
            self.check(kernel, id, len)?;
        }
        for (i, &(o, olen)) in outs.iter().enumerate() {
            let clash = ins.iter().any(|&(id, len)| len > 0 && id == o)
                || outs[i + 1..].iter().any(|&(id, len)| len > 0 && id == o);
            if olen > 0 && clash {
                return Err(Error::backend(format!(
                    "cpu {kernel}: output buffer {} aliases another operand",
                    o.0
                )));
            }
        }
        let base = self.0.as_mut_ptr();
        // SAFETY: indices were checked above, and every non-empty output is distinct from all
        // other operands, so no mutable borrow aliases another borrow. Borrows end with `&mut self`.
        unsafe {
            let ins = ins.map(|(id, len)| &(&*base.add(id.0 as usize))[..len]);
            let outs = outs.map(|(id, len)| {
                if len == 0 {
                    &mut [][..]
                } else {
                    &mut (&mut *base.add(id.0 as usize))[..len]
                }
            });
            Ok((ins, outs))
        }
    }

    /// Mutable access to two distinct buffers.
    pub fn two_mut(&mut self, a: BufId, b: BufId) -> Result<(&mut Vec<f32>, &mut Vec<f32>)> {
        if a == b {
            return Err(Error::backend(format!("cpu: buffer {} passed twice", a.0)));
        }
        self.slice(a)?;
        self.slice(b)?;
        let base = self.0.as_mut_ptr();
        // SAFETY: distinct, checked indices.
        unsafe { Ok((&mut *base.add(a.0 as usize), &mut *base.add(b.0 as usize))) }
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
    fn alloc(&mut self, len: usize) -> Result<BufId> {
        let id = u32::try_from(self.bufs.0.len())
            .map_err(|_| Error::backend("cpu: too many buffers"))?;
        self.bufs.0.push(vec![0.0; len]);
        Ok(BufId(id))
    }
    fn free(&mut self, buf: BufId) -> Result<()> {
        let b = self
            .bufs
            .0
            .get_mut(buf.0 as usize)
            .ok_or_else(|| Error::backend(format!("cpu: unknown buffer {}", buf.0)))?;
        *b = Vec::new();
        Ok(())
    }
    fn buf_len(&self, buf: BufId) -> usize {
        self.bufs.slice(buf).map_or(0, <[f32]>::len)
    }
    fn upload(&mut self, dst: BufId, offset: usize, src: &[f32]) -> Result<()> {
        self.bufs.check("upload", dst, offset + src.len())?;
        self.bufs.0[dst.0 as usize][offset..offset + src.len()].copy_from_slice(src);
        Ok(())
    }
    fn download(&mut self, src: BufId, offset: usize, dst: &mut [f32]) -> Result<()> {
        self.bufs.check("download", src, offset + dst.len())?;
        dst.copy_from_slice(&self.bufs.0[src.0 as usize][offset..offset + dst.len()]);
        Ok(())
    }
    fn synchronize(&mut self) -> Result<()> {
        Ok(())
    }
    fn constant_tables(&mut self) -> &mut Vec<(String, BufId)> {
        &mut self.constants
    }
    fn fill(&mut self, dst: BufId, len: usize, value: f32) -> Result<()> {
        self.bufs.check("fill", dst, len)?;
        self.bufs.0[dst.0 as usize][..len].fill(value);
        Ok(())
    }
    fn copy_2d(&mut self, c: &Copy2d) -> Result<()> {
        if c.rows == 0 || c.cols == 0 {
            return Ok(());
        }
        let src_need = c.src_offset + (c.rows - 1) * c.src_stride + c.cols;
        let dst_need = c.dst_offset + (c.rows - 1) * c.dst_stride + c.cols;
        self.bufs.check("copy_2d", c.src, src_need)?;
        self.bufs.check("copy_2d", c.dst, dst_need)?;
        if c.src == c.dst {
            let buf = &mut self.bufs.0[c.src.0 as usize];
            for r in 0..c.rows {
                let s = c.src_offset + r * c.src_stride;
                buf.copy_within(s..s + c.cols, c.dst_offset + r * c.dst_stride);
            }
            return Ok(());
        }
        let (src, dst) = self.bufs.two_mut(c.src, c.dst)?;
        for r in 0..c.rows {
            let s = c.src_offset + r * c.src_stride;
            let d = c.dst_offset + r * c.dst_stride;
            dst[d..d + c.cols].copy_from_slice(&src[s..s + c.cols]);
        }
        Ok(())
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
        self.bufs.check("scale", x, n)?;
        for v in &mut self.bufs.0[x.0 as usize][..n] {
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
                self.bufs.0[b.0 as usize][StepBlock::DROPOUT_STEP].to_bits()
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
        let target_len = match a.target_kind {
            TargetKind::Dense => n,
            TargetKind::ClassIndex => a.rows,
        };
        self.bufs.check("loss", a.loss_out, a.loss_index + 1)?;
        if let Some(r) = a.running_index {
            self.bufs.check("loss", a.loss_out, r + 1)?;
        }
        if a.loss_out == a.grad || a.loss_out == a.pred || a.loss_out == a.target {
            return Err(Error::backend("cpu loss: loss_out aliases another operand"));
        }
        let ([pred, target], grad) =
            self.bufs
                .io("loss", [(a.pred, n), (a.target, target_len)], (a.grad, n))?;
        let value = loss::loss(a.kind, a.target_kind, pred, target, grad, a.rows, a.cols)?;
        let out = &mut self.bufs.0[a.loss_out.0 as usize];
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
        let target_len = match target_kind {
            TargetKind::Dense => rows * cols,
            TargetKind::ClassIndex => rows,
        };
        self.bufs.check("count_correct", pred, rows * cols)?;
        self.bufs.check("count_correct", target, target_len)?;
        self.bufs.check("count_correct", out, out_index + 1)?;
        let count = reduce::count_correct(
            &self.bufs.slice(pred)?[..rows * cols],
            &self.bufs.slice(target)?[..target_len],
            target_kind,
            from_logits,
            rows,
            cols,
        );
        self.bufs.0[out.0 as usize][out_index] += count;
        Ok(())
    }
    fn accumulate_scalar(
        &mut self,
        src: BufId,
        src_index: usize,
        dst: BufId,
        dst_index: usize,
    ) -> Result<()> {
        self.bufs.check("accumulate_scalar", src, src_index + 1)?;
        self.bufs.check("accumulate_scalar", dst, dst_index + 1)?;
        let v = self.bufs.0[src.0 as usize][src_index];
        self.bufs.0[dst.0 as usize][dst_index] += v;
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
