//! Serial reductions: global-norm clipping, accuracy counts and on-device running sums. Each
//! output has one accumulator walking its terms in the order written on its args (column sums
//! and sums of squares are the chunked ops of `mod.rs`).

use super::CUDA;
use crate::backend::cuda::{blocks_for, KArgs, BLOCK};
use crate::backend::{Backend, BufId, Kernels, TargetKind};
use crate::error::Result;
use crate::ops::loss::cpu::Targets;

/// The factor global-norm clipping multiplies every gradient by, or `None` when the norm is
/// within `max_norm`.
pub fn clip_factor(partials: &[f32], max_norm: f32) -> Option<f32> {
    let mut total = 0.0f32;
    for &p in partials {
        total += p;
    }
    let norm = total.sqrt();
    (norm > max_norm).then(|| max_norm / (norm + 1e-6))
}

/// Index of the first maximum of a row.
#[inline]
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// Number of correct predictions (see [`CountCorrect`]). A class index that is negative or not
/// below `cols` never counts as correct (the loss of the same batch reports it as an error).
pub fn count_correct_rows(
    pred: &[f32],
    targets: Targets<'_>,
    from_logits: bool,
    rows: usize,
    cols: usize,
) -> f32 {
    let mut count = 0.0f32;
    for i in 0..rows {
        let ok = if cols == 1 {
            let threshold = if from_logits { 0.0 } else { 0.5 };
            let positive = match targets {
                Targets::Dense(t) => t[i] >= 0.5,
                Targets::Classes(l) => l[i] >= 1,
            };
            (pred[i] >= threshold) == positive
        } else {
            let p = argmax(&pred[i * cols..(i + 1) * cols]);
            let t = match targets {
                Targets::Classes(l) => usize::try_from(l[i]).ok().filter(|&t| t < cols),
                Targets::Dense(t) => Some(argmax(&t[i * cols..(i + 1) * cols])),
            };
            t == Some(p)
        };
        if ok {
            count += 1.0;
        }
    }
    count
}

/// Counts correct predictions of a `rows × cols` prediction matrix and adds the count to
/// `out[out_index]` (f32, exact below 2^24).
///
/// `cols == 1`: binary, correct when `(pred >= 0.5) == (target >= 0.5)` (or `pred >= 0` when
/// `from_logits`). `cols > 1`: the prediction is the first index of the row maximum; the
/// target is a class index (`ClassIndex`: an i32 buffer of `rows` labels; with `cols == 1` a
/// label `>= 1` is positive) or the first index of the target row's maximum.
/// Rows are counted in order from 0.
#[derive(Clone, Copy, Debug)]
pub struct CountCorrect {
    pub pred: BufId,
    pub target: BufId,
    pub target_kind: TargetKind,
    pub from_logits: bool,
    pub rows: usize,
    pub cols: usize,
    pub out: BufId,
    pub out_index: usize,
}

/// Runs [`CountCorrect`].
pub fn count_correct(backend: &mut dyn Backend, a: &CountCorrect) -> Result<()> {
    let (rows, cols) = (a.rows, a.cols);
    let target_len = match a.target_kind {
        TargetKind::Dense => rows * cols,
        TargetKind::ClassIndex => rows,
    };
    let class_targets = a.target_kind == TargetKind::ClassIndex;
    let pred_in = (a.pred, rows * cols);
    let outs = [(a.out, a.out_index + 1)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (count, out) = if class_targets {
                let (_, labels, ([pred], [out])) = cpu.operands_with_ids(
                    "count_correct",
                    (a.target, target_len),
                    [pred_in],
                    outs,
                )?;
                let targets = Targets::Classes(labels);
                (
                    count_correct_rows(pred, targets, a.from_logits, rows, cols),
                    out,
                )
            } else {
                let ins = [pred_in, (a.target, target_len)];
                let (_, ([pred, target], [out])) = cpu.operands("count_correct", ins, outs)?;
                let targets = Targets::Dense(target);
                (
                    count_correct_rows(pred, targets, a.from_logits, rows, cols),
                    out,
                )
            };
            out[a.out_index] += count;
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            // Class indices are an i32 buffer (`const int *labels`), dense targets an f32 one;
            // the kernel reads the one its target kind names (the other pointer is null).
            let (pt, pl, [pp], [po]) = if class_targets {
                let (pl, pi, po) = cuda.operands_with_ids(
                    "count_correct",
                    (a.target, target_len),
                    [pred_in],
                    outs,
                )?;
                (0, pl, pi, po)
            } else {
                let ins = [pred_in, (a.target, target_len)];
                let ([pp, pt], po) = cuda.operands("count_correct", ins, outs)?;
                (pt, 0, [pp], po)
            };
            let scratch = cuda.op_scratch(rows)?;
            if rows > 0 {
                let args = KArgs::new()
                    .ptr(pp)
                    .ptr(pt)
                    .ptr(pl)
                    .i32(a.target_kind.cuda_code().0)
                    .i32(i32::from(a.from_logits))
                    .u64(rows)
                    .u64(cols)
                    .ptr(scratch);
                cuda.launch_op_1d(CUDA, "nx_correct_rows", rows, args)?;
            }
            let args = KArgs::new().ptr(scratch).u64(rows).ptr(po).u64(a.out_index);
            cuda.launch_op(CUDA, "nx_correct_total", (1, 1, 1), 1, args)
        }
    }
}

/// `dst[dst_index] = dst[dst_index] + src[src_index]`: on-device running sums (the epoch
/// loss). `src` and `dst` may be the same buffer.
pub fn accumulate_scalar(
    backend: &mut dyn Backend,
    src: BufId,
    src_index: usize,
    dst: BufId,
    dst_index: usize,
) -> Result<()> {
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            if src == dst {
                let need = src_index.max(dst_index) + 1;
                let (_, ([], [buf])) = cpu.operands("accumulate_scalar", [], [(dst, need)])?;
                let v = buf[src_index];
                buf[dst_index] += v;
                return Ok(());
            }
            let ins = [(src, src_index + 1)];
            let outs = [(dst, dst_index + 1)];
            let (_, ([s], [d])) = cpu.operands("accumulate_scalar", ins, outs)?;
            d[dst_index] += s[src_index];
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            // Both as inputs: the same buffer is allowed.
            let ins = [(src, src_index + 1), (dst, dst_index + 1)];
            let ([ps, pd], []) = cuda.operands("accumulate_scalar", ins, [])?;
            let args = KArgs::new().ptr(ps).u64(src_index).ptr(pd).u64(dst_index);
            cuda.launch_op(CUDA, "nx_accumulate_scalar", (1, 1, 1), 1, args)
        }
    }
}

/// Global-norm clipping of one gradient: `total = Σ_t partials[t]` for `t < count`
/// (t increasing, from 0); `norm = sqrt(total)`; when `norm > max_norm`, every `g[i]` becomes
/// `g[i] * (max_norm / (norm + 1e-6))`. The same `partials` serve every gradient of a step.
#[derive(Clone, Copy, Debug)]
pub struct ClipByGlobalNorm {
    pub grad: BufId,
    pub n: usize,
    pub partials: BufId,
    pub count: usize,
    pub max_norm: f32,
}

/// Runs [`ClipByGlobalNorm`].
pub fn clip_by_global_norm(backend: &mut dyn Backend, a: &ClipByGlobalNorm) -> Result<()> {
    let ins = [(a.partials, a.count)];
    let outs = [(a.grad, a.n)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (_, ([partials], [grad])) = cpu.operands("clip_by_global_norm", ins, outs)?;
            if let Some(f) = clip_factor(partials, a.max_norm) {
                for g in grad.iter_mut() {
                    *g *= f;
                }
            }
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([pp], [pg]) = cuda.operands("clip_by_global_norm", ins, outs)?;
            if a.n == 0 {
                return Ok(());
            }
            let args = KArgs::new()
                .ptr(pg)
                .u64(a.n)
                .ptr(pp)
                .u64(a.count)
                .f32(a.max_norm);
            let g = blocks_for(a.n, BLOCK as usize * 8, cuda.sm_count() * 8);
            cuda.launch_op(CUDA, "nx_clip_by_norm", (g, 1, 1), BLOCK, args)
        }
    }
}
