//! A `fit` callback that records every training step's loss, for the parity comparison.
//!
//! Reading the loss after each step makes the host wait for the device once per step; the
//! report accepts that cost (its speed column says so) because parity must cover every step,
//! not only the epoch averages `fit` keeps.

use neuroxide::error::Result;
use neuroxide::graph::Model;
use neuroxide::train::callbacks::Callback;

/// Appends `Model::last_loss()` to `losses` after every training step.
pub struct LossLog<'a> {
    pub losses: &'a mut Vec<f32>,
}

impl Callback for LossLog<'_> {
    fn on_batch_end(&mut self, model: &mut Model, _epoch: usize, _batch: usize) -> Result<()> {
        self.losses.push(model.last_loss()?);
        Ok(())
    }
}
