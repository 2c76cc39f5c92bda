//! Sharded training on a model: the shard count, the buffers a sharded step needs, and the
//! gradients of the last step (read back to check the reduction against a reference and, for
//! data parallelism, to exchange them between processes).
//!
//! The arithmetic contract is in `graph/executor/shards.rs`: each global batch splits into
//! `R` equal shards, each shard's gradient is today's gradient of that shard, and the global
//! gradient is `((g0 + g1) + …) · fl(1/R)`, in rank order.

use super::Model;
use crate::error::{Error, Result};
use crate::graph::executor::shard_rows;
use crate::tensor::Tensor;

impl Model {
    /// Splits every training batch into `shards` equal shards whose gradients are summed in
    /// rank order and scaled by `1/shards` (see `graph/executor/shards.rs` for the exact
    /// contract). The same seed and shard count give the same bits on the CPU, on one GPU
    /// (shards one after the other: this is also gradient accumulation) and on `shards` GPUs.
    /// `1` (the default) is the plain step. Layers that normalise over the batch use per-shard
    /// statistics. A batch whose rows are not divisible by `shards` is an error.
    pub fn set_shards(&mut self, shards: usize) -> Result<()> {
        if shards == 0 {
            return Err(Error::invalid("the shard count must be at least 1, got 0"));
        }
        self.shards = shards;
        Ok(())
    }

    /// Shards per training batch (see [`Model::set_shards`]).
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Plans the executor for one shard of a `batch`-row global batch, and the batch set that
    /// holds the whole global batch.
    pub(super) fn ensure_sharded_exec(&mut self, batch: usize) -> Result<()> {
        let rows = shard_rows(batch, self.shards)?;
        self.ensure_exec(rows)?;
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        ex.ensure_batch_set(&self.nodes, &self.inputs, &self.outputs, batch)
    }

    /// Uploads a global batch of `rows` rows into the batch set.
    pub(super) fn upload_sharded_batch(
        &mut self,
        xs: &[&Tensor],
        ys: &[&Tensor],
        rows: usize,
    ) -> Result<()> {
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        for (i, t) in xs.iter().chain(ys).enumerate() {
            ex.upload_to_batch_set(i, t.data(), rows)?;
        }
        Ok(())
    }

    /// The gradients the last training step's update used (after the shard reduction and
    /// clipping), named as in [`Model::params`]. Waits for the device.
    pub fn gradients(&mut self) -> Result<Vec<(String, Tensor)>> {
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("gradients: no training step has run yet"))?;
        let mut out = Vec::with_capacity(self.params.len());
        for (p, &g) in self.params.iter().zip(&ex.grads) {
            let mut v = vec![0.0f32; p.shape.numel()];
            ex.backend.download(g, 0, &mut v)?;
            out.push((p.name.clone(), Tensor::new(p.shape.dims().to_vec(), v)?));
        }
        Ok(out)
    }
}
