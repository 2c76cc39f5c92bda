//! How and when a model's device buffers are planned: buffer reuse (per-batch buffers whose
//! lifetimes do not overlap share one device buffer; `graph/executor/lifetimes.rs` says why
//! that is safe) and planning ahead of the first step, so [`Model::planned_bytes`] can report
//! a model's peak without training it.

use super::{Model, ReuseOptions};
use crate::error::Result;

impl Model {
    /// Turns buffer reuse on or off (on by default; `NEUROXIDE_BUFFER_REUSE=0` makes off the
    /// default, for debugging). With reuse, node outputs, gradients and fan-out edge buffers
    /// that are never in use at the same time share one device buffer, which cuts
    /// [`Model::planned_bytes`] without changing a single bit of training: every buffer is
    /// written before it is read within a step. Replans the per-batch buffers when it changes.
    pub fn set_buffer_reuse(&mut self, on: bool) -> Result<()> {
        self.set_reuse_options(ReuseOptions {
            buffer_reuse: on,
            ..self.reuse
        })
    }

    /// Whether buffer reuse is on (see [`Model::set_buffer_reuse`]).
    pub fn buffer_reuse(&self) -> bool {
        self.reuse.buffer_reuse
    }

    /// Test hook: fills every shared per-batch buffer with NaN before each step, so a layer
    /// that read a shared buffer before writing it (relying on a zero fill, or on values left
    /// by a previous step) would change the results. Training with it on must be bit-identical
    /// to training with reuse off.
    #[doc(hidden)]
    pub fn set_poison_shared_buffers(&mut self, on: bool) -> Result<()> {
        self.set_reuse_options(ReuseOptions {
            poison_shared: on,
            ..self.reuse
        })
    }

    /// Plans every buffer a training step on batches of up to `batch` rows needs — per-batch
    /// buffers (for the compiled loss's targets, per shard when sharded) and, when compiled,
    /// the optimizer state — without running a step. The first step then allocates nothing.
    pub fn plan_for_batch(&mut self, batch: usize) -> Result<()> {
        let config = self.config.as_ref().map(|c| (c.optimizer, c.loss.targets));
        if self.shards > 1 && config.is_some() {
            self.ensure_sharded_exec(batch)?;
        } else {
            self.ensure_exec(batch)?;
        }
        if let (Some((optimizer, targets)), Some(ex)) = (config, self.exec.as_mut()) {
            ex.ensure_targets(&self.nodes, &self.outputs, targets)?;
            ex.ensure_optimizer_state(optimizer)?;
        }
        Ok(())
    }

    fn set_reuse_options(&mut self, options: ReuseOptions) -> Result<()> {
        let replan = options.buffer_reuse != self.reuse.buffer_reuse;
        self.reuse = options;
        if let Some(ex) = self.exec.as_mut() {
            ex.reuse = options;
            if replan {
                let capacity = ex.capacity;
                ex.plan_activations(&self.nodes, &self.outputs, capacity)?;
            }
        }
        Ok(())
    }
}
