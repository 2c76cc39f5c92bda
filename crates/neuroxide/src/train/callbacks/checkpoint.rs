//! Saving the model during training: every epoch, or only when a monitored quantity improves.

use super::{Callback, Control, Monitor, MonitorMode, TrainInfo};
use crate::error::Result;
use crate::graph::Model;
use crate::io::{expand_epoch, save, Preprocessing, SaveOptions};
use crate::train::history::Logs;
use std::path::{Path, PathBuf};

/// Writes a model directory (architecture, weights, optimizer state, epochs completed) after
/// epochs. `{epoch}` in the path becomes the 1-based epoch (`ckpt-{epoch}` → `ckpt-0003`);
/// without it each save replaces the previous one. A checkpoint written after epoch `e` resumes
/// exactly with `FitOptions::initial_epoch(e + 1)` (see `TrainingState::epochs_completed`).
pub struct ModelCheckpoint {
    path: PathBuf,
    best_only: Option<Monitor>,
    preprocessing: Option<Preprocessing>,
    include_optimizer: bool,
    saved: Vec<PathBuf>,
}

impl ModelCheckpoint {
    /// Saves after every epoch.
    pub fn new(path: impl AsRef<Path>) -> Self {
        ModelCheckpoint {
            path: path.as_ref().to_path_buf(),
            best_only: None,
            preprocessing: None,
            include_optimizer: true,
            saved: Vec::new(),
        }
    }
    /// Saves only when `monitor` improves (mode from the name: `Max` for accuracies).
    pub fn save_best_only(mut self, monitor: &str) -> Self {
        self.best_only = Some(Monitor::new(monitor, MonitorMode::Auto, 0.0));
        self
    }
    /// Like [`Self::save_best_only`] with an explicit mode.
    pub fn save_best_only_mode(mut self, monitor: &str, mode: MonitorMode) -> Self {
        self.best_only = Some(Monitor::new(monitor, mode, 0.0));
        self
    }
    /// Stores the preprocessing (label encoder, normaliser) with each checkpoint.
    pub fn preprocessing(mut self, preprocessing: Preprocessing) -> Self {
        self.preprocessing = Some(preprocessing);
        self
    }
    /// Whether to store the optimizer state (default true; needed to resume exactly).
    pub fn include_optimizer(mut self, include: bool) -> Self {
        self.include_optimizer = include;
        self
    }
    /// Directories written so far, in order.
    pub fn saved(&self) -> &[PathBuf] {
        &self.saved
    }
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, _model: &mut Model, _info: &TrainInfo) -> Result<()> {
        if let Some(m) = &mut self.best_only {
            m.reset();
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        model: &mut Model,
        epoch: usize,
        logs: &mut Logs,
    ) -> Result<Control> {
        if let Some(m) = &mut self.best_only {
            if !m.update(logs)? {
                return Ok(Control::Continue);
            }
        }
        let dir = expand_epoch(&self.path, epoch);
        save(
            model,
            &dir,
            &SaveOptions {
                preprocessing: self.preprocessing.clone(),
                epochs_completed: Some(epoch + 1),
                include_optimizer: self.include_optimizer,
            },
        )?;
        self.saved.push(dir);
        Ok(Control::Continue)
    }
}
