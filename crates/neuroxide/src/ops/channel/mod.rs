//! Per-channel scaling of NCHW tensors: `y[n, c, p] = x[n, c, p] * s[n, c]` (one rounded
//! product per value, no reduction). Spatial dropout applies its per-(image, channel) mask with
//! it, forward and backward.

use crate::backend::cpu::pool::par_rows;
use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("channel.cu", include_str!("channel.cu"));

/// `y[(n*channels + c)*plane + p] = x[...] * s[n*channels + c]`.
#[derive(Clone, Copy, Debug)]
pub struct ChannelScale {
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
    pub x: BufId,
    pub s: BufId,
    pub y: BufId,
}

/// Runs [`ChannelScale`].
pub fn channel_scale(backend: &mut dyn Backend, a: &ChannelScale) -> Result<()> {
    let rows = a.batch * a.channels;
    if a.plane == 0 || rows.checked_mul(a.plane).is_none() {
        return Err(Error::Shape(format!("channel_scale: bad shape {a:?}")));
    }
    let n = rows * a.plane;
    let ins = [(a.x, n), (a.s, rows)];
    let outs = [(a.y, n)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, s], [y])) = cpu.operands("channel_scale", ins, outs)?;
            par_rows(pool, y, rows, a.plane, &|r0, block| {
                for (k, out) in block.chunks_mut(a.plane).enumerate() {
                    let (r, scale) = (r0 + k, s[r0 + k]);
                    for (o, &v) in out.iter_mut().zip(&x[r * a.plane..(r + 1) * a.plane]) {
                        *o = v * scale;
                    }
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, s], [y]) = cuda.operands("channel_scale", ins, outs)?;
            let args = KArgs::new().ptr(x).ptr(s).ptr(y).u64(n).u64(a.plane);
            cuda.launch_op_1d(CUDA, "nx_channel_scale", n, args)
        }
    }
}
