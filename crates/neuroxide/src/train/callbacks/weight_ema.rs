//! Trains with an exponential moving average of the weights and leaves the average in the model
//! at the end (Keras' `use_ema=True` with `ema_overwrite_frequency=None`).

use super::{Callback, TrainInfo};
use crate::error::Result;
use crate::graph::Model;
use crate::train::history::History;

/// Keeps `avg = decay·avg + (1 − decay)·w` after every step of `fit` (on the device, inside the
/// recorded step) and writes the average over the weights when training ends, so `evaluate`,
/// `predict` and `save` after `fit` use it. Validation during `fit` sees the raw weights.
pub struct WeightEma {
    decay: f32,
}

impl WeightEma {
    /// Averages with `decay` (in (0, 1); 0.99 is Keras' default `ema_momentum`).
    pub fn new(decay: f32) -> Self {
        WeightEma { decay }
    }
}

impl Callback for WeightEma {
    fn on_train_begin(&mut self, model: &mut Model, _info: &TrainInfo) -> Result<()> {
        model.set_weight_ema(Some(self.decay))
    }
    fn on_train_end(&mut self, model: &mut Model, _history: &History) -> Result<()> {
        model.apply_weight_ema()
    }
}
