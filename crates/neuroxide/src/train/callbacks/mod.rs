//! Callbacks: code that `fit` runs at fixed points of training (Keras' `Callback`).
//!
//! Hooks run on the host between kernel launches. `on_batch_begin`/`on_batch_end` run every
//! step, so they must not read anything from the device unless they mean to wait for it (the
//! progress bar reads the running loss only every `refresh` steps). `on_epoch_end` receives the
//! epoch's logs after the device totals were read once, and may stop training.

mod checkpoint;
mod csv_logger;
mod early_stopping;
mod epoch_logger;
mod lr_scheduler;
mod monitor;
mod progress;
mod weight_ema;

pub use checkpoint::ModelCheckpoint;
pub use csv_logger::CsvLogger;
pub use early_stopping::EarlyStopping;
pub use epoch_logger::EpochLogger;
pub use lr_scheduler::LearningRateScheduler;
pub use monitor::{Monitor, MonitorMode};
pub use progress::ProgressBar;
pub use weight_ema::WeightEma;

use super::history::{History, Logs};
use crate::error::Result;
use crate::graph::Model;

/// What a callback asks `fit` to do after an epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// End training after this epoch; the reason is kept in [`History::stop_reason`].
    Stop(String),
}

/// The shape of the run, given to [`Callback::on_train_begin`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainInfo {
    /// Index of the first epoch run (> 0 when resuming).
    pub initial_epoch: usize,
    /// Index one past the last epoch (`fit` runs `initial_epoch..epochs`).
    pub epochs: usize,
    /// Optimizer steps (batches) per epoch.
    pub steps_per_epoch: usize,
    pub batch_size: usize,
    pub train_samples: usize,
    /// Rows of validation data, if any.
    pub val_samples: Option<usize>,
}

/// A hook into `fit`. Every method has an empty default. Epoch and batch indices are 0-based.
pub trait Callback {
    /// Before the first epoch.
    fn on_train_begin(&mut self, _model: &mut Model, _info: &TrainInfo) -> Result<()> {
        Ok(())
    }
    /// Before each epoch's first batch.
    fn on_epoch_begin(&mut self, _model: &mut Model, _epoch: usize) -> Result<()> {
        Ok(())
    }
    /// Before each training step (host only: do not read device values here).
    fn on_batch_begin(&mut self, _model: &mut Model, _epoch: usize, _batch: usize) -> Result<()> {
        Ok(())
    }
    /// After each training step was queued (the device may still be computing it).
    fn on_batch_end(&mut self, _model: &mut Model, _epoch: usize, _batch: usize) -> Result<()> {
        Ok(())
    }
    /// After the epoch's training and validation; may add entries to `logs` or stop training.
    fn on_epoch_end(
        &mut self,
        _model: &mut Model,
        _epoch: usize,
        _logs: &mut Logs,
    ) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch (also after an early stop).
    fn on_train_end(&mut self, _model: &mut Model, _history: &History) -> Result<()> {
        Ok(())
    }
}
