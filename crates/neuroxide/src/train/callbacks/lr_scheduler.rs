//! Sets the learning rate from a [`Schedule`] before every training step.

use super::{Callback, Control, TrainInfo};
use crate::error::Result;
use crate::graph::Model;
use crate::train::history::Logs;
use crate::train::schedule::Schedule;

/// Applies `schedule` at fractional epoch `epoch + batch / steps_per_epoch` before each step, so
/// per-epoch schedules change at epoch boundaries and warm-up/cosine schedules move every step.
/// The rate depends only on (epoch, batch), so a resumed run sees the same rates. Logs `lr` (the
/// rate of the epoch's last step).
pub struct LearningRateScheduler {
    schedule: Box<dyn Schedule>,
    steps_per_epoch: usize,
    last: f32,
}

impl LearningRateScheduler {
    /// Drives the model's learning rate with `schedule`.
    pub fn new(schedule: impl Schedule + 'static) -> Self {
        LearningRateScheduler {
            schedule: Box::new(schedule),
            steps_per_epoch: 1,
            last: f32::NAN,
        }
    }
}

impl Callback for LearningRateScheduler {
    fn on_train_begin(&mut self, _model: &mut Model, info: &TrainInfo) -> Result<()> {
        self.steps_per_epoch = info.steps_per_epoch.max(1);
        Ok(())
    }
    fn on_batch_begin(&mut self, model: &mut Model, epoch: usize, batch: usize) -> Result<()> {
        let t = epoch as f64 + batch as f64 / self.steps_per_epoch as f64;
        let lr = self.schedule.lr(t);
        if lr.to_bits() != self.last.to_bits() {
            model.set_learning_rate(lr)?;
            self.last = lr;
        }
        Ok(())
    }
    fn on_epoch_end(
        &mut self,
        _model: &mut Model,
        _epoch: usize,
        logs: &mut Logs,
    ) -> Result<Control> {
        logs.set("lr", f64::from(self.last));
        Ok(Control::Continue)
    }
}
