//! Copies between planned buffers: a strided 2-D copy (Concat forward and backward, plain
//! copies) and a batch of plain copies in one launch (staged input moved into place).
//!
//! No arithmetic: every destination value is one source value, so any order and any launch
//! shape give the same bits.

use crate::backend::cuda::{blocks_for, Family, KArgs, BLOCK};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/copy/copy.cu", include_str!("copy.cu"));

/// Pairs one [`copy_many`] launch copies on CUDA.
pub const COPY_MANY_MAX: usize = 4;

/// A strided 2-D copy: `dst[dst_offset + r*dst_stride + c] = src[src_offset + r*src_stride + c]`
/// for `r < rows`, `c < cols`. `src` and `dst` may be the same buffer only if the regions do
/// not overlap.
#[derive(Clone, Copy, Debug)]
pub struct Copy2d {
    pub rows: usize,
    pub cols: usize,
    pub src: BufId,
    pub src_offset: usize,
    pub src_stride: usize,
    pub dst: BufId,
    pub dst_offset: usize,
    pub dst_stride: usize,
}

impl Copy2d {
    /// A plain copy `dst[0..n] = src[0..n]`.
    pub fn plain(src: BufId, dst: BufId, n: usize) -> Copy2d {
        Copy2d {
            rows: 1,
            cols: n,
            src,
            src_offset: 0,
            src_stride: n,
            dst,
            dst_offset: 0,
            dst_stride: n,
        }
    }
}

/// Runs [`Copy2d`].
pub fn copy_2d(backend: &mut dyn Backend, c: &Copy2d) -> Result<()> {
    if c.rows == 0 || c.cols == 0 {
        return Ok(());
    }
    let src_need = c.src_offset + (c.rows - 1) * c.src_stride + c.cols;
    let dst_need = c.dst_offset + (c.rows - 1) * c.dst_stride + c.cols;
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            // Any dtype (f32 values, i32 ids and labels, bf16 bits): a copy does no arithmetic.
            let spans = (0..c.rows).map(|r| {
                (
                    c.src_offset + r * c.src_stride,
                    c.dst_offset + r * c.dst_stride,
                )
            });
            cpu.copy_spans(
                "copy_2d",
                (c.src, src_need),
                (c.dst, dst_need),
                c.cols,
                spans,
            )
        }
        Kernels::Cuda(cuda) => {
            // The kernel moves 4-byte words: f32 and i32 buffers copy alike (both of one
            // dtype). The same buffer is allowed (disjoint regions).
            cuda.bind()?;
            let dtype = cuda.copy_dtype("copy_2d", c.src)?;
            let ps = cuda.buf_typed("copy_2d", c.src, src_need, dtype)?;
            let pd = cuda.buf_typed("copy_2d", c.dst, dst_need, dtype)?;
            let gy = c.rows.min(65_535) as u32;
            let gx = blocks_for(c.cols, BLOCK as usize, row_blocks_cap(cuda, gy));
            let args = KArgs::new()
                .ptr(ps)
                .u64(c.src_offset)
                .u64(c.src_stride)
                .ptr(pd)
                .u64(c.dst_offset)
                .u64(c.dst_stride)
                .u64(c.rows)
                .u64(c.cols);
            cuda.launch_op(CUDA, "nx_copy_2d", (gx, gy, 1), BLOCK, args)
        }
    }
}

/// Blocks along a row when `rows` rows run side by side (`blockIdx.y`): enough for the whole
/// grid to fill the GPU (32 blocks per multiprocessor, as the one-dimensional launches), at
/// least 64 per row. A long single row (a data-parallel gradient bucket, millions of values)
/// used to get 64 blocks, which left most of an H200's multiprocessors idle.
fn row_blocks_cap(cuda: &crate::backend::cuda::CudaBackend, rows: u32) -> u32 {
    (cuda.sm_count() * 32 / rows.max(1)).clamp(64, 65_535)
}

/// Several plain copies `dst[0..n] = src[0..n]` of distinct buffers; each pair is checked like
/// [`copy_2d`]. On CUDA, 2 to [`COPY_MANY_MAX`] pairs are one launch (`blockIdx.y` picks the
/// pair); otherwise (and on the CPU) the pairs are copied one by one in order.
pub fn copy_many(backend: &mut dyn Backend, pairs: &[(BufId, BufId, usize)]) -> Result<()> {
    let one_launch = (2..=COPY_MANY_MAX).contains(&pairs.len());
    let cuda = match backend.kernels() {
        Kernels::Cuda(cuda) if one_launch => cuda,
        _ => {
            for &(src, dst, n) in pairs {
                copy_2d(backend, &Copy2d::plain(src, dst, n))?;
            }
            return Ok(());
        }
    };
    let mut args = KArgs::new().u64(pairs.len());
    let mut longest = 0;
    for (k, &(src, dst, n)) in pairs.iter().enumerate() {
        cuda.bind()?;
        let dtype = cuda.copy_dtype("copy_many", src)?;
        let ps = cuda.buf_typed("copy_many", src, n, dtype)?;
        let pd = cuda.buf_typed("copy_many", dst, n, dtype)?;
        if n > 0 && src == dst {
            return Err(Error::backend(format!(
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
            return Err(Error::backend(format!(
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
    let gx = blocks_for(
        longest,
        BLOCK as usize,
        row_blocks_cap(cuda, pairs.len() as u32),
    );
    cuda.launch_op(
        CUDA,
        "nx_copy_many",
        (gx, pairs.len() as u32, 1),
        BLOCK,
        args,
    )
}
