//! Training steps on a model: the synchronous step, the prefetched (double-buffered) step,
//! step recording (CUDA graphs), and the running loss and accuracy sums read back per epoch.

use super::Model;
use crate::backend::{BackendStats, StagedSpan};
use crate::error::{Error, Result};
use crate::graph::executor::{Scalar, StepSpec};
use crate::graph::TrainConfig;
use crate::loss::Loss;
use crate::tensor::Tensor;

impl Model {
    /// One training step (forward, loss, backward, clipping, update) without reading the loss
    /// back, so a device never waits. Makes no heap allocation once the buffers exist.
    pub fn train_step(&mut self, xs: &[&Tensor], ys: &[&Tensor]) -> Result<()> {
        let loss = self.config_ref()?.loss;
        let batch = self.check_train_batch(xs, ys, &loss)?;
        if let Some((first, rows)) = self.rank_rows(batch)? {
            self.ensure_exec(rows)?;
            self.upload_rows(xs, ys, first, rows, loss.targets)?;
            return self.run_train_step(rows);
        }
        if self.shards > 1 {
            self.ensure_sharded_exec(batch)?;
            self.upload_sharded_batch(xs, ys, batch)?;
        } else {
            self.ensure_exec(batch)?;
            self.upload_batch(xs, ys, loss.targets)?;
        }
        self.run_train_step(batch)
    }

    pub(super) fn config_ref(&self) -> Result<&TrainConfig> {
        self.config.as_ref().ok_or_else(|| {
            Error::invalid("the model is not compiled: call compile(optimizer, loss) first")
        })
    }

    /// Lets every layer fed directly by a model input check its values on the host (token ids
    /// of an Embedding), so a bad value is a clear error instead of a silent zero on a device.
    pub(super) fn check_input_values(&self, xs: &[&Tensor]) -> Result<()> {
        for node in &self.nodes {
            let Some(layer) = &node.layer else { continue };
            for (slot, inp) in node.inputs.iter().enumerate() {
                if let Some(k) = self.inputs.iter().position(|n| n == inp) {
                    if let Some(x) = xs.get(k) {
                        layer
                            .check_input(slot, x.values())
                            .map_err(|e| Error::layer(&node.name, e.to_string()))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks a training batch; returns its rows.
    pub(super) fn check_train_batch(
        &self,
        xs: &[&Tensor],
        ys: &[&Tensor],
        loss: &Loss,
    ) -> Result<usize> {
        let batch = self.check_batch("input", xs, &self.inputs, None)?;
        self.check_input_values(xs)?;
        if self.check_batch("target", ys, &self.outputs, Some(loss))? != batch {
            return Err(Error::Shape(format!(
                "targets have {} rows, inputs have {batch}",
                ys[0].rows()
            )));
        }
        Ok(batch)
    }

    /// Forward, loss, backward, clipping and update on the batch in the input buffers.
    pub(super) fn run_train_step(&mut self, batch: usize) -> Result<()> {
        let config = self.config_ref()?;
        let (optimizer, loss, clip, track) = (
            config.optimizer,
            config.loss,
            config.clip_norm,
            config.track_accuracy,
        );
        let seed = self.seed;
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        let spec = StepSpec {
            optimizer,
            loss,
            clip,
            track_accuracy: track,
            shards: self.shards,
        };
        ex.train_step(&self.nodes, &self.outputs, &spec, batch, seed)
    }

    /// Starts uploading the *next* training batch while queued work runs (double-buffered
    /// input); [`Model::train_step_prefetched`] then trains on it.
    ///
    /// Why: on a GPU the host→device copy of batch `n + 1` then overlaps the computation of
    /// batch `n` (pinned staging memory, a copy stream and events; see
    /// [`crate::Backend::upload_staged`]). The typical loop:
    /// ```text
    /// model.prefetch(&[&x0], &[&y0])?;
    /// for n in 0..batches {
    ///     model.train_step_prefetched()?;            // queues step n
    ///     if n + 1 < batches { model.prefetch(&[&x(n+1)], &[&y(n+1)])?; } // copies during step n
    ///     // reading the loss here (model.last_loss()) does not stall the copy
    /// }
    /// ```
    /// The batch goes into a second set of device buffers (the staging set), so a prefetch
    /// never disturbs the step still computing. Results are bit-identical to
    /// [`Model::train_step`] with the same batches: the step runs the same kernels on the same
    /// values. `xs` and `ys` may be dropped or reused once this returns. Checks the batch as
    /// `train_step` does; an error if a prefetched batch is still pending.
    pub fn prefetch(&mut self, xs: &[&Tensor], ys: &[&Tensor]) -> Result<()> {
        let loss = self.config_ref()?.loss;
        let batch = self.check_train_batch(xs, ys, &loss)?;
        if self.exec.as_ref().is_some_and(|e| e.pending.is_some()) {
            return Err(Error::invalid(
                "prefetch: a prefetched batch is still pending; call train_step_prefetched first",
            ));
        }
        let (first, rows) = self.rank_rows(batch)?.unwrap_or((0, batch));
        if self.shards > 1 {
            self.ensure_sharded_exec(batch)?;
        } else {
            self.ensure_exec(rows)?;
        }
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        ex.ensure_targets(&self.nodes, &self.outputs, loss.targets)?;
        ex.ensure_staging(&self.nodes, &self.inputs, &self.outputs, rows)?;
        for (i, t) in xs.iter().chain(ys).enumerate() {
            ex.stage(i, Self::rows_of(t, first, rows))?;
        }
        ex.pending = Some(rows);
        Ok(())
    }

    /// One training step on the batch given to [`Model::prefetch`]: the compute stream waits
    /// (on the device, not the host) for that batch's copies, copies it from the staging set
    /// into the input and target buffers, and then runs exactly what [`Model::train_step`]
    /// runs. Right after this returns, the next batch may be prefetched: its copies wait only
    /// for those device-to-device copies, not for the rest of this step.
    pub fn train_step_prefetched(&mut self) -> Result<()> {
        self.config_ref()?;
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("train_step_prefetched: no batch was prefetched"))?;
        let batch = ex.pending.ok_or_else(|| {
            Error::invalid("train_step_prefetched: no batch was prefetched; call prefetch first")
        })?;
        ex.take_staged(&self.inputs, batch, self.shards > 1)?;
        self.run_train_step(batch)
    }

    /// Turns the recording and replay of training steps (CUDA graphs; see `graph/step.rs`) on
    /// or off. On by default unless `NEUROXIDE_CUDA_GRAPHS=0`; the CPU never records. Results
    /// are bit-identical either way.
    pub fn set_step_recording(&mut self, on: bool) -> Result<()> {
        let ex = self.ensure_exec(1)?;
        ex.recordings.enabled = on;
        if !on {
            ex.recordings.clear();
        }
        Ok(())
    }

    /// Kernels launched by the last training step (one replay counts every kernel it holds),
    /// and why step recording was turned off, if a capture failed.
    pub fn step_launch_info(&self) -> Option<(u64, Option<String>)> {
        self.exec.as_ref().map(|ex| {
            (
                ex.recordings.launches_per_step,
                ex.recordings.failure.clone(),
            )
        })
    }

    /// Starts recording device timestamps of the next `groups` prefetched batches (see
    /// [`StagedSpan`]); `false` when the device has no such timeline (the CPU).
    pub fn staged_timeline_start(&mut self, groups: usize) -> Result<bool> {
        self.ensure_exec(1)?.backend.staged_timeline_start(groups)
    }

    /// The timestamps recorded since [`Model::staged_timeline_start`] (waits for the device).
    pub fn staged_timeline(&mut self) -> Result<Vec<StagedSpan>> {
        match self.exec.as_mut() {
            Some(ex) => ex.backend.staged_timeline(),
            None => Ok(Vec::new()),
        }
    }

    /// The backend's allocation and synchronisation counters, once the model has run.
    pub fn backend_stats(&self) -> Option<BackendStats> {
        self.exec.as_ref().map(|e| e.backend.stats())
    }

    /// One training step; returns the loss (summed over outputs). Reading the loss waits for
    /// the device; use [`Model::train_step`] to avoid that.
    pub fn train_on_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<f32> {
        self.train_step(&[x], &[y])?;
        self.last_loss()
    }

    /// The loss of the last training or evaluation batch (summed over outputs).
    pub fn last_loss(&mut self) -> Result<f32> {
        let n = self.outputs.len();
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("no batch has run yet"))?;
        let mut total = 0.0f32;
        for o in 0..n {
            total += ex.read_scalar(Scalar::Loss(o))?;
        }
        Ok(total)
    }

    /// Running sums since the last [`Model::reset_running`]: `(loss sum over batches, correct
    /// predictions)` summed over outputs. Waits for the device.
    pub fn running_totals(&mut self) -> Result<(f32, f32)> {
        let n = self.outputs.len();
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("no batch has run yet"))?;
        let (mut loss, mut correct) = (0.0f32, 0.0f32);
        for o in 0..n {
            loss += ex.read_scalar(Scalar::LossSum(o))?;
            correct += ex.read_scalar(Scalar::Correct(o))?;
        }
        Ok((loss, correct))
    }

    /// Zeroes the running loss sum and correct count.
    pub fn reset_running(&mut self) -> Result<()> {
        self.ensure_exec(1)?.reset_running()
    }
}
