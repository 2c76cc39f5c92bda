//! `model.save(dir)` and `Model::load(dir)`.

use super::model_dir::{load, save, SaveOptions};
use crate::error::Result;
use crate::graph::Model;
use std::path::Path;

impl Model {
    /// Saves the architecture, weights and optimizer state into directory `dir`.
    pub fn save(&mut self, dir: impl AsRef<Path>) -> Result<()> {
        save(
            self,
            dir,
            &SaveOptions {
                include_optimizer: true,
                ..SaveOptions::default()
            },
        )
    }
    /// Loads a model saved by [`Model::save`] (or [`crate::io::save`]) onto the CPU; move it
    /// with [`Model::to_device`].
    pub fn load(dir: impl AsRef<Path>) -> Result<Model> {
        Ok(load(dir)?.model)
    }
}
