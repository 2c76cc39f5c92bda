//! Losses: the mean loss and its gradient with respect to the prediction, in one pass.
//!
//! Formulas and the reduction order are documented on [`LossKind`]: per row, `row_sum` adds
//! the row's terms in column order from 0; the total adds the row sums in the chunked order of
//! PARITY rule 2a (chunks of 256 rows, each from 0 in row order, then the chunk sums in chunk
//! order); the loss is `total / D`. `cpu.rs` follows it row by row; `loss.cu` computes each
//! row's terms on a warp and adds them in column order through shuffles (pass 1), then ONE
//! thread adds the row sums in that chunked order (pass 2), the CPU's order exactly.

pub mod cpu;

use crate::backend::cuda::{Family, KArgs, BLOCK};
use crate::backend::{Backend, BufId, Kernels, LossKind, TargetKind};
use crate::error::{Error, Result};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/loss/loss.cu", include_str!("loss.cu"));

/// A loss evaluation: writes the mean loss to `loss_out[loss_index]` and `dLoss/dPred` to `grad`.
///
/// `pred` and `grad` are `rows × cols`; `target` is an f32 buffer of `rows × cols` for dense
/// targets or an i32 buffer of `rows` class indices for [`TargetKind::ClassIndex`]. See
/// [`LossKind`] for each loss's formula and reduction order.
#[derive(Clone, Copy, Debug)]
pub struct LossArgs {
    pub kind: LossKind,
    pub target_kind: TargetKind,
    pub rows: usize,
    pub cols: usize,
    pub pred: BufId,
    pub target: BufId,
    pub grad: BufId,
    pub loss_out: BufId,
    pub loss_index: usize,
    /// When set, `loss_out[i] = loss_out[i] + loss` follows (a running sum over an epoch, in
    /// the same buffer), folded into the loss kernel instead of a launch of its own.
    pub running_index: Option<usize>,
}

/// Runs [`LossArgs`]: `grad` and `loss_out[loss_index]` (and the running sum when asked).
pub fn loss(backend: &mut dyn Backend, a: &LossArgs) -> Result<()> {
    let n = a.rows * a.cols;
    let class_targets = a.target_kind == TargetKind::ClassIndex;
    let target_len = if class_targets { a.rows } else { n };
    let out_len = a.loss_index.max(a.running_index.unwrap_or(0)) + 1;
    let outs = [(a.grad, n), (a.loss_out, out_len)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (value, out) = if class_targets {
                let (_, labels, ([pred], [grad, out])) =
                    cpu.operands_with_ids("loss", (a.target, target_len), [(a.pred, n)], outs)?;
                let targets = cpu::Targets::Classes(labels);
                (cpu::loss(a.kind, targets, pred, grad, a.rows, a.cols)?, out)
            } else {
                let ins = [(a.pred, n), (a.target, target_len)];
                let (_, ([pred, target], [grad, out])) = cpu.operands("loss", ins, outs)?;
                let targets = cpu::Targets::Dense(target);
                (cpu::loss(a.kind, targets, pred, grad, a.rows, a.cols)?, out)
            };
            out[a.loss_index] = value;
            if let Some(r) = a.running_index {
                out[r] += value;
            }
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            if class_targets && !matches!(a.kind, LossKind::CrossEntropy | LossKind::Nll) {
                return Err(Error::invalid(format!(
                    "loss {:?} needs dense targets, got class indices",
                    a.kind
                )));
            }
            // Class indices are an i32 buffer (`const int *labels`), dense targets an f32 one;
            // the kernel reads the one its target kind names (the other pointer is null).
            let (pt, pl, [pp], [pg, p_out]) = if class_targets {
                let (pl, pi, po) =
                    cuda.operands_with_ids("loss", (a.target, target_len), [(a.pred, n)], outs)?;
                (0, pl, pi, po)
            } else {
                let ins = [(a.pred, n), (a.target, target_len)];
                let ([pp, pt], po) = cuda.operands("loss", ins, outs)?;
                (pt, 0, [pp], po)
            };
            let running = a.running_index.map_or(-1, |r| r as i64);
            let scratch = cuda.op_scratch(a.rows)?;
            let (kind, param) = a.kind.kernel_args();
            let d_elem = n as f32;
            let d_rows = a.rows as f32;
            let denom = match a.kind {
                LossKind::CrossEntropy | LossKind::Nll | LossKind::KlDiv => d_rows,
                _ => d_elem,
            };
            if a.rows > 0 {
                let args = KArgs::new()
                    .i32(kind)
                    .f32(param)
                    .i32(a.target_kind.cuda_code().0)
                    .ptr(pp)
                    .ptr(pt)
                    .ptr(pl)
                    .ptr(pg)
                    .ptr(scratch)
                    .u64(a.rows)
                    .u64(a.cols)
                    .f32(d_elem)
                    .f32(d_rows)
                    .ptr(cuda.status_word());
                cuda.launch_op_rows(CUDA, "nx_loss_rows", a.rows, args)?;
                if class_targets {
                    cuda.check_class_indices_at_sync(a.cols);
                }
            }
            let args = KArgs::new()
                .ptr(scratch)
                .u64(a.rows)
                .f32(denom)
                .ptr(p_out)
                .u64(a.loss_index)
                .word(running as u64);
            cuda.launch_op(CUDA, "nx_loss_total", (1, 1, 1), BLOCK, args)
        }
    }
}
