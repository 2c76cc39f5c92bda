//! A model's weights, non-trainable state and optimizer state: reading them back from the
//! device, replacing them (loading a saved model), and restoring optimizer state to resume
//! training bit for bit.

use super::{Model, ParamInfo};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

impl Model {
    /// Copies device weights and state into the host copies.
    pub(super) fn sync_host_weights(&mut self) -> Result<()> {
        if let Some(ex) = self.exec.as_mut() {
            for (w, &p) in self.host_weights.iter_mut().zip(&ex.params) {
                ex.backend.download(p, 0, w)?;
            }
            for (w, &p) in self.host_state.iter_mut().zip(&ex.layer_state) {
                ex.backend.download(p, 0, w)?;
            }
        }
        Ok(())
    }

    /// The current non-trainable state tensors, named as in [`Model::state_info`].
    pub fn state_tensors(&mut self) -> Result<Vec<(String, Tensor)>> {
        self.sync_host_weights()?;
        named(&self.state_info, &self.host_state)
    }

    /// Replaces every state tensor; each must match the state's name and shape.
    pub fn set_state_tensors(&mut self, tensors: &[(String, Tensor)]) -> Result<()> {
        check_named("state", &self.state_info, tensors)?;
        for (i, (_, t)) in tensors.iter().enumerate() {
            self.host_state[i].copy_from_slice(t.data());
            if let Some(ex) = self.exec.as_mut() {
                ex.backend.upload(ex.layer_state[i], 0, t.data())?;
            }
        }
        Ok(())
    }

    /// The parameter gradients of the last training step (after clipping, before nothing
    /// else: the update reads but never changes them), named as in [`Model::params`]. A
    /// shared layer's gradient is the sum over its applications (see
    /// [`crate::graph::SharedLayer`]). An error before the first training step.
    pub fn gradients(&mut self) -> Result<Vec<(String, Tensor)>> {
        let ex = self
            .exec
            .as_mut()
            .filter(|e| e.state_for.is_some())
            .ok_or_else(|| Error::invalid("gradients: no training step has run yet"))?;
        let mut values = Vec::with_capacity(ex.grads.len());
        for &g in &ex.grads {
            let mut v = vec![0.0; ex.backend.buf_len(g)];
            ex.backend.download(g, 0, &mut v)?;
            values.push(v);
        }
        named(&self.params, &values)
    }

    /// The current weights, named as in [`Model::params`].
    pub fn weights(&mut self) -> Result<Vec<(String, Tensor)>> {
        self.sync_host_weights()?;
        named(&self.params, &self.host_weights)
    }

    /// Replaces every weight; each tensor must match the parameter's name and shape.
    pub fn set_weights(&mut self, weights: &[(String, Tensor)]) -> Result<()> {
        check_named("weight", &self.params, weights)?;
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
    /// with the same optimizer kind) and the update counter; a kept weight average restarts
    /// from the current weights.
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
        // A kept weight average restarts here, its warm-up counted from the restored step
        // (resuming training, or moving the model to another device).
        let ema = self.weight_ema;
        match self.exec.as_mut() {
            Some(ex) if ema.is_some() => ex.set_weight_average(ema),
            _ => Ok(()),
        }
    }
}

/// Host values as named tensors.
fn named(info: &[ParamInfo], values: &[Vec<f32>]) -> Result<Vec<(String, Tensor)>> {
    info.iter()
        .zip(values)
        .map(|(p, w)| {
            Ok((
                p.name.clone(),
                Tensor::new(p.shape.dims().to_vec(), w.clone())?,
            ))
        })
        .collect()
}

/// Checks that `tensors` match `info` one for one, by name and shape.
fn check_named(what: &str, info: &[ParamInfo], tensors: &[(String, Tensor)]) -> Result<()> {
    if tensors.len() != info.len() {
        return Err(Error::Format(format!(
            "expected {} {what} tensors, got {}",
            info.len(),
            tensors.len()
        )));
    }
    for (p, (name, t)) in info.iter().zip(tensors) {
        if *name != p.name {
            return Err(Error::Format(format!(
                "expected {what} '{}', got '{name}'",
                p.name
            )));
        }
        if t.shape() != p.shape.dims() {
            return Err(Error::Format(format!(
                "{what} '{name}': expected shape {}, got {:?}",
                p.shape,
                t.shape()
            )));
        }
    }
    Ok(())
}
