//! Losses, accuracy counts, running sums and gradient clipping on the CUDA backend
//! (`kernels/loss.cu`, `kernels/reduce.cu`).

use super::backend::CudaBackend;
use super::compile;
use super::launch::{blocks_for, KArgs, BLOCK};
use crate::backend::{BufId, LossArgs, LossKind, TargetKind};
use crate::dtype::DType;
use crate::error::{Error, Result};

pub(super) fn loss_code(kind: LossKind) -> (i32, f32) {
    match kind {
        LossKind::Mse => (0, 0.0),
        LossKind::Mae => (1, 0.0),
        LossKind::Huber(d) => (2, d),
        LossKind::Bce => (3, 0.0),
        LossKind::BceWithLogits => (4, 0.0),
        LossKind::CrossEntropy => (5, 0.0),
        LossKind::Nll => (6, 0.0),
        LossKind::KlDiv => (7, 0.0),
    }
}

impl CudaBackend {
    pub(super) fn loss_kernel(&mut self, a: &LossArgs) -> Result<()> {
        self.bind()?;
        let n = a.rows * a.cols;
        let class_targets = a.target_kind == TargetKind::ClassIndex;
        if class_targets && !matches!(a.kind, LossKind::CrossEntropy | LossKind::Nll) {
            return Err(Error::invalid(format!(
                "loss {:?} needs dense targets, got class indices",
                a.kind
            )));
        }
        let target_len = if class_targets { a.rows } else { n };
        let p_out = self.buf("loss", a.loss_out, a.loss_index + 1)?;
        let running = match a.running_index {
            Some(r) => {
                self.buf("loss", a.loss_out, r + 1)?;
                r as i64
            }
            None => -1,
        };
        if a.loss_out == a.grad || a.loss_out == a.pred || a.loss_out == a.target {
            return Err(Error::backend(
                "cuda loss: loss_out aliases another operand",
            ));
        }
        // Class indices are an i32 buffer (`const int *labels`), dense targets an f32 one; the
        // kernel reads the one its `class_targets` flag names (the other pointer is null).
        let (pt, pl, [pp], [pg]) = if class_targets {
            let pl = self.buf_typed("loss", a.target, target_len, DType::I32)?;
            let ([pp], [pg]) = self.ios("loss", [(a.pred, n)], [(a.grad, n)])?;
            (0, pl, [pp], [pg])
        } else {
            let ([pp, pt], [pg]) =
                self.ios("loss", [(a.pred, n), (a.target, target_len)], [(a.grad, n)])?;
            (pt, 0, [pp], [pg])
        };
        let scratch = self.scratch(a.rows)?;
        let (kind, param) = loss_code(a.kind);
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
                .i32(i32::from(class_targets))
                .ptr(pp)
                .ptr(pt)
                .ptr(pl)
                .ptr(pg)
                .ptr(scratch)
                .u64(a.rows)
                .u64(a.cols)
                .f32(d_elem)
                .f32(d_rows)
                .ptr(self.status.ptr);
            self.launch_rows(compile::LOSS, "nx_loss_rows", a.rows, args)?;
            if class_targets {
                self.status_cols = Some(a.cols);
            }
        }
        let args = KArgs::new()
            .ptr(scratch)
            .u64(a.rows)
            .f32(denom)
            .ptr(p_out)
            .u64(a.loss_index)
            .word(running as u64);
        self.launch(compile::LOSS, "nx_loss_total", (1, 1, 1), BLOCK, args)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn count_correct_kernel(
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
        self.bind()?;
        let target_len = match target_kind {
            TargetKind::Dense => rows * cols,
            TargetKind::ClassIndex => rows,
        };
        let pp = self.buf("count_correct", pred, rows * cols)?;
        let (pt, pl) = match target_kind {
            TargetKind::Dense => (self.buf("count_correct", target, target_len)?, 0),
            TargetKind::ClassIndex => {
                let pl = self.buf_typed("count_correct", target, target_len, DType::I32)?;
                (0, pl)
            }
        };
        let po = self.buf("count_correct", out, out_index + 1)?;
        let scratch = self.scratch(rows)?;
        if rows > 0 {
            let args = KArgs::new()
                .ptr(pp)
                .ptr(pt)
                .ptr(pl)
                .i32(i32::from(target_kind == TargetKind::ClassIndex))
                .i32(i32::from(from_logits))
                .u64(rows)
                .u64(cols)
                .ptr(scratch);
            self.launch_1d(compile::REDUCE, "nx_correct_rows", rows, args)?;
        }
        let args = KArgs::new().ptr(scratch).u64(rows).ptr(po).u64(out_index);
        self.launch(compile::REDUCE, "nx_correct_total", (1, 1, 1), 1, args)
    }

    pub(super) fn accumulate_scalar_kernel(
        &mut self,
        src: BufId,
        src_index: usize,
        dst: BufId,
        dst_index: usize,
    ) -> Result<()> {
        self.bind()?;
        let ps = self.buf("accumulate_scalar", src, src_index + 1)?;
        let pd = self.buf("accumulate_scalar", dst, dst_index + 1)?;
        let args = KArgs::new().ptr(ps).u64(src_index).ptr(pd).u64(dst_index);
        self.launch(compile::REDUCE, "nx_accumulate_scalar", (1, 1, 1), 1, args)
    }

    pub(super) fn clip_by_global_norm_kernel(
        &mut self,
        grad: BufId,
        n: usize,
        partials: BufId,
        count: usize,
        max_norm: f32,
    ) -> Result<()> {
        self.bind()?;
        let ([pp], [pg]) = self.ios("clip_by_global_norm", [(partials, count)], [(grad, n)])?;
        if n == 0 {
            return Ok(());
        }
        let args = KArgs::new().ptr(pg).u64(n).ptr(pp).u64(count).f32(max_norm);
        let g = blocks_for(n, BLOCK as usize * 8, self.dev.sm_count * 8);
        self.launch(compile::REDUCE, "nx_clip_by_norm", (g, 1, 1), BLOCK, args)
    }
}
