//! The exponential moving average of a model's weights (Keras' `use_ema` / `ema_momentum`):
//! kept on the device beside the weights, updated by every training step after the optimizer,
//! swapped in for evaluation or written over the weights at the end of training.

use super::Model;
use crate::error::{Error, Result};

impl Model {
    /// Keeps `avg = decay·avg + (1 − decay)·w` after every training step, starting from the
    /// current weights; `None` stops and drops the average. Moving the model to another device
    /// restarts the average from the weights of that moment. Typical decays: 0.99 (Keras'
    /// default) for runs of about a thousand steps, 0.999 for longer ones.
    pub fn set_weight_ema(&mut self, decay: Option<f32>) -> Result<()> {
        if let Some(d) = decay {
            if !(d > 0.0 && d < 1.0) {
                return Err(Error::invalid(format!(
                    "weight EMA decay must be in (0, 1), got {d}"
                )));
            }
        }
        self.weight_ema = decay;
        // Without an executor the average starts when one is created (`ensure_exec`), from
        // the same weights: none has been trained since.
        match self.exec.as_mut() {
            Some(ex) => ex.set_weight_average(decay),
            None => Ok(()),
        }
    }

    /// The decay of the weight average, if one is kept.
    pub fn weight_ema(&self) -> Option<f32> {
        self.weight_ema
    }

    /// Exchanges the weights and their running average; a second call restores both (evaluate
    /// with the average in between, then train on). An error when no average is kept.
    pub fn swap_weight_ema(&mut self) -> Result<()> {
        if self.weight_ema.is_none() {
            return Err(Error::invalid(
                "swap_weight_ema: no weight EMA is kept (see Model::set_weight_ema)",
            ));
        }
        match self.exec.as_mut() {
            Some(ex) => ex.swap_weight_average(),
            // No step since the average (re)started: it equals the weights.
            None => Ok(()),
        }
    }

    /// Writes the running average over the weights and stops averaging (what Keras does at
    /// the end of `fit` with `use_ema`).
    pub fn apply_weight_ema(&mut self) -> Result<()> {
        self.swap_weight_ema()?;
        self.set_weight_ema(None)
    }
}
