//! A model's weights and optimizer state: reading them back from the device, replacing them
//! (loading a saved model), and restoring optimizer state to resume training bit for bit.

use super::Model;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

impl Model {
    /// Copies device weights into the host copy.
    pub(super) fn sync_host_weights(&mut self) -> Result<()> {
        if let Some(ex) = self.exec.as_mut() {
            for (w, &p) in self.host_weights.iter_mut().zip(&ex.params) {
                ex.backend.download(p, 0, w)?;
            }
        }
        Ok(())
    }

    /// The current weights, named as in [`Model::params`].
    pub fn weights(&mut self) -> Result<Vec<(String, Tensor)>> {
        self.sync_host_weights()?;
        self.params
            .iter()
            .zip(&self.host_weights)
            .map(|(p, w)| {
                Ok((
                    p.name.clone(),
                    Tensor::new(p.shape.dims().to_vec(), w.clone())?,
                ))
            })
            .collect()
    }

    /// Replaces every weight; each tensor must match the parameter's name and shape.
    pub fn set_weights(&mut self, weights: &[(String, Tensor)]) -> Result<()> {
        if weights.len() != self.params.len() {
            return Err(Error::Format(format!(
                "expected {} weight tensors, got {}",
                self.params.len(),
                weights.len()
            )));
        }
        for (p, (name, t)) in self.params.iter().zip(weights) {
            if *name != p.name {
                return Err(Error::Format(format!(
                    "expected weight '{}', got '{name}'",
                    p.name
                )));
            }
            if t.shape() != p.shape.dims() {
                return Err(Error::Format(format!(
                    "weight '{name}': expected shape {}, got {:?}",
                    p.shape,
                    t.shape()
                )));
            }
        }
        for (i, (_, t)) in weights.iter().enumerate() {
            self.host_weights[i].copy_from_slice(t.data());
            if let Some(ex) = self.exec.as_mut() {
                ex.backend.upload(ex.params[i], 0, t.data())?;
            }
        }
        Ok(())
    }

    /// Number of optimizer updates applied so far.
    pub fn optimizer_steps(&self) -> u64 {
        self.exec.as_ref().map_or(0, |e| e.steps)
    }

    /// The optimizer state buffers (per parameter, per slot), or `None` before the first update.
    pub fn optimizer_state(&mut self) -> Result<Option<Vec<Vec<Vec<f32>>>>> {
        let Some(ex) = self.exec.as_mut() else {
            return Ok(None);
        };
        if ex.state_for.is_none() {
            return Ok(None);
        }
        let mut all = Vec::new();
        for i in 0..ex.params.len() {
            let mut slots = Vec::new();
            for b in ex.state[i].into_iter().flatten() {
                let mut v = vec![0.0; ex.backend.buf_len(b)];
                ex.backend.download(b, 0, &mut v)?;
                slots.push(v);
            }
            all.push(slots);
        }
        Ok(Some(all))
    }

    /// Restores optimizer state saved by [`Model::optimizer_state`] (the model must be compiled
    /// with the same optimizer kind) and the update counter.
    pub fn set_optimizer_state(&mut self, steps: u64, state: &[Vec<Vec<f32>>]) -> Result<()> {
        let kind = self.config_or_err()?.optimizer;
        let names: Vec<String> = self.params.iter().map(|p| p.name.clone()).collect();
        let ex = self.ensure_exec(1)?;
        ex.ensure_optimizer_state(kind)?;
        if state.len() != ex.params.len() {
            return Err(Error::Format(format!(
                "optimizer state has {} tensors, the model has {} parameters",
                state.len(),
                ex.params.len()
            )));
        }
        for (i, slots) in state.iter().enumerate() {
            let bufs: Vec<_> = ex.state[i].into_iter().flatten().collect();
            if bufs.len() != slots.len() {
                return Err(Error::Format(format!(
                    "optimizer state of '{}': expected {} slot(s), got {}",
                    names[i],
                    bufs.len(),
                    slots.len()
                )));
            }
            for (b, v) in bufs.iter().zip(slots) {
                if ex.backend.buf_len(*b) != v.len() {
                    return Err(Error::Format(format!(
                        "optimizer state of '{}': expected {} values, got {}",
                        names[i],
                        ex.backend.buf_len(*b),
                        v.len()
                    )));
                }
                ex.backend.upload(*b, 0, v)?;
            }
        }
        ex.steps = steps;
        Ok(())
    }
}
