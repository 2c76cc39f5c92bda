//! The fused matrix product `C = act(op(A) · op(B) + bias)` with an optional copy of the
//! pre-activation: the dense layer's forward and both of its gradients, attention's projections.
//!
//! `cpu/` holds the packed AVX2 / AVX-512 kernels (same bits on every instruction set and any
//! thread count); `matmul.cu` the CUDA twin in three tile sizes and `matmul_big.cu` the
//! large-shape 128x128 kernels (same bits for each).

// Its few `expect`s convert slices whose length the packing loop fixes, and `cpu::matmul`
// panics only on slices shorter than the shape, which `matmul` below checks before calling.
#[allow(clippy::expect_used, clippy::panic)]
pub mod cpu;

use crate::backend::cuda::{Family, KArgs, BLOCK};
use crate::backend::{Activation, Backend, BufId, Kernels};
use crate::error::{Error, Result};

/// The CUDA source of this folder: `matmul.cu` (the 32x32 and one-per-thread kernels and the
/// helpers they share), then `matmul_big.cu` (the large-shape 128x128 kernels) in the same unit.
pub const CUDA: Family = Family::new(
    "ops/matmul/matmul.cu",
    concat!(include_str!("matmul.cu"), include_str!("matmul_big.cu")),
);

/// `C = act(op(A) · op(B) + bias)` with an optional copy of the pre-activation.
///
/// Shapes: `op(A)` is `m × k`, stored row-major as `m × k`, or as `k × m` when `a_trans`;
/// `op(B)` is `k × n`, stored as `k × n`, or as `n × k` when `b_trans`. `C` is `m × n`.
///
/// Exact arithmetic for every output `(i, j)`:
/// ```text
/// acc = 0.0
/// for p in 0..k:  acc = fma(A[i,p], B[p,j], acc)      // p increasing, one accumulator
/// z = acc + bias[j]                                   // only when bias is given
/// pre_act[i,j] = z                                    // only when pre_act is given
/// C[i,j] = act(z)
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Matmul {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: BufId,
    pub a_trans: bool,
    pub b: BufId,
    pub b_trans: bool,
    pub c: BufId,
    pub bias: Option<BufId>,
    pub pre_act: Option<BufId>,
    pub act: Activation,
}

/// Runs [`Matmul`].
pub fn matmul(backend: &mut dyn Backend, mm: &Matmul) -> Result<()> {
    let (m, n, k) = (mm.m, mm.n, mm.k);
    let bias_len = if mm.bias.is_some() { n } else { 0 };
    let pre_len = if mm.pre_act.is_some() { m * n } else { 0 };
    let ins = [
        (mm.a, m * k),
        (mm.b, k * n),
        (mm.bias.unwrap_or(mm.a), bias_len),
    ];
    let outs = [(mm.c, m * n), (mm.pre_act.unwrap_or(mm.c), pre_len)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([a, b, bias], [c, pre])) = cpu.operands("matmul", ins, outs)?;
            let args = cpu::MatmulArgs {
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
            cpu::matmul(pool, &args, c, pre);
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([pa, pb, pbias], [pc, ppre]) = cuda.operands("matmul", ins, outs)?;
            if m == 0 || n == 0 {
                return Ok(());
            }
            let lim = i32::MAX as usize;
            if m > lim || n > lim || k > lim {
                return Err(Error::backend(format!(
                    "cuda matmul: {m}x{k} by {k}x{n} exceeds the kernel's 32-bit dimensions"
                )));
            }
            let (act, alpha) = mm.act.kernel_args();
            let args = KArgs::new()
                .i32(m as i32)
                .i32(n as i32)
                .i32(k as i32)
                .ptr(pa)
                .ptr(pb)
                .ptr(pc)
                .ptr(if mm.bias.is_some() { pbias } else { 0 })
                .ptr(if mm.pre_act.is_some() { ppre } else { 0 })
                .i32(act)
                .f32(alpha);
            // Which variant fills the GPU best (all give the same bits): 128x128 register tiles
            // when there are enough of them, 32x32 tiles when there are at least a few, else one
            // output per thread.
            let big = m.div_ceil(128) * n.div_ceil(128) * 2 >= cuda.sm_count() as usize;
            // (Measured on an H200: with fewer than ~64 tiles of 32x32 the one-output-per-thread
            // kernel's extra blocks hide more memory latency than the register tile saves.)
            let mid = !big && m.div_ceil(32) * n.div_ceil(32) >= 64 && k >= 32;
            let (tile, threads) = match (big, mid) {
                (true, _) => (128, BLOCK),
                (false, true) => (32, 128),
                (false, false) => (16, BLOCK),
            };
            let (gx, gy) = (n.div_ceil(tile), m.div_ceil(tile));
            if gy > 65_535 {
                return Err(Error::backend(format!(
                    "cuda matmul: m = {m} rows need {gy} row blocks, more than the grid's 65535"
                )));
            }
            let name = match (big, mid, mm.a_trans, mm.b_trans) {
                (true, _, false, false) => "nx_matmul_big_nn",
                (true, _, false, true) => "nx_matmul_big_nt",
                (true, _, true, false) => "nx_matmul_big_tn",
                (true, _, true, true) => "nx_matmul_big_tt",
                (false, true, false, false) => "nx_matmul_mid_nn",
                (false, true, false, true) => "nx_matmul_mid_nt",
                (false, true, true, false) => "nx_matmul_mid_tn",
                (false, true, true, true) => "nx_matmul_mid_tt",
                (false, false, false, false) => "nx_matmul_small_nn",
                (false, false, false, true) => "nx_matmul_small_nt",
                (false, false, true, false) => "nx_matmul_small_tn",
                (false, false, true, true) => "nx_matmul_small_tt",
            };
            cuda.launch_op(CUDA, name, (gx as u32, gy as u32, 1), threads, args)
        }
    }
}

/// NVRTC's log for this family on `cuda`'s card (resource usage when `NEUROXIDE_NVRTC_VERBOSE`
/// is set).
pub fn compile_log(cuda: &mut crate::backend::cuda::CudaBackend) -> Result<String> {
    cuda.compile_log(CUDA, "nx_matmul_big_nn")
}
