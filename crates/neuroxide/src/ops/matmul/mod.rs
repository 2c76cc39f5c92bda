//! The fused matrix product `C = act(op(A) · op(B) + bias)` with an optional copy of the
//! pre-activation: the dense layer's forward and both of its gradients, attention's projections.
//!
//! `cpu/` holds the packed AVX2 / AVX-512 kernels (same bits on every instruction set and any
//! thread count); `matmul.cu` the CUDA twin's small and mid kernels and `matmul_big.cu` the
//! large-shape register-tiled kernels in four block-tile shapes (same bits for each: see
//! [`Variant`] for which one runs).

// Its few `expect`s convert slices whose length the packing loop fixes, and `cpu::matmul`
// panics only on slices shorter than the shape, which `matmul` below checks before calling.
#[allow(clippy::expect_used, clippy::panic)]
pub mod cpu;

use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Activation, Backend, BufId, Kernels};
use crate::error::{Error, Result};

/// The CUDA source of this folder: `matmul.cu` (the 32x32 and one-per-thread kernels and the
/// helpers they share), then `matmul_big.cu` (the large-shape kernels, one template in four
/// block-tile shapes) in the same unit.
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

/// Which CUDA kernel computes a product. Every variant gives the same bits, those of
/// [`Matmul`]'s reduction order: they differ only in how the outputs are spread over blocks and
/// threads, which decides how well a shape fills the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `nx_matmul_small_*`: one output per thread, 16x16 blocks.
    Small,
    /// `nx_matmul_mid_*`: 32x32 tiles, 2x4 outputs per thread.
    Mid,
    /// `nx_matmul_big_128x128_*`: 8x8 outputs per thread, 2 blocks per SM.
    Big128x128,
    /// `nx_matmul_big_128x96_*`: 8x6 outputs per thread, 2 blocks per SM.
    Big128x96,
    /// `nx_matmul_big_64x96_*`: 4x6 outputs per thread, 3 blocks per SM.
    Big64x96,
    /// `nx_matmul_big_64x64_*`: 4x4 outputs per thread, 4 blocks per SM.
    Big64x64,
}

/// Every variant, the large tiles first (the order in which ties of the wave model are broken).
pub const VARIANTS: [Variant; 6] = [
    Variant::Big128x128,
    Variant::Big128x96,
    Variant::Big64x96,
    Variant::Big64x64,
    Variant::Mid,
    Variant::Small,
];

/// The block-tile shapes of `matmul_big.cu`, in [`VARIANTS`]' order.
const BIG: [Variant; 4] = [
    Variant::Big128x128,
    Variant::Big128x96,
    Variant::Big64x96,
    Variant::Big64x64,
];

/// What the wave model of [`cuda_variant`] knows about one kernel of `matmul_big.cu`.
struct BigShape {
    /// Blocks resident per SM: the `MINB` of its `__launch_bounds__` (registers capped at
    /// 65536 / (256 x MINB) = 128, 128, 85 and 64 per thread; NVRTC 13 for sm_90 uses 128,
    /// 121, 80 and 64 without spilling), which the at most 33 KiB of shared memory allows.
    blocks_per_sm: usize,
    /// An SM's output rate with `blocks_per_sm` blocks resident, relative to the 128x128
    /// kernel's (outputs x k steps per unit of time). Fitted to the per-variant table of
    /// `cuda_matmul_bench` on an H200 (docs/PERF.md, call P: 66 products of 22 shapes, nn, nt
    /// and tn): 1.0, 0.9, 0.7, 0.65. Every value in a broad band around these picks the same
    /// kernels there.
    rate: f64,
}

impl Variant {
    /// The block tile (rows, columns of C) and threads per block.
    fn tile(self) -> (usize, usize, u32) {
        match self {
            Variant::Small => (16, 16, 256),
            Variant::Mid => (32, 32, 128),
            Variant::Big128x128 => (128, 128, 256),
            Variant::Big128x96 => (128, 96, 256),
            Variant::Big64x96 => (64, 96, 256),
            Variant::Big64x64 => (64, 64, 256),
        }
    }

    /// The wave model's constants of a `matmul_big.cu` kernel (`None` for small and mid).
    fn big_shape(self) -> Option<BigShape> {
        let (blocks_per_sm, rate) = match self {
            Variant::Small | Variant::Mid => return None,
            Variant::Big128x128 => (2, 1.0),
            Variant::Big128x96 => (2, 0.9),
            Variant::Big64x96 => (3, 0.7),
            Variant::Big64x64 => (4, 0.65),
        };
        Some(BigShape {
            blocks_per_sm,
            rate,
        })
    }

    /// A short name for reports ("big 128x96").
    pub fn label(self) -> &'static str {
        match self {
            Variant::Small => "small 16x16",
            Variant::Mid => "mid 32x32",
            Variant::Big128x128 => "big 128x128",
            Variant::Big128x96 => "big 128x96",
            Variant::Big64x96 => "big 64x96",
            Variant::Big64x64 => "big 64x64",
        }
    }

    /// The kernel's name for these transposes.
    fn kernel(self, a_trans: bool, b_trans: bool) -> &'static str {
        let names = match self {
            Variant::Small => [
                "nx_matmul_small_nn",
                "nx_matmul_small_nt",
                "nx_matmul_small_tn",
                "nx_matmul_small_tt",
            ],
            Variant::Mid => [
                "nx_matmul_mid_nn",
                "nx_matmul_mid_nt",
                "nx_matmul_mid_tn",
                "nx_matmul_mid_tt",
            ],
            Variant::Big128x128 => [
                "nx_matmul_big_128x128_nn",
                "nx_matmul_big_128x128_nt",
                "nx_matmul_big_128x128_tn",
                "nx_matmul_big_128x128_tt",
            ],
            Variant::Big128x96 => [
                "nx_matmul_big_128x96_nn",
                "nx_matmul_big_128x96_nt",
                "nx_matmul_big_128x96_tn",
                "nx_matmul_big_128x96_tt",
            ],
            Variant::Big64x96 => [
                "nx_matmul_big_64x96_nn",
                "nx_matmul_big_64x96_nt",
                "nx_matmul_big_64x96_tn",
                "nx_matmul_big_64x96_tt",
            ],
            Variant::Big64x64 => [
                "nx_matmul_big_64x64_nn",
                "nx_matmul_big_64x64_nt",
                "nx_matmul_big_64x64_tn",
                "nx_matmul_big_64x64_tt",
            ],
        };
        names[usize::from(a_trans) * 2 + usize::from(b_trans)]
    }

    /// Blocks of this variant for an `m x n` output.
    pub fn tiles(self, m: usize, n: usize) -> usize {
        let (bm, bn, _) = self.tile();
        m.div_ceil(bm) * n.div_ceil(bn)
    }

    /// The wave model's time for an `m x n` output on `sms` SMs (a `matmul_big.cu` kernel), in
    /// units of one output of the 128x128 kernel on one fully occupied SM (per k step: k is the
    /// same for every variant and cancels out).
    ///
    /// Blocks are dealt to SMs round-robin, so the busiest SM holds `b = ceil(tiles / sms)` of
    /// them and decides the time. It runs them in rounds of `blocks_per_sm` at the variant's
    /// full-occupancy `rate`, then the `r = b mod blocks_per_sm` left over at `rate x sqrt(r /
    /// blocks_per_sm)`:
    ///
    /// `BM x BN x ((b - r) / rate + r / (rate x sqrt(r / blocks_per_sm)))`
    ///
    /// Why the square root: a lone block gets more of the SM than its share (more issue slots,
    /// shared-memory and L1 bandwidth per warp), so a partly filled SM is faster per block.
    /// Fitted with the rates (exponents 0.3–0.6 fit alike; a linear share, exponent 1,
    /// mis-picks gpt_small's QKV weight gradient 768x4096x2304 by 9%). `None` for small and mid.
    pub fn wave_estimate(self, m: usize, n: usize, sms: usize) -> Option<f64> {
        let s = self.big_shape()?;
        let (bm, bn, _) = self.tile();
        let busiest = self.tiles(m, n).div_ceil(sms.max(1));
        let left = busiest % s.blocks_per_sm;
        let full_rounds = (busiest - left) as f64 / s.rate;
        let last_round = if left == 0 {
            0.0
        } else {
            let share = left as f64 / s.blocks_per_sm as f64;
            left as f64 / (s.rate * share.sqrt())
        };
        Some((bm * bn) as f64 * (full_rounds + last_round))
    }
}

/// The variant [`matmul`] launches for an `m x n x k` product on a GPU of `sms` SMs.
///
/// The tile shape of `matmul_big.cu` with the smallest [`Variant::wave_estimate`] (the larger
/// tile on a tie), when it has at least `sms / 2` tiles; else 32x32 tiles when there are at
/// least 64 of them and `k >= 32`, else one output per thread. (Measured on an H200: with fewer
/// than ~64 tiles of 32x32 the one-output-per-thread kernel's extra blocks hide more memory
/// latency than the register tile saves.)
pub fn cuda_variant(m: usize, n: usize, k: usize, sms: usize) -> Variant {
    let mut best = BIG[0];
    let mut best_time = f64::INFINITY;
    for v in BIG {
        let time = v.wave_estimate(m, n, sms).unwrap_or(f64::INFINITY);
        if time < best_time {
            (best, best_time) = (v, time);
        }
    }
    if best.tiles(m, n) * 2 >= sms {
        best
    } else if Variant::Mid.tiles(m, n) >= 64 && k >= 32 {
        Variant::Mid
    } else {
        Variant::Small
    }
}

/// Runs [`Matmul`].
pub fn matmul(backend: &mut dyn Backend, mm: &Matmul) -> Result<()> {
    run(backend, mm, None)
}

/// Runs [`Matmul`] with the CUDA kernel `variant` instead of [`cuda_variant`]'s choice (the
/// benchmark's A/B of the variants; same bits). The CPU backend has one kernel and ignores it.
pub fn matmul_variant(backend: &mut dyn Backend, mm: &Matmul, variant: Variant) -> Result<()> {
    run(backend, mm, Some(variant))
}

fn run(backend: &mut dyn Backend, mm: &Matmul, variant: Option<Variant>) -> Result<()> {
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
            let v = variant.unwrap_or_else(|| cuda_variant(m, n, k, cuda.sm_count() as usize));
            let (bm, bn, threads) = v.tile();
            let (gx, gy) = (n.div_ceil(bn), m.div_ceil(bm));
            if gy > 65_535 {
                return Err(Error::backend(format!(
                    "cuda matmul: m = {m} rows need {gy} row blocks, more than the grid's 65535"
                )));
            }
            let name = v.kernel(mm.a_trans, mm.b_trans);
            cuda.launch_op(CUDA, name, (gx as u32, gy as u32, 1), threads, args)
        }
    }
}

/// NVRTC's log for this family on `cuda`'s card (resource usage when `NEUROXIDE_NVRTC_VERBOSE`
/// is set).
pub fn compile_log(cuda: &mut crate::backend::cuda::CudaBackend) -> Result<String> {
    cuda.compile_log(CUDA, "nx_matmul_big_128x128_nn")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wave model's blocks per SM are the `MINB` of each shape's `__launch_bounds__`, and
    /// every big variant's kernels exist in `matmul_big.cu`.
    #[test]
    fn big_shapes_match_the_cuda_source() {
        let src = include_str!("matmul_big.cu");
        for v in BIG {
            let (bm, bn, threads) = v.tile();
            let s = v.big_shape().map_or(0, |s| s.blocks_per_sm);
            let line = format!("NX_MATMUL_BIG_SHAPE({bm}, {bn}, {s})");
            assert!(src.contains(&line), "{line} missing from matmul_big.cu");
            assert_eq!(threads, 256);
            assert_eq!(
                v.kernel(true, false),
                format!("nx_matmul_big_{bm}x{bn}_tn"),
                "{v:?}"
            );
        }
    }

    /// The kernels measured fastest on an H200 (132 SMs) for gpt_small's and the mini
    /// transformer's products (docs/PERF.md, call P): C of 4096 x 768 in 128x96 tiles (256 <=
    /// 264 slots where 128x128 gives 192), 4096 x 2304 in 128x96, 4096 x 3072 in 128x128, the
    /// weight gradients (k = 4096) in 64x96 tiles except 768 x 2304 (108 lone 128x128 blocks
    /// beat 288 of 64x96 by 9%), and the mini transformer's 2048 x 512 in 64x64 (by 15%).
    #[test]
    fn gpt_small_shapes_on_an_h200() {
        let sms = 132;
        let pick = |m, k, n| cuda_variant(m, n, k, sms);
        for k in [768, 2304, 3072] {
            assert_eq!(pick(4096, k, 768), Variant::Big128x96, "4096x{k}x768");
        }
        assert_eq!(pick(4096, 768, 2304), Variant::Big128x96);
        assert_eq!(pick(4096, 768, 3072), Variant::Big128x128);
        assert_eq!(pick(4096, 4096, 4096), Variant::Big128x128);
        for (m, n) in [(768, 768), (768, 3072), (3072, 768)] {
            assert_eq!(pick(m, 4096, n), Variant::Big64x96, "{m}x4096x{n}");
        }
        assert_eq!(pick(768, 4096, 2304), Variant::Big128x128);
        assert_eq!(pick(2048, 128, 512), Variant::Big64x64);
        assert_eq!(pick(2048, 128, 384), Variant::Big64x96);
        assert_eq!(pick(2048, 512, 128), Variant::Mid);
        // Small problems keep the mid and one-output-per-thread kernels.
        assert_eq!(pick(256, 256, 256), Variant::Mid);
        assert_eq!(pick(64, 16, 64), Variant::Small);
        assert_eq!(pick(256, 16, 256), Variant::Small);
    }
}
