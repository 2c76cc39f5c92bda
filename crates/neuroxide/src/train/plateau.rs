//! ReduceLROnPlateau: multiply the learning rate by `factor` when a monitored quantity has not
//! improved for `patience` epochs.

use super::callbacks::{Callback, Control, Monitor, MonitorMode, TrainInfo};
use super::history::Logs;
use crate::error::{Error, Result};
use crate::graph::Model;

/// Keras' `ReduceLROnPlateau`: after `patience` epochs without an improvement of `monitor` by
/// more than `min_delta`, `lr = max(lr * factor, min_lr)`, then `cooldown` epochs during which
/// waiting does not count. The new rate (computed in f32 on the host) takes effect from the next
/// epoch and is logged as `lr`. The wait counter is not saved in checkpoints, but the reduced
/// rate is (it is part of the compiled optimizer).
pub struct ReduceLrOnPlateau {
    monitor: Monitor,
    factor: f32,
    patience: usize,
    cooldown: usize,
    min_lr: f32,
    wait: usize,
    cooldown_left: usize,
    reductions: usize,
}

impl ReduceLrOnPlateau {
    /// Monitors `monitor`; factor 0.1, patience 10, no cooldown, min_lr 0.
    pub fn new(monitor: &str) -> Self {
        ReduceLrOnPlateau {
            monitor: Monitor::new(monitor, MonitorMode::Auto, 1e-4),
            factor: 0.1,
            patience: 10,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_left: 0,
            reductions: 0,
        }
    }
    /// Multiplier applied on a plateau (in (0, 1)).
    pub fn factor(mut self, factor: f32) -> Self {
        self.factor = factor;
        self
    }
    /// Epochs without improvement before reducing.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    /// Epochs after a reduction during which no new plateau is counted.
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }
    /// Lower bound of the rate.
    pub fn min_lr(mut self, min_lr: f32) -> Self {
        self.min_lr = min_lr;
        self
    }
    /// Smallest change that counts as an improvement (default 1e-4).
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.monitor.min_delta = min_delta.abs();
        self
    }
    /// Whether smaller or larger is better.
    pub fn mode(mut self, mode: MonitorMode) -> Self {
        self.monitor.mode = mode;
        self
    }
    /// How many times the rate was reduced.
    pub fn reductions(&self) -> usize {
        self.reductions
    }
}

impl Callback for ReduceLrOnPlateau {
    fn on_train_begin(&mut self, _model: &mut Model, _info: &TrainInfo) -> Result<()> {
        if !(self.factor > 0.0 && self.factor < 1.0) {
            return Err(Error::invalid(format!(
                "ReduceLrOnPlateau: factor must be in (0, 1), got {}",
                self.factor
            )));
        }
        self.monitor.reset();
        self.wait = 0;
        self.cooldown_left = 0;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        model: &mut Model,
        _epoch: usize,
        logs: &mut Logs,
    ) -> Result<Control> {
        let lr = model
            .train_config()
            .ok_or_else(|| Error::invalid("ReduceLrOnPlateau: the model is not compiled"))?
            .optimizer
            .lr();
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        if self.monitor.update(logs)? {
            self.wait = 0;
        } else if self.cooldown_left == 0 {
            self.wait += 1;
            if self.wait >= self.patience && lr > self.min_lr {
                let new_lr = (lr * self.factor).max(self.min_lr);
                model.set_learning_rate(new_lr)?;
                self.reductions += 1;
                self.cooldown_left = self.cooldown;
                self.wait = 0;
            }
        }
        let now = model.train_config().map_or(lr, |c| c.optimizer.lr());
        logs.set("lr", f64::from(now));
        Ok(Control::Continue)
    }
}
