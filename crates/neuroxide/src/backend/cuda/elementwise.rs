//! Elementwise kernels of the CUDA backend (fill, copies, activations, softmax, arithmetic,
//! dropout): argument checks as the CPU backend's, then one launch each (`kernels/elementwise.cu`,
//! `kernels/softmax.cu`).

use super::backend::{act_code, CudaBackend};
use super::compile;
use super::launch::{blocks_for, KArgs, BLOCK};
use crate::backend::{Activation, BufId, Copy2d, StepBlock, COPY_MANY_MAX};
use crate::error::Result;

impl CudaBackend {
    pub(super) fn fill_kernel(&mut self, dst: BufId, len: usize, value: f32) -> Result<()> {
        self.bind()?;
        let p = self.buf("fill", dst, len)?;
        if len == 0 {
            return Ok(());
        }
        let args = KArgs::new().ptr(p).u64(len).f32(value);
        self.launch_1d(compile::ELEMENTWISE, "nx_fill", len, args)
    }

    pub(super) fn copy_2d_kernel(&mut self, c: &Copy2d) -> Result<()> {
        self.bind()?;
        if c.rows == 0 || c.cols == 0 {
            return Ok(());
        }
        let src_need = c.src_offset + (c.rows - 1) * c.src_stride + c.cols;
        let dst_need = c.dst_offset + (c.rows - 1) * c.dst_stride + c.cols;
        let dtype = self.copy_dtype("copy_2d", c.src)?;
        let ps = self.buf_typed("copy_2d", c.src, src_need, dtype)?;
        let pd = self.buf_typed("copy_2d", c.dst, dst_need, dtype)?;
        let gx = blocks_for(c.cols, BLOCK as usize, 64);
        let gy = c.rows.min(65_535) as u32;
        let args = KArgs::new()
            .ptr(ps)
            .u64(c.src_offset)
            .u64(c.src_stride)
            .ptr(pd)
            .u64(c.dst_offset)
            .u64(c.dst_stride)
            .u64(c.rows)
            .u64(c.cols);
        self.launch(compile::ELEMENTWISE, "nx_copy_2d", (gx, gy, 1), BLOCK, args)
    }

    pub(super) fn activation_forward_kernel(
        &mut self,
        act: Activation,
        x: BufId,
        y: BufId,
        n: usize,
    ) -> Result<()> {
        self.bind()?;
        let ([px], [py]) = self.ios("activation_forward", [(x, n)], [(y, n)])?;
        if n == 0 {
            return Ok(());
        }
        let (code, a) = act_code(act);
        let args = KArgs::new().i32(code).f32(a).ptr(px).ptr(py).u64(n);
        self.launch_1d(compile::ELEMENTWISE, "nx_act_fwd", n, args)
    }

    pub(super) fn activation_backward_kernel(
        &mut self,
        act: Activation,
        x: BufId,
        y: BufId,
        dy: BufId,
        dx: BufId,
        n: usize,
    ) -> Result<()> {
        self.bind()?;
        let ([px, py, pdy], [pdx]) =
            self.ios("activation_backward", [(x, n), (y, n), (dy, n)], [(dx, n)])?;
        if n == 0 {
            return Ok(());
        }
        let (code, a) = act_code(act);
        let args = KArgs::new()
            .i32(code)
            .f32(a)
            .ptr(px)
            .ptr(py)
            .ptr(pdy)
            .ptr(pdx)
            .u64(n);
        self.launch_1d(compile::ELEMENTWISE, "nx_act_bwd", n, args)
    }

    pub(super) fn softmax_forward_kernel(
        &mut self,
        log: bool,
        x: BufId,
        y: BufId,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        self.bind()?;
        let n = rows * cols;
        let ([px], [py]) = self.ios("softmax_forward", [(x, n)], [(y, n)])?;
        if n == 0 {
            return Ok(());
        }
        let args = KArgs::new()
            .i32(i32::from(log))
            .ptr(px)
            .ptr(py)
            .u64(rows)
            .u64(cols);
        self.launch_rows(compile::SOFTMAX, "nx_softmax_fwd", rows, args)
    }

    pub(super) fn softmax_backward_kernel(
        &mut self,
        log: bool,
        y: BufId,
        dy: BufId,
        dx: BufId,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        self.bind()?;
        let n = rows * cols;
        let ([py, pdy], [pdx]) = self.ios("softmax_backward", [(y, n), (dy, n)], [(dx, n)])?;
        if n == 0 {
            return Ok(());
        }
        let args = KArgs::new()
            .i32(i32::from(log))
            .ptr(py)
            .ptr(pdy)
            .ptr(pdx)
            .u64(rows)
            .u64(cols);
        self.launch_rows(compile::SOFTMAX, "nx_softmax_bwd", rows, args)
    }

    pub(super) fn add_kernel(&mut self, a: BufId, b: BufId, out: BufId, n: usize) -> Result<()> {
        self.bind()?;
        let ([pa, pb], [po]) = self.ios("add", [(a, n), (b, n)], [(out, n)])?;
        if n == 0 {
            return Ok(());
        }
        let args = KArgs::new().ptr(pa).ptr(pb).ptr(po).u64(n);
        self.launch_1d(compile::ELEMENTWISE, "nx_add", n, args)
    }

    pub(super) fn add_assign_kernel(&mut self, acc: BufId, x: BufId, n: usize) -> Result<()> {
        self.bind()?;
        let ([px], [pacc]) = self.ios("add_assign", [(x, n)], [(acc, n)])?;
        if n == 0 {
            return Ok(());
        }
        let args = KArgs::new().ptr(pacc).ptr(px).u64(n);
        self.launch_1d(compile::ELEMENTWISE, "nx_add_assign", n, args)
    }

    pub(super) fn mul_kernel(&mut self, a: BufId, b: BufId, out: BufId, n: usize) -> Result<()> {
        self.bind()?;
        let ([pa, pb], [po]) = self.ios("mul", [(a, n), (b, n)], [(out, n)])?;
        if n == 0 {
            return Ok(());
        }
        let args = KArgs::new().ptr(pa).ptr(pb).ptr(po).u64(n);
        self.launch_1d(compile::ELEMENTWISE, "nx_mul", n, args)
    }

    pub(super) fn scale_kernel(&mut self, x: BufId, n: usize, s: f32) -> Result<()> {
        self.bind()?;
        let p = self.buf("scale", x, n)?;
        if n == 0 {
            return Ok(());
        }
        let args = KArgs::new().ptr(p).u64(n).f32(s);
        self.launch_1d(compile::ELEMENTWISE, "nx_scale", n, args)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn dropout_forward_kernel(
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
        self.bind()?;
        let ([px], [py, pm]) = self.ios("dropout_forward", [(x, n)], [(y, n), (mask, n)])?;
        let pblock = match step_block {
            Some(b) => self.buf("dropout_forward", b, StepBlock::LEN)?,
            None => 0,
        };
        if n == 0 {
            return Ok(());
        }
        let args = KArgs::new()
            .ptr(px)
            .ptr(py)
            .ptr(pm)
            .u64(n)
            .f32(p)
            .f32(scale)
            .word(seed)
            .u32(stream)
            .u32(step)
            .ptr(pblock);
        self.launch_1d(compile::ELEMENTWISE, "nx_dropout", n, args)
    }

    /// [`crate::backend::Backend::copy_many`]: up to `COPY_MANY_MAX` pairs in one launch
    /// (`blockIdx.y` picks the pair), else one launch per pair.
    pub(super) fn copy_many_kernel(&mut self, pairs: &[(BufId, BufId, usize)]) -> Result<()> {
        if pairs.len() > COPY_MANY_MAX || pairs.len() < 2 {
            for &(src, dst, n) in pairs {
                self.copy_2d_kernel(&Copy2d::plain(src, dst, n))?;
            }
            return Ok(());
        }
        self.bind()?;
        let mut args = KArgs::new().u64(pairs.len());
        let mut longest = 0;
        for (k, &(src, dst, n)) in pairs.iter().enumerate() {
            let dtype = self.copy_dtype("copy_many", src)?;
            let ps = self.buf_typed("copy_many", src, n, dtype)?;
            let pd = self.buf_typed("copy_many", dst, n, dtype)?;
            if n > 0 && src == dst {
                return Err(crate::error::Error::backend(format!(
                    "cuda copy_many: output buffer {} aliases another operand",
                    dst.0
                )));
            }
            // An output must not be another pair's input or output (blocks run in any order).
            let clash = pairs
                .iter()
                .enumerate()
                .any(|(q, p)| q != k && p.2 > 0 && (p.0 == dst || p.1 == dst));
            if n > 0 && clash {
                return Err(crate::error::Error::backend(format!(
                    "cuda copy_many: output buffer {} aliases another operand",
                    dst.0
                )));
            }
            args = args.ptr(ps).ptr(pd).u64(n);
            longest = longest.max(n);
        }
        for _ in pairs.len()..COPY_MANY_MAX {
            args = args.ptr(0).ptr(0).u64(0);
        }
        let gx = blocks_for(longest, BLOCK as usize, 64);
        self.launch(
            compile::ELEMENTWISE,
            "nx_copy_many",
            (gx, pairs.len() as u32, 1),
            BLOCK,
            args,
        )
    }
}
