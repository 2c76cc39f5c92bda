//! The target buffers: how a loss's targets are stored on the device. Dense targets are f32
//! rows of the output's shape; class labels are i32, one per prediction row, so a label goes
//! from the data layer to the loss kernel without passing through f32.

use super::Executor;
use crate::backend::TargetKind;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::node::Node;
use crate::shape::Shape;

impl Executor {
    /// Makes the target buffers store targets as `kind` says (i32 class labels or f32 rows),
    /// replanning the per-batch buffers when that changes (a different loss was compiled).
    pub fn ensure_targets(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        kind: TargetKind,
    ) -> Result<()> {
        if self.target_kind == kind {
            return Ok(());
        }
        self.target_kind = kind;
        let capacity = self.capacity;
        self.plan_activations(nodes, outputs, capacity)
    }

    /// The dtype of the target buffers.
    pub fn target_dtype(&self) -> DType {
        match self.target_kind {
            TargetKind::Dense => DType::F32,
            TargetKind::ClassIndex => DType::I32,
        }
    }
}

/// `[rows, ...dims]`: the shape of a planned buffer of `rows` samples.
pub(super) fn batch_shape(rows: usize, dims: &[usize]) -> Vec<usize> {
    std::iter::once(rows).chain(dims.iter().copied()).collect()
}

/// The dtype and shape of the target buffer of an output of per-sample shape `shape`: f32 of
/// the output's shape for dense targets; for class labels, i32 with one label per prediction
/// row (the output's shape without its last axis).
pub(super) fn target_layout(kind: TargetKind, rows: usize, shape: &Shape) -> (DType, Vec<usize>) {
    match kind {
        TargetKind::Dense => (DType::F32, batch_shape(rows, shape.dims())),
        TargetKind::ClassIndex => {
            let dims = shape.dims();
            (
                DType::I32,
                batch_shape(rows, &dims[..dims.len().saturating_sub(1)]),
            )
        }
    }
}
