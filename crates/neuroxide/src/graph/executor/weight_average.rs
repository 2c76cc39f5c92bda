//! An exponential moving average of the weights (Keras' `use_ema`, PyTorch's
//! `AveragedModel` with an EMA): `avg = keep·avg + (1 − keep)·w` after every optimizer update,
//! queued in the training step itself (so a recorded step replays it), starting from the
//! weights at the moment it is turned on. The decay warms up as TensorFlow's
//! `ExponentialMovingAverage(num_updates=t)`: the t-th update since averaging began keeps
//! `min(decay, (1 + t) / (10 + t))` (computed in f64, rounded once to f32, and passed in the step
//! block, PARITY rule 8), so a short run averages over its recent steps instead of dragging its
//! initial weights along.
//!
//! Why: a step's weights carry the noise of its last few batches; their average over the last
//! ~1/(1 − keep) steps generalises better at no cost in training steps (docs/ACCURACY.md: the
//! MNIST CNN after one epoch, 98.1–98.5% → 98.5–98.7% with `keep` = 0.99).

use super::Executor;
use crate::backend::{BufId, StepBlock};
use crate::error::{Error, Result};
use crate::ops::copy::{self, Copy2d};
use crate::ops::elementwise;

/// The averages and their decay.
pub(crate) struct WeightAverage {
    /// The weight of the old average in each update (Keras' `ema_momentum`), after warm-up.
    pub keep: f32,
    /// Optimizer updates done before averaging began.
    start: u64,
    /// One buffer per parameter, the same length.
    bufs: Vec<BufId>,
}

impl Executor {
    /// Starts averaging with decay `keep` (checked by `Model::set_weight_ema`) from the current
    /// weights; `None` stops and drops the averages. Recorded steps are forgotten: their launch
    /// list changes.
    pub fn set_weight_average(&mut self, keep: Option<f32>) -> Result<()> {
        self.forget_recordings();
        if let Some(avg) = self.weight_average.take() {
            for b in avg.bufs {
                self.backend.free(b)?;
            }
        }
        let Some(keep) = keep else { return Ok(()) };
        let mut bufs = Vec::with_capacity(self.params.len());
        for &p in &self.params {
            let n = self.backend.buf_len(p);
            let b = self.backend.alloc(n)?;
            copy::copy_2d(self.backend.as_mut(), &Copy2d::plain(p, b, n))?;
            bufs.push(b);
        }
        self.weight_average = Some(WeightAverage {
            keep,
            start: self.steps,
            bufs,
        });
        Ok(())
    }

    /// Writes the average's factors of the next update (number `steps + 1`) into a step block.
    pub(super) fn set_weight_average_factors(&self, block: &mut [f32; StepBlock::LEN]) {
        if let Some(avg) = &self.weight_average {
            let t = (self.steps + 1 - avg.start) as f64;
            let keep = f64::from(avg.keep).min((1.0 + t) / (10.0 + t)) as f32;
            StepBlock::set_ema(block, keep);
        }
    }

    /// Queues `avg = keep·avg + take·w` for every parameter (after an update), the factors
    /// read from the step block.
    pub(super) fn update_weight_average(&mut self) -> Result<()> {
        let Some(avg) = &self.weight_average else {
            return Ok(());
        };
        for (&b, &p) in avg.bufs.iter().zip(&self.params) {
            let n = self.backend.buf_len(p);
            elementwise::moving_average(self.backend.as_mut(), b, p, n, self.step_block)?;
        }
        Ok(())
    }

    /// Exchanges the weights and their averages (twice restores both): evaluate with the
    /// averages, then swap back and train on.
    pub fn swap_weight_average(&mut self) -> Result<()> {
        let avg = self
            .weight_average
            .as_ref()
            .ok_or_else(|| Error::invalid("no weight EMA is kept (see Model::set_weight_ema)"))?;
        for (&b, &p) in avg.bufs.iter().zip(&self.params) {
            let n = self.backend.buf_len(p);
            elementwise::swap(self.backend.as_mut(), b, p, n)?;
        }
        Ok(())
    }
}
