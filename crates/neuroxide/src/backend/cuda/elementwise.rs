//! Elementwise kernels of the CUDA backend (fill, copies, activations, softmax, arithmetic,
//! dropout): argument checks as the CPU backend's, then one launch each (`kernels/elementwise.cu`,
//! `kernels/softmax.cu`).

use super::backend::{act_code, CudaBackend};
use super::compile;
use super::launch::KArgs;
use crate::backend::{Activation, BufId};
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
}
