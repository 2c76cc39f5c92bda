//! Early stopping: end training when a monitored quantity stops improving, optionally
//! restoring the weights of the best epoch.

use super::{Callback, Control, Monitor, MonitorMode, TrainInfo};
use crate::error::Result;
use crate::graph::Model;
use crate::tensor::Tensor;
use crate::train::history::{History, Logs};

/// Stops after `patience` epochs without an improvement of `monitor` by more than `min_delta`.
///
/// With `restore_best_weights`, the weights of the best epoch are copied to the host when it
/// ends (one download per improvement) and put back when training ends, whether it stopped
/// early or ran out of epochs (Keras 3 behaviour). Optimizer state is not rolled back.
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    restore_best_weights: bool,
    wait: usize,
    best_epoch: Option<usize>,
    best_weights: Option<Vec<(String, Tensor)>>,
    stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Monitors `monitor` (mode chosen from the name), patience 10, no delta, no restore.
    pub fn new(monitor: &str) -> Self {
        EarlyStopping {
            monitor: Monitor::new(monitor, MonitorMode::Auto, 0.0),
            patience: 10,
            restore_best_weights: false,
            wait: 0,
            best_epoch: None,
            best_weights: None,
            stopped_epoch: None,
        }
    }
    /// Epochs without improvement before stopping.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    /// Smallest change that counts as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.monitor.min_delta = min_delta.abs();
        self
    }
    /// Whether smaller or larger is better.
    pub fn mode(mut self, mode: MonitorMode) -> Self {
        self.monitor.mode = mode;
        self
    }
    /// Restore the best epoch's weights at the end of training.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }
    /// The epoch (0-based) with the best value, once one was seen.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }
    /// The best value seen.
    pub fn best(&self) -> Option<f64> {
        self.monitor.best()
    }
    /// The epoch after which training was stopped, if it was.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _model: &mut Model, _info: &TrainInfo) -> Result<()> {
        self.monitor.reset();
        self.wait = 0;
        self.best_epoch = None;
        self.best_weights = None;
        self.stopped_epoch = None;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        model: &mut Model,
        epoch: usize,
        logs: &mut Logs,
    ) -> Result<Control> {
        if self.monitor.update(logs)? {
            self.wait = 0;
            self.best_epoch = Some(epoch);
            if self.restore_best_weights {
                self.best_weights = Some(model.weights()?);
            }
            return Ok(Control::Continue);
        }
        self.wait += 1;
        if self.wait < self.patience {
            return Ok(Control::Continue);
        }
        self.stopped_epoch = Some(epoch);
        let best = match (self.best_epoch, self.monitor.best()) {
            (Some(e), Some(v)) => format!("best {} = {v:.6} at epoch {}", self.monitor.name, e + 1),
            _ => format!("{} never improved", self.monitor.name),
        };
        Ok(Control::Stop(format!(
            "early stopping after epoch {}: no improvement of {} for {} epoch(s); {best}",
            epoch + 1,
            self.monitor.name,
            self.wait
        )))
    }

    fn on_train_end(&mut self, model: &mut Model, _history: &History) -> Result<()> {
        if let Some(w) = self.best_weights.take() {
            model.set_weights(&w)?;
        }
        Ok(())
    }
}
