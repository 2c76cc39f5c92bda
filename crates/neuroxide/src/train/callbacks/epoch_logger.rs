//! One line per epoch: `Epoch 3/10 - 0.52s - loss: 0.4123 - accuracy: 0.8750 - …`.

use super::{Callback, Control, TrainInfo};
use crate::error::{Error, Result};
use crate::graph::Model;
use crate::train::history::Logs;
use std::io::Write;
use std::time::Instant;

/// Writes one line per epoch to stdout or any writer (a file, a buffer in tests).
pub struct EpochLogger {
    out: Box<dyn Write>,
    epochs: usize,
    started: Option<Instant>,
}

impl Default for EpochLogger {
    fn default() -> Self {
        Self::stdout()
    }
}

impl EpochLogger {
    /// Logs to standard output (quietly dropped once the reader closes the pipe).
    pub fn stdout() -> Self {
        Self::to_writer(Box::new(crate::console::QuietStdout))
    }
    /// Logs to `out`.
    pub fn to_writer(out: Box<dyn Write>) -> Self {
        EpochLogger {
            out,
            epochs: 0,
            started: None,
        }
    }
}

/// The epoch line shared by the logger and the plain-text progress output.
pub(crate) fn epoch_line(epoch: usize, epochs: usize, seconds: f64, logs: &Logs) -> String {
    let width = epochs.to_string().len();
    format!(
        "Epoch {:>width$}/{epochs} - {seconds:.2}s - {}",
        epoch + 1,
        logs.format()
    )
}

impl Callback for EpochLogger {
    fn on_train_begin(&mut self, _model: &mut Model, info: &TrainInfo) -> Result<()> {
        self.epochs = info.epochs;
        Ok(())
    }
    fn on_epoch_begin(&mut self, _model: &mut Model, _epoch: usize) -> Result<()> {
        self.started = Some(Instant::now());
        Ok(())
    }
    fn on_epoch_end(
        &mut self,
        _model: &mut Model,
        epoch: usize,
        logs: &mut Logs,
    ) -> Result<Control> {
        let secs = self.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        writeln!(self.out, "{}", epoch_line(epoch, self.epochs, secs, logs))
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::invalid(format!("epoch logger: cannot write: {e}")))?;
        Ok(Control::Continue)
    }
}
