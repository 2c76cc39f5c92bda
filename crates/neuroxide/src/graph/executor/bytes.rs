//! What a model's planned device buffers take, by kind: the number `bench --json` reports as
//! `peak_mem_mib` on every device (the plan is allocated once and the step allocates nothing,
//! so the planned total is the model's peak). Per-batch buffers are counted as allocated, after
//! lifetime-based reuse (`lifetimes.rs`); `activations_unshared` says what they would take
//! without it.

use super::Executor;
use crate::backend::BufId;

/// Planned device bytes of a model, by kind of buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlannedBytes {
    /// Trainable parameters.
    pub params: u64,
    /// Parameter gradients, including the scratch gradients of shared layers.
    pub grads: u64,
    /// Optimizer state (momentum, Adam's moments).
    pub optimizer: u64,
    /// Per-batch activations: node outputs, their gradients, fan-out edge gradients, targets,
    /// as allocated: a buffer several lifetimes share counts once, at its size.
    pub activations: u64,
    /// What `activations` would take with every buffer private (buffer reuse off); not part
    /// of [`PlannedBytes::total`]. Equal to `activations` when reuse is off.
    pub activations_unshared: u64,
    /// Per-batch layer workspaces (what forward saves for backward).
    pub workspaces: u64,
    /// Non-trainable layer state (running statistics).
    pub state: u64,
    /// Everything else: the staging set of prefetched input, the loss/accuracy scalars, the
    /// per-step scalar block, the clipping partials.
    pub other: u64,
}

impl PlannedBytes {
    /// The sum of every kind (`activations` as allocated).
    pub fn total(&self) -> u64 {
        self.params
            + self.grads
            + self.optimizer
            + self.activations
            + self.workspaces
            + self.state
            + self.other
    }

    /// The total in MiB (2^20 bytes).
    pub fn total_mib(&self) -> f64 {
        self.total() as f64 / f64::from(1u32 << 20)
    }

    /// The total with every per-batch buffer private (as before buffer reuse), in MiB.
    pub fn total_unshared_mib(&self) -> f64 {
        let unshared = self.total() - self.activations + self.activations_unshared;
        unshared as f64 / f64::from(1u32 << 20)
    }
}

impl Executor {
    /// Bytes of every buffer the executor planned (f32 values, 4 bytes each).
    pub fn planned_bytes(&self) -> PlannedBytes {
        let bytes = |bufs: &mut dyn Iterator<Item = &BufId>| -> u64 {
            bufs.map(|&b| self.backend.buf_len(b) as u64 * 4).sum()
        };
        let workspaces = bytes(&mut self.workspace.iter().flatten());
        let scratch = bytes(&mut self.param_grads.iter().flat_map(|r| r.scratch()));
        PlannedBytes {
            params: bytes(&mut self.params.iter()),
            grads: bytes(&mut self.grads.iter()) + scratch,
            optimizer: bytes(&mut self.state.iter().flatten().flatten()),
            activations: bytes(&mut self.activation_bufs.iter()) - workspaces,
            activations_unshared: self.activations_unshared,
            workspaces,
            state: bytes(&mut self.layer_state.iter()),
            other: bytes(&mut self.staging.iter().chain([
                &self.scalars,
                &self.norm_partials,
                &self.step_block,
            ])),
        }
    }
}
