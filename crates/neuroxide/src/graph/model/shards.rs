//! Sharded training on a model: the shard count, the buffers a sharded step needs, and the
//! gradients of the last step (read back to check the reduction against a reference and, for
//! data parallelism, to exchange them between processes).
//!
//! The arithmetic contract is in `graph/executor/shards.rs`: each global batch splits into
//! `R` equal shards, each shard's gradient is today's gradient of that shard, and the global
//! gradient is `((g0 + g1) + …) · fl(1/R)`, in rank order.

use super::Model;
use crate::backend::TargetKind;
use crate::dtype::HostData;
use crate::error::{Error, Result};
use crate::graph::executor::{cap_from_bytes, default_cap_values, shard_rows};
use crate::graph::CrossRankReduce;
use crate::tensor::Tensor;

impl Model {
    /// Splits every training batch into `shards` equal shards whose gradients are summed in
    /// rank order and scaled by `1/shards` (see `graph/executor/shards.rs` for the exact
    /// contract). The same seed and shard count give the same bits on the CPU, on one GPU
    /// (shards one after the other: this is also gradient accumulation) and on `shards` GPUs.
    /// `1` (the default) is the plain step. Layers that normalise over the batch use per-shard
    /// statistics. A batch whose rows are not divisible by `shards` is an error. On a rank of a
    /// data-parallel job the shard count is the world size; `1` or the world size are accepted
    /// and change nothing.
    pub fn set_shards(&mut self, shards: usize) -> Result<()> {
        if shards == 0 {
            return Err(Error::invalid("the shard count must be at least 1, got 0"));
        }
        if let Some((_, world)) = self.data_parallel() {
            // 1 is "no local sharding", what a command line passes by default.
            if shards != world && shards != 1 {
                return Err(Error::invalid(format!(
                    "this model is a rank of a data-parallel job of {world} ranks: it trains \
                     {world} shards, not {shards}"
                )));
            }
            return Ok(());
        }
        self.shards = shards;
        Ok(())
    }

    /// Shards per training batch (see [`Model::set_shards`]); in a data-parallel job, the
    /// world size.
    pub fn shards(&self) -> usize {
        self.data_parallel().map_or(self.shards, |(_, world)| world)
    }

    /// Makes this model one rank of a data-parallel job (see `graph/cross_rank.rs`): every
    /// training batch given to it is the *global* batch; this rank trains its shard
    /// (rows `rank·B/R .. (rank+1)·B/R`) and `reducer` sums the gradients across ranks. Call it
    /// after [`Model::to_device`] (which replaces the device state) and with one local shard.
    pub fn set_cross_rank(&mut self, reducer: Box<dyn CrossRankReduce>) -> Result<()> {
        if self.shards != 1 {
            return Err(Error::invalid(format!(
                "a data-parallel rank trains one shard; this model is set to {} shards",
                self.shards
            )));
        }
        let cap = default_cap_values()?;
        let ex = self.ensure_exec(1)?;
        ex.cross_rank = Some(reducer);
        ex.dp_bucket_cap = cap;
        Ok(())
    }

    /// Bytes of gradients per bucket of a data-parallel step (25 MiB unless
    /// `NEUROXIDE_DP_BUCKET_MB` says otherwise when the model joins the job): the step starts
    /// reducing a bucket as soon as the backward has finished its gradients, while the backward
    /// of the earlier layers goes on (`graph/executor/grad_buckets.rs`). `0` reduces every
    /// gradient after the whole backward. Changes when values are reduced, never their bits.
    pub fn set_reduce_bucket_bytes(&mut self, bytes: usize) -> Result<()> {
        self.ensure_exec(1)?.dp_bucket_cap = cap_from_bytes(bytes);
        Ok(())
    }

    /// Reductions per data-parallel step (the gradient buckets), once a step has planned them.
    pub fn reduce_buckets(&self) -> Option<usize> {
        self.exec.as_ref()?.dp_bucket_count()
    }

    /// `(rank, world size)` when this model is a rank of a data-parallel job.
    pub fn data_parallel(&self) -> Option<(usize, usize)> {
        let r = self.exec.as_ref()?.cross_rank.as_ref()?;
        Some((r.rank(), r.world_size()))
    }

    /// A data-parallel rank's rows of a `batch`-row global batch: `(first row, rows)`.
    pub(super) fn rank_rows(&self, batch: usize) -> Result<Option<(usize, usize)>> {
        match self.data_parallel() {
            None => Ok(None),
            Some((rank, world)) => {
                let rows = shard_rows(batch, world)?;
                Ok(Some((rank * rows, rows)))
            }
        }
    }

    /// Rows `first .. first + rows` of a tensor's values.
    pub(super) fn rows_of(t: &Tensor, first: usize, rows: usize) -> HostData<'_> {
        let w = t.row_len();
        t.values().slice(first * w..(first + rows) * w)
    }

    /// Plans the executor for one shard of a `batch`-row global batch, and the batch set that
    /// holds the whole global batch.
    pub(super) fn ensure_sharded_exec(&mut self, batch: usize) -> Result<()> {
        let rows = shard_rows(batch, self.shards)?;
        let targets = self.config_ref()?.loss.targets;
        self.ensure_exec(rows)?;
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        // Targets first: the batch set holds them in the dtype the loss reads.
        ex.ensure_targets(&self.nodes, &self.outputs, targets)?;
        ex.ensure_batch_set(&self.nodes, &self.inputs, &self.outputs, batch)
    }

    /// Uploads rows `first .. first + rows` of a batch into the input and target buffers.
    pub(super) fn upload_rows(
        &mut self,
        xs: &[&Tensor],
        ys: &[&Tensor],
        first: usize,
        rows: usize,
        targets: TargetKind,
    ) -> Result<()> {
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        ex.ensure_targets(&self.nodes, &self.outputs, targets)?;
        for (x, &n) in xs.iter().zip(&self.inputs) {
            let b = ex.node_output(n);
            ex.upload(b, Self::rows_of(x, first, rows))?;
        }
        for (o, y) in ys.iter().enumerate() {
            let b = ex.target(o);
            ex.upload(b, Self::rows_of(y, first, rows))?;
        }
        Ok(())
    }

    /// Uploads a global batch of `rows` rows into the batch set.
    pub(super) fn upload_sharded_batch(
        &mut self,
        xs: &[&Tensor],
        ys: &[&Tensor],
        rows: usize,
    ) -> Result<()> {
        // The target buffers' dtype was settled by `ensure_sharded_exec`.
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        for (i, t) in xs.iter().chain(ys).enumerate() {
            ex.upload_to_batch_set(i, t.values(), rows)?;
        }
        Ok(())
    }
}

impl Model {
    /// Runs `f` on the model's backend (created on first use), e.g. to open a communicator
    /// on its device and stream.
    pub(crate) fn with_backend<T>(
        &mut self,
        f: &mut dyn FnMut(&mut dyn crate::backend::Backend) -> Result<T>,
    ) -> Result<T> {
        let ex = self.ensure_exec(1)?;
        f(ex.backend.as_mut())
    }
}
