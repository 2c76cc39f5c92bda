//! Progress display: an indicatif bar per epoch on a terminal, plain epoch lines otherwise
//! (logs, CI, pipes), so redirected output stays readable.

use super::epoch_logger::epoch_line;
use super::{Callback, Control, TrainInfo};
use crate::error::Result;
use crate::graph::Model;
use crate::train::history::Logs;
use std::io::IsTerminal;
use std::time::Instant;

/// A per-epoch progress bar on stdout.
///
/// The running mean loss is shown every `refresh` steps; reading it waits for the device, so on
/// a GPU a larger `refresh` keeps the queue full (0 never reads it mid-epoch). When stdout is
/// not a terminal, nothing is drawn during the epoch and one line is printed at its end.
pub struct ProgressBar {
    refresh: usize,
    plain: bool,
    epochs: usize,
    steps: usize,
    bar: Option<indicatif::ProgressBar>,
    started: Option<Instant>,
}

impl Default for ProgressBar {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressBar {
    /// A bar that shows the running loss every 50 steps; plain lines when stdout is not a
    /// terminal.
    pub fn new() -> Self {
        ProgressBar {
            refresh: 50,
            plain: !std::io::stdout().is_terminal(),
            epochs: 0,
            steps: 0,
            bar: None,
            started: None,
        }
    }
    /// Steps between running-loss reads (0: only at the end of the epoch).
    pub fn refresh(mut self, steps: usize) -> Self {
        self.refresh = steps;
        self
    }
    /// Forces plain epoch lines even on a terminal.
    pub fn plain(mut self, plain: bool) -> Self {
        self.plain = plain;
        self
    }
}

impl Callback for ProgressBar {
    fn on_train_begin(&mut self, _model: &mut Model, info: &TrainInfo) -> Result<()> {
        self.epochs = info.epochs;
        self.steps = info.steps_per_epoch;
        Ok(())
    }

    fn on_epoch_begin(&mut self, _model: &mut Model, epoch: usize) -> Result<()> {
        self.started = Some(Instant::now());
        if self.plain {
            return Ok(());
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(self.steps as u64),
            indicatif::ProgressDrawTarget::stdout(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("Epoch {}/{}", epoch + 1, self.epochs));
        self.bar = Some(bar);
        Ok(())
    }

    fn on_batch_end(&mut self, model: &mut Model, _epoch: usize, batch: usize) -> Result<()> {
        let Some(bar) = &self.bar else {
            return Ok(());
        };
        bar.inc(1);
        if self.refresh > 0 && (batch + 1).is_multiple_of(self.refresh) {
            let (loss_sum, _) = model.running_totals()?;
            bar.set_message(format!("loss: {:.4}", loss_sum / (batch + 1) as f32));
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        _model: &mut Model,
        epoch: usize,
        logs: &mut Logs,
    ) -> Result<Control> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let secs = self.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        crate::outln!("{}", epoch_line(epoch, self.epochs, secs, logs));
        Ok(Control::Continue)
    }
}
