//! 2-D pooling (NCHW): max pooling with the argmax saved for backward, and average pooling
//! (global average pooling is average pooling with the window of the whole plane).
//!
//! A window of output `(oh, ow)` covers input rows `oh*stride_h - pad_h + i`, `i < kh`, and
//! columns `ow*stride_w - pad_w + j`, `j < kw`; taps outside the input are padding, skipped
//! (never compared, never added, never counted: PARITY rule 2b). Tap index `t = i*kw + j`.
//!
//! Orders (the contract; `cpu.rs` and `pool.cu` follow it to the letter):
//! - **Max forward**: taps in increasing `t`; the first valid tap sets `(m, a)`; a later tap
//!   `v` replaces them when `v > m`, or when `v` is NaN and `m` is not. So the *first* maximum
//!   wins a tie, and the first NaN wins over everything (NaN propagates, as in PyTorch).
//!   `y = m`; `argmax = a` as the input's index within its plane (`ih*W + iw`, an f32, exact
//!   below 2^24). A window with no valid tap gives `y = 0`, `argmax = -1`.
//! - **Max backward** (a gather, rule 6): `dx[ih, iw]` starts at 0 and, over the windows that
//!   contain it in increasing `oh`, then `ow`, adds `dy[oh, ow]` where `argmax[oh, ow]` is
//!   `(ih, iw)`.
//! - **Average forward**: `s` = the sum of the valid taps in the chunked order of rule 2a over
//!   `t` (plain sequential for windows of up to 256 taps; global pooling over large planes
//!   uses the chunks); `y = s / count`, `count` = the number of valid taps (0 taps: `y = 0`).
//! - **Average backward** (a gather): `dx[ih, iw]` starts at 0 and, over the windows that
//!   contain it in increasing `oh`, then `ow`, adds `dy[oh, ow] / count(oh, ow)`.

mod cpu;

use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("pool.cu", include_str!("pool.cu"));

/// The geometry of one pooling, shared by both passes and both backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeom {
    pub batch: usize,
    pub channels: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    /// Padding before the first row and column (after the last: implied by `oh`, `ow`).
    pub pad: (usize, usize),
    pub oh: usize,
    pub ow: usize,
}

impl Pool2dGeom {
    pub fn x_len(&self) -> usize {
        self.batch * self.channels * self.h * self.w
    }
    pub fn y_len(&self) -> usize {
        self.batch * self.channels * self.oh * self.ow
    }

    /// 2x2 windows, stride 2, no padding, even input sizes: every input lies in exactly one
    /// window (the case of `nx_max_pool2d_backward_2x2`).
    pub fn is_plain_2x2(&self) -> bool {
        (self.kh, self.kw, self.stride, self.pad) == (2, 2, (2, 2), (0, 0))
            && self.h == 2 * self.oh
            && self.w == 2 * self.ow
    }
    /// Checks the geometry (layers give clearer errors first; this guards the kernels).
    pub fn check(&self, op: &str) -> Result<()> {
        let bad = |why: &str| Err(Error::Shape(format!("{op}: {why} ({self:?})")));
        if self.kh == 0 || self.kw == 0 || self.stride.0 == 0 || self.stride.1 == 0 {
            return bad("window and stride must be at least 1");
        }
        if self.h == 0 || self.w == 0 || self.oh == 0 || self.ow == 0 || self.channels == 0 {
            return bad("empty input or output");
        }
        if self.h * self.w >= 1 << 24 {
            return bad("planes of 2^24 values or more cannot hold an exact f32 argmax");
        }
        if self.pad.0 >= self.kh || self.pad.1 >= self.kw {
            return bad("padding must be smaller than the window");
        }
        if self.x_len().max(self.y_len()) >= 1 << 40 {
            return bad("tensor too large");
        }
        Ok(())
    }
    fn words(&self) -> [u64; 6] {
        let p = |a: usize, b: usize| (a as u64 & 0xffff_ffff) | ((b as u64) << 32);
        [
            p(self.batch, self.channels),
            p(self.h, self.w),
            p(self.oh, self.ow),
            p(self.kh, self.kw),
            p(self.stride.0, self.stride.1),
            p(self.pad.0, self.pad.1),
        ]
    }
    fn args(&self, mut a: KArgs) -> KArgs {
        for w in self.words() {
            a = a.word(w);
        }
        a
    }
}

/// Max pooling forward: `y` and the argmax of each window.
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2dForward {
    pub geom: Pool2dGeom,
    pub x: BufId,
    pub y: BufId,
    pub argmax: BufId,
}

/// Max pooling backward from the saved argmax.
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2dBackward {
    pub geom: Pool2dGeom,
    pub dy: BufId,
    pub argmax: BufId,
    pub dx: BufId,
}

/// Average pooling forward (`src = x`, `dst = y`) or backward (`src = dy`, `dst = dx`).
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2d {
    pub geom: Pool2dGeom,
    pub src: BufId,
    pub dst: BufId,
}

/// Runs [`MaxPool2dForward`].
pub fn max_pool2d_forward(backend: &mut dyn Backend, a: &MaxPool2dForward) -> Result<()> {
    let g = a.geom;
    g.check("max_pool2d_forward")?;
    let ins = [(a.x, g.x_len())];
    let outs = [(a.y, g.y_len()), (a.argmax, g.y_len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x], [y, arg])) = cpu.operands("max_pool2d_forward", ins, outs)?;
            cpu::max_forward(pool, &g, x, y, arg);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x], [y, arg]) = cuda.operands("max_pool2d_forward", ins, outs)?;
            let args = g.args(KArgs::new().ptr(x).ptr(y).ptr(arg));
            cuda.launch_op_1d(CUDA, "nx_max_pool2d_forward", g.y_len(), args)
        }
    }
}

/// Runs [`MaxPool2dBackward`].
pub fn max_pool2d_backward(backend: &mut dyn Backend, a: &MaxPool2dBackward) -> Result<()> {
    let g = a.geom;
    g.check("max_pool2d_backward")?;
    let ins = [(a.dy, g.y_len()), (a.argmax, g.y_len())];
    let outs = [(a.dx, g.x_len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([dy, arg], [dx])) = cpu.operands("max_pool2d_backward", ins, outs)?;
            cpu::max_backward(pool, &g, dy, arg, dx);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([dy, arg], [dx]) = cuda.operands("max_pool2d_backward", ins, outs)?;
            if g.is_plain_2x2() {
                let args = KArgs::new()
                    .ptr(dy)
                    .ptr(arg)
                    .ptr(dx)
                    .u64(g.batch * g.channels)
                    .u64(g.oh)
                    .u64(g.ow);
                return cuda.launch_op_1d(CUDA, "nx_max_pool2d_backward_2x2", g.y_len(), args);
            }
            let args = g.args(KArgs::new().ptr(dy).ptr(arg).ptr(dx));
            cuda.launch_op_1d(CUDA, "nx_max_pool2d_backward", g.x_len(), args)
        }
    }
}

/// Runs average pooling forward ([`AvgPool2d`] with `src = x`, `dst = y`).
pub fn avg_pool2d_forward(backend: &mut dyn Backend, a: &AvgPool2d) -> Result<()> {
    let g = a.geom;
    g.check("avg_pool2d_forward")?;
    let ins = [(a.src, g.x_len())];
    let outs = [(a.dst, g.y_len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x], [y])) = cpu.operands("avg_pool2d_forward", ins, outs)?;
            cpu::avg_forward(pool, &g, x, y);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x], [y]) = cuda.operands("avg_pool2d_forward", ins, outs)?;
            let args = g.args(KArgs::new().ptr(x).ptr(y));
            cuda.launch_op_1d(CUDA, "nx_avg_pool2d_forward", g.y_len(), args)
        }
    }
}

/// Runs average pooling backward ([`AvgPool2d`] with `src = dy`, `dst = dx`).
pub fn avg_pool2d_backward(backend: &mut dyn Backend, a: &AvgPool2d) -> Result<()> {
    let g = a.geom;
    g.check("avg_pool2d_backward")?;
    let ins = [(a.src, g.y_len())];
    let outs = [(a.dst, g.x_len())];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([dy], [dx])) = cpu.operands("avg_pool2d_backward", ins, outs)?;
            cpu::avg_backward(pool, &g, dy, dx);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([dy], [dx]) = cuda.operands("avg_pool2d_backward", ins, outs)?;
            let args = g.args(KArgs::new().ptr(dy).ptr(dx));
            cuda.launch_op_1d(CUDA, "nx_avg_pool2d_backward", g.x_len(), args)
        }
    }
}

/// The valid range `lo..hi` of window index `k` (0..window) for output `o` along one axis:
/// input `o*stride + k - pad` inside `0..n`.
pub(crate) fn window_range(
    o: usize,
    window: usize,
    stride: usize,
    pad: usize,
    n: usize,
) -> (usize, usize) {
    let start = o * stride; // input index + pad of tap 0
    let lo = pad.saturating_sub(start).min(window);
    let hi = (n + pad).saturating_sub(start).min(window);
    (lo, hi.max(lo))
}
