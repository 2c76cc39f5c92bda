//! `Model`: a built graph (shapes inferred, nodes ordered, parameters initialised) plus, once
//! used, an executor holding its buffers on a device.

use super::executor::{Executor, Scalar};
use super::{NodeDef, SymbolicTensor};
use crate::backend::{BackendStats, OptimizerKind, StagedSpan, TargetKind};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::loss::Loss;
use crate::shape::Shape;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::ops::Range;

/// A built node.
pub(crate) struct Node {
    pub name: String,
    /// `None` for a model input.
    pub layer: Option<Box<dyn Layer>>,
    pub inputs: Vec<usize>,
    pub input_shapes: Vec<Shape>,
    pub shape: Shape,
    /// This node's parameters in `Model::params`.
    pub params: Range<usize>,
}

/// One node for saving the architecture: name, layer (`None` for an input), input node names
/// and output shape.
pub type LayerInfo<'a> = (String, Option<&'a dyn Layer>, Vec<String>, Shape);

/// A parameter tensor of a model.
#[derive(Clone, Debug)]
pub struct ParamInfo {
    /// `node_name/param_name`, e.g. `dense_1/kernel`.
    pub name: String,
    pub shape: Shape,
}

/// What `compile` fixed: the optimizer, the loss and the training options.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub optimizer: OptimizerKind,
    pub loss: Loss,
    /// Global-norm gradient clipping threshold.
    pub clip_norm: Option<f32>,
    /// Count correct predictions on the device during training (classification).
    pub track_accuracy: bool,
}

/// A model: a directed acyclic graph of layer applications with planned buffers.
pub struct Model {
    pub(crate) nodes: Vec<Node>,
    pub(crate) inputs: Vec<usize>,
    pub(crate) outputs: Vec<usize>,
    params: Vec<ParamInfo>,
    /// Host copy of the weights; authoritative while no executor exists.
    host_weights: Vec<Vec<f32>>,
    seed: u64,
    device: Device,
    exec: Option<Executor>,
    config: Option<TrainConfig>,
}

impl Model {
    /// Builds a model from its input and output symbolic tensors, seed 0.
    pub fn new(inputs: &[&SymbolicTensor], outputs: &[&SymbolicTensor]) -> Result<Model> {
        Self::with_seed(inputs, outputs, 0)
    }

    /// Builds a model: checks the graph, infers every shape, names the nodes, initialises the
    /// parameters from `seed` (Philox; parameter `i` uses stream `i`).
    pub fn with_seed(
        inputs: &[&SymbolicTensor],
        outputs: &[&SymbolicTensor],
        seed: u64,
    ) -> Result<Model> {
        let first = inputs
            .first()
            .ok_or_else(|| Error::invalid("a model needs at least one input"))?;
        if outputs.is_empty() {
            return Err(Error::invalid("a model needs at least one output"));
        }
        for t in inputs.iter().chain(outputs) {
            if !t.same_graph(first) {
                return Err(Error::invalid(
                    "inputs and outputs belong to different graphs",
                ));
            }
        }
        let defs = first.graph.0.borrow();
        let names = node_names(&defs);
        let input_nodes: Vec<usize> = inputs.iter().map(|t| t.node).collect();
        let output_nodes: Vec<usize> = outputs.iter().map(|t| t.node).collect();
        for (i, &n) in input_nodes.iter().enumerate() {
            if defs[n].layer.is_some() {
                return Err(Error::invalid(format!(
                    "model input {i} is the output of layer '{}'; inputs must come from Graph::input",
                    names[n]
                )));
            }
            if input_nodes[..i].contains(&n) {
                return Err(Error::invalid(format!(
                    "input '{}' is listed twice",
                    names[n]
                )));
            }
        }
        for (i, &n) in output_nodes.iter().enumerate() {
            if output_nodes[..i].contains(&n) {
                return Err(Error::invalid(format!(
                    "output '{}' is listed twice; apply a separate layer for each loss",
                    names[n]
                )));
            }
        }
        // Keep the nodes the outputs depend on, plus every listed input (an unused input is
        // kept so the caller's input list still lines up), in creation (= topological) order.
        let mut needed = vec![false; defs.len()];
        let mut stack: Vec<usize> = output_nodes.iter().chain(&input_nodes).copied().collect();
        while let Some(n) = stack.pop() {
            if needed[n] {
                continue;
            }
            needed[n] = true;
            for inp in &defs[n].inputs {
                if !inp.same_graph(first) {
                    return Err(Error::invalid(format!(
                        "layer '{}' takes an input from another graph",
                        names[n]
                    )));
                }
                stack.push(inp.node);
            }
        }
        for (n, def) in defs.iter().enumerate() {
            if needed[n] && def.layer.is_none() && !input_nodes.contains(&n) {
                return Err(Error::invalid(format!(
                    "the outputs depend on '{}' (shape {}), which is not among the model's inputs",
                    names[n], def.input_shape
                )));
            }
        }
        let mut remap = vec![usize::MAX; defs.len()];
        let mut nodes: Vec<Node> = Vec::new();
        let mut params = Vec::new();
        let mut host_weights = Vec::new();
        for (n, def) in defs.iter().enumerate() {
            if !needed[n] {
                continue;
            }
            let node = build_node(
                def,
                names[n].clone(),
                &remap,
                &nodes,
                &mut params,
                &mut host_weights,
                seed,
            )?;
            remap[n] = nodes.len();
            nodes.push(node);
        }
        let mut seen = std::collections::HashSet::new();
        for node in &nodes {
            if !seen.insert(node.name.clone()) {
                return Err(Error::invalid(format!(
                    "two layers are named '{}'",
                    node.name
                )));
            }
        }
        Ok(Model {
            inputs: input_nodes.iter().map(|&n| remap[n]).collect(),
            outputs: outputs.iter().map(|t| remap[t.node]).collect(),
            nodes,
            params,
            host_weights,
            seed,
            device: Device::cpu(),
            exec: None,
            config: None,
        })
    }

    /// Total number of trainable values.
    pub fn param_count(&self) -> usize {
        self.params.iter().map(|p| p.shape.numel()).sum()
    }

    /// The parameter tensors, in order.
    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    /// The model seed (initialisation, dropout).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Per-sample shapes of the inputs.
    pub fn input_shapes(&self) -> Vec<Shape> {
        self.inputs
            .iter()
            .map(|&i| self.nodes[i].shape.clone())
            .collect()
    }

    /// Per-sample shapes of the outputs.
    pub fn output_shapes(&self) -> Vec<Shape> {
        self.outputs
            .iter()
            .map(|&i| self.nodes[i].shape.clone())
            .collect()
    }

    /// A table of layers, output shapes and parameter counts, like Keras' `summary()`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{:<24} {:<14} {:<18} {:>10}  {}\n",
            "Layer", "Type", "Output shape", "Params", "Inputs"
        ));
        s.push_str(&"-".repeat(80));
        s.push('\n');
        for node in &self.nodes {
            let count: usize = self.params[node.params.clone()]
                .iter()
                .map(|p| p.shape.numel())
                .sum();
            let kind = node.layer.as_ref().map_or("Input", |l| l.kind());
            let inputs: Vec<&str> = node
                .inputs
                .iter()
                .map(|&i| self.nodes[i].name.as_str())
                .collect();
            s.push_str(&format!(
                "{:<24} {:<14} {:<18} {:>10}  {}\n",
                node.name,
                kind,
                format!(
                    "(None, {})",
                    node.shape
                        .dims()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                count,
                inputs.join(", ")
            ));
        }
        s.push_str(&"-".repeat(80));
        s.push('\n');
        s.push_str(&format!("Total params: {}\n", self.param_count()));
        s
    }

    /// The device the model runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Moves the model (weights and optimizer state) to another device.
    pub fn to_device(&mut self, device: Device) -> Result<()> {
        if self.exec.is_some() && device == self.device {
            return Ok(());
        }
        let state = self.optimizer_state()?;
        let steps = self.optimizer_steps();
        self.sync_host_weights()?;
        self.exec = None;
        self.device = device;
        if let Some(state) = state {
            self.ensure_exec(1)?;
            self.set_optimizer_state(steps, &state)?;
        }
        Ok(())
    }

    /// Sets the optimizer and loss (Keras' `compile`). Keeps existing optimizer state only if
    /// the optimizer kind is unchanged.
    pub fn compile(&mut self, optimizer: OptimizerKind, loss: Loss) -> Result<()> {
        self.compile_with(TrainConfig {
            optimizer,
            loss,
            clip_norm: None,
            track_accuracy: matches!(loss.targets, TargetKind::ClassIndex)
                || matches!(
                    loss.kind,
                    crate::LossKind::Bce
                        | crate::LossKind::BceWithLogits
                        | crate::LossKind::CrossEntropy
                ),
        })
    }

    /// `compile` with every option.
    pub fn compile_with(&mut self, config: TrainConfig) -> Result<()> {
        for &o in &self.outputs {
            if self.nodes[o].layer.is_none() {
                return Err(Error::invalid(format!(
                    "output '{}' is a model input; there is nothing to train",
                    self.nodes[o].name
                )));
            }
        }
        self.config = Some(config);
        Ok(())
    }

    /// The training configuration, if compiled.
    pub fn train_config(&self) -> Option<&TrainConfig> {
        self.config.as_ref()
    }

    /// Changes the learning rate used by the next steps (schedules).
    pub fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        let c = self
            .config
            .as_mut()
            .ok_or_else(|| Error::invalid("set_learning_rate: model is not compiled"))?;
        c.optimizer = c.optimizer.with_lr(lr);
        Ok(())
    }

    /// Sets global-norm gradient clipping (None disables it).
    pub fn set_clip_norm(&mut self, max_norm: Option<f32>) -> Result<()> {
        let c = self
            .config
            .as_mut()
            .ok_or_else(|| Error::invalid("set_clip_norm: model is not compiled"))?;
        c.clip_norm = max_norm;
        Ok(())
    }

    /// Creates the executor on first use and grows its buffers for `batch` rows.
    fn ensure_exec(&mut self, batch: usize) -> Result<&mut Executor> {
        if self.exec.is_none() {
            let backend = self.device.backend()?;
            let ex = Executor::new(
                backend,
                &self.nodes,
                &self.outputs,
                &self.host_weights,
                batch.max(1),
            )?;
            self.exec = Some(ex);
        }
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        if batch > ex.capacity {
            ex.plan_activations(&self.nodes, &self.outputs, batch)?;
        }
        Ok(ex)
    }

    /// Checks batch tensors against the model's inputs or targets.
    fn check_batch(
        &self,
        what: &str,
        tensors: &[&Tensor],
        nodes: &[usize],
        loss: Option<&Loss>,
    ) -> Result<usize> {
        if tensors.len() != nodes.len() {
            return Err(Error::Shape(format!(
                "the model has {} {what}(s), got {} tensor(s)",
                nodes.len(),
                tensors.len()
            )));
        }
        let rows = tensors[0].rows();
        for (i, (t, &n)) in tensors.iter().zip(nodes).enumerate() {
            let shape = &self.nodes[n].shape;
            let class_index = loss.is_some_and(|l| l.targets == TargetKind::ClassIndex);
            let want = if class_index {
                shape.numel() / shape.last()
            } else {
                shape.numel()
            };
            if t.rows() != rows {
                return Err(Error::Shape(format!(
                    "{what} {i} has {} rows, {what} 0 has {rows}",
                    t.rows()
                )));
            }
            if t.row_len() != want {
                let expect = if class_index {
                    format!("{want} class index(es) per sample")
                } else {
                    format!("samples of shape {shape} ({want} values)")
                };
                return Err(Error::Shape(format!(
                    "{what} {i} ('{}') expects {expect}, got a tensor of shape {:?}",
                    self.nodes[n].name,
                    t.shape()
                )));
            }
            if class_index {
                let classes = shape.last();
                for (r, &v) in t.data().iter().enumerate() {
                    if !(v >= 0.0 && v.fract() == 0.0 && (v as usize) < classes) {
                        return Err(Error::invalid(format!(
                            "target {i}, row {r}: {v} is not a class index in 0..{classes}"
                        )));
                    }
                }
            }
        }
        if rows == 0 {
            return Err(Error::Shape(format!("empty batch of {what}s")));
        }
        Ok(rows)
    }

    fn upload_batch(&mut self, xs: &[&Tensor], ys: &[&Tensor]) -> Result<()> {
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        for (x, &n) in xs.iter().zip(&self.inputs) {
            let b = ex.node_output(n);
            ex.upload(b, x.data())?;
        }
        for (o, y) in ys.iter().enumerate() {
            let b = ex.target(o);
            ex.upload(b, y.data())?;
        }
        Ok(())
    }

    fn config_or_err(&self) -> Result<TrainConfig> {
        self.config.clone().ok_or_else(|| {
            Error::invalid("the model is not compiled: call compile(optimizer, loss) first")
        })
    }

    /// One training step (forward, loss, backward, clipping, update) without reading the loss
    /// back, so a device never waits. Makes no heap allocation once the buffers exist.
    pub fn train_step(&mut self, xs: &[&Tensor], ys: &[&Tensor]) -> Result<()> {
        let loss = self.config_ref()?.loss;
        let batch = self.check_train_batch(xs, ys, &loss)?;
        self.ensure_exec(batch)?;
        self.upload_batch(xs, ys)?;
        self.run_train_step(batch)
    }

    fn config_ref(&self) -> Result<&TrainConfig> {
        self.config.as_ref().ok_or_else(|| {
            Error::invalid("the model is not compiled: call compile(optimizer, loss) first")
        })
    }

    /// Lets every layer fed directly by a model input check its values on the host (token ids
    /// of an Embedding), so a bad value is a clear error instead of a silent zero on a device.
    fn check_input_values(&self, xs: &[&Tensor]) -> Result<()> {
        for node in &self.nodes {
            let Some(layer) = &node.layer else { continue };
            for (slot, inp) in node.inputs.iter().enumerate() {
                if let Some(k) = self.inputs.iter().position(|n| n == inp) {
                    if let Some(x) = xs.get(k) {
                        layer
                            .check_input(slot, x.data())
                            .map_err(|e| Error::layer(&node.name, e.to_string()))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks a training batch; returns its rows.
    fn check_train_batch(&self, xs: &[&Tensor], ys: &[&Tensor], loss: &Loss) -> Result<usize> {
        let batch = self.check_batch("input", xs, &self.inputs, None)?;
        self.check_input_values(xs)?;
        if self.check_batch("target", ys, &self.outputs, Some(loss))? != batch {
            return Err(Error::Shape(format!(
                "targets have {} rows, inputs have {batch}",
                ys[0].rows()
            )));
        }
        Ok(batch)
    }

    /// Forward, loss, backward, clipping and update on the batch in the input buffers.
    fn run_train_step(&mut self, batch: usize) -> Result<()> {
        let config = self.config_ref()?;
        let (optimizer, loss, clip, track) = (
            config.optimizer,
            config.loss,
            config.clip_norm,
            config.track_accuracy,
        );
        let seed = self.seed;
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        ex.forward(&self.nodes, batch, true, seed)?;
        ex.losses(&self.nodes, &self.outputs, &loss, batch, track)?;
        ex.backward(&self.nodes, batch, seed)?;
        if let Some(c) = clip {
            ex.clip_gradients(c)?;
        }
        ex.update(optimizer)
    }

    /// Starts uploading the *next* training batch while queued work runs (double-buffered
    /// input); [`Model::train_step_prefetched`] then trains on it.
    ///
    /// Why: on a GPU the host→device copy of batch `n + 1` then overlaps the computation of
    /// batch `n` (pinned staging memory, a copy stream and events; see
    /// [`crate::Backend::upload_staged`]). The typical loop:
    /// ```text
    /// model.prefetch(&[&x0], &[&y0])?;
    /// for n in 0..batches {
    ///     model.train_step_prefetched()?;            // queues step n
    ///     if n + 1 < batches { model.prefetch(&[&x(n+1)], &[&y(n+1)])?; } // copies during step n
    ///     // reading the loss here (model.last_loss()) does not stall the copy
    /// }
    /// ```
    /// The batch goes into a second set of device buffers (the staging set), so a prefetch
    /// never disturbs the step still computing. Results are bit-identical to
    /// [`Model::train_step`] with the same batches: the step runs the same kernels on the same
    /// values. `xs` and `ys` may be dropped or reused once this returns. Checks the batch as
    /// `train_step` does; an error if a prefetched batch is still pending.
    pub fn prefetch(&mut self, xs: &[&Tensor], ys: &[&Tensor]) -> Result<()> {
        let loss = self.config_ref()?.loss;
        let batch = self.check_train_batch(xs, ys, &loss)?;
        if self.exec.as_ref().is_some_and(|e| e.pending.is_some()) {
            return Err(Error::invalid(
                "prefetch: a prefetched batch is still pending; call train_step_prefetched first",
            ));
        }
        self.ensure_exec(batch)?;
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        ex.ensure_staging(&self.nodes, &self.inputs, &self.outputs, batch)?;
        for (i, t) in xs.iter().chain(ys).enumerate() {
            ex.stage(i, t.data())?;
        }
        ex.pending = Some(batch);
        Ok(())
    }

    /// One training step on the batch given to [`Model::prefetch`]: the compute stream waits
    /// (on the device, not the host) for that batch's copies, copies it from the staging set
    /// into the input and target buffers, and then runs exactly what [`Model::train_step`]
    /// runs. Right after this returns, the next batch may be prefetched: its copies wait only
    /// for those device-to-device copies, not for the rest of this step.
    pub fn train_step_prefetched(&mut self) -> Result<()> {
        self.config_ref()?;
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("train_step_prefetched: no batch was prefetched"))?;
        let batch = ex.pending.ok_or_else(|| {
            Error::invalid("train_step_prefetched: no batch was prefetched; call prefetch first")
        })?;
        ex.take_staged(&self.inputs, batch)?;
        self.run_train_step(batch)
    }

    /// Starts recording device timestamps of the next `groups` prefetched batches (see
    /// [`StagedSpan`]); `false` when the device has no such timeline (the CPU).
    pub fn staged_timeline_start(&mut self, groups: usize) -> Result<bool> {
        self.ensure_exec(1)?.backend.staged_timeline_start(groups)
    }

    /// The timestamps recorded since [`Model::staged_timeline_start`] (waits for the device).
    pub fn staged_timeline(&mut self) -> Result<Vec<StagedSpan>> {
        match self.exec.as_mut() {
            Some(ex) => ex.backend.staged_timeline(),
            None => Ok(Vec::new()),
        }
    }

    /// The backend's allocation and synchronisation counters, once the model has run.
    pub fn backend_stats(&self) -> Option<BackendStats> {
        self.exec.as_ref().map(|e| e.backend.stats())
    }

    /// One training step; returns the loss (summed over outputs). Reading the loss waits for
    /// the device; use [`Model::train_step`] to avoid that.
    pub fn train_on_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<f32> {
        self.train_step(&[x], &[y])?;
        self.last_loss()
    }

    /// The loss of the last training or evaluation batch (summed over outputs).
    pub fn last_loss(&mut self) -> Result<f32> {
        let n = self.outputs.len();
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("no batch has run yet"))?;
        let mut total = 0.0f32;
        for o in 0..n {
            total += ex.read_scalar(Scalar::Loss(o))?;
        }
        Ok(total)
    }

    /// Running sums since the last [`Model::reset_running`]: `(loss sum over batches, correct
    /// predictions)` summed over outputs. Waits for the device.
    pub fn running_totals(&mut self) -> Result<(f32, f32)> {
        let n = self.outputs.len();
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("no batch has run yet"))?;
        let (mut loss, mut correct) = (0.0f32, 0.0f32);
        for o in 0..n {
            loss += ex.read_scalar(Scalar::LossSum(o))?;
            correct += ex.read_scalar(Scalar::Correct(o))?;
        }
        Ok((loss, correct))
    }

    /// Zeroes the running loss sum and correct count.
    pub fn reset_running(&mut self) -> Result<()> {
        self.ensure_exec(1)?.reset_running()
    }

    /// Forward and loss on one batch without updating anything (inference mode: no dropout);
    /// adds to the running sums. Returns nothing so the device need not wait.
    pub fn eval_step(&mut self, xs: &[&Tensor], ys: &[&Tensor]) -> Result<()> {
        let config = self.config_or_err()?;
        let batch = self.check_batch("input", xs, &self.inputs, None)?;
        self.check_input_values(xs)?;
        if self.check_batch("target", ys, &self.outputs, Some(&config.loss))? != batch {
            return Err(Error::Shape(format!(
                "targets have {} rows, inputs have {batch}",
                ys[0].rows()
            )));
        }
        self.ensure_exec(batch)?;
        self.upload_batch(xs, ys)?;
        let seed = self.seed;
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        ex.forward(&self.nodes, batch, false, seed)?;
        ex.losses(
            &self.nodes,
            &self.outputs,
            &config.loss,
            batch,
            config.track_accuracy,
        )
    }

    /// Predictions for every output, computed in batches of at most `batch_size` rows.
    pub fn predict_multi(&mut self, xs: &[&Tensor], batch_size: usize) -> Result<Vec<Tensor>> {
        let rows = self.check_batch("input", xs, &self.inputs, None)?;
        self.check_input_values(xs)?;
        let bs = batch_size.max(1).min(rows);
        self.ensure_exec(bs)?;
        let out_shapes = self.output_shapes();
        let mut outs: Vec<Vec<f32>> = out_shapes
            .iter()
            .map(|s| vec![0.0; rows * s.numel()])
            .collect();
        let mut start = 0;
        while start < rows {
            let end = (start + bs).min(rows);
            let idx: Vec<usize> = (start..end).collect();
            let chunk: Vec<Tensor> = xs
                .iter()
                .map(|x| x.select_rows(&idx))
                .collect::<Result<_>>()?;
            let ex = self
                .exec
                .as_mut()
                .ok_or_else(|| Error::invalid("executor missing"))?;
            for (x, &n) in chunk.iter().zip(&self.inputs) {
                let b = ex.node_output(n);
                ex.upload(b, x.data())?;
            }
            ex.forward(&self.nodes, end - start, false, self.seed)?;
            for ((out, s), &node) in outs.iter_mut().zip(&out_shapes).zip(&self.outputs) {
                let w = s.numel();
                ex.download_output(node, &mut out[start * w..end * w])?;
            }
            start = end;
        }
        outs.into_iter()
            .zip(out_shapes)
            .map(|(data, s)| {
                let mut shape = vec![rows];
                shape.extend_from_slice(s.dims());
                Tensor::new(shape, data)
            })
            .collect()
    }

    /// Predictions of a single-output model.
    pub fn predict(&mut self, x: &Tensor) -> Result<Tensor> {
        let mut v = self.predict_multi(&[x], 256)?;
        v.pop().ok_or_else(|| Error::invalid("model has no output"))
    }

    /// Copies device weights into the host copy.
    fn sync_host_weights(&mut self) -> Result<()> {
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

    /// The layers with their node names and input node names, for saving the architecture.
    pub fn layers(&self) -> Vec<LayerInfo<'_>> {
        self.nodes
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    n.layer.as_deref(),
                    n.inputs
                        .iter()
                        .map(|&i| self.nodes[i].name.clone())
                        .collect(),
                    n.shape.clone(),
                )
            })
            .collect()
    }

    /// Names of the input and output nodes.
    pub fn io_names(&self) -> (Vec<String>, Vec<String>) {
        let names = |v: &[usize]| v.iter().map(|&i| self.nodes[i].name.clone()).collect();
        (names(&self.inputs), names(&self.outputs))
    }

    /// Copies output `o` of the last forward pass (`train_step`, `eval_step`) into `dst`: the
    /// first `dst.len()` values, row-major. Lets evaluation compute host-side metrics from the
    /// same forward pass that produced the loss, instead of running `predict` again. Waits for
    /// the device.
    pub fn read_output(&mut self, o: usize, dst: &mut [f32]) -> Result<()> {
        let node = *self.outputs.get(o).ok_or_else(|| {
            Error::invalid(format!(
                "output {o} does not exist: the model has {} output(s)",
                self.outputs.len()
            ))
        })?;
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("no batch has run yet"))?;
        ex.download_output(node, dst)
    }

    /// Name of the backend the model runs on, once it has run.
    pub fn backend_name(&self) -> Option<String> {
        self.exec.as_ref().map(|e| e.backend.name())
    }
}

/// Every node's name: the user's, or `kind_N` numbering each kind in creation order.
fn node_names(defs: &[NodeDef]) -> Vec<String> {
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    defs.iter()
        .map(|def| {
            let kind = def.layer.as_ref().map_or("input", |l| l.kind());
            let counter = counts.entry(kind).or_insert(0);
            *counter += 1;
            def.name
                .clone()
                .unwrap_or_else(|| format!("{}_{}", kind.to_ascii_lowercase(), counter))
        })
        .collect()
}

/// Builds one node: infers its shape and creates its parameters.
fn build_node(
    def: &NodeDef,
    name: String,
    remap: &[usize],
    nodes: &[Node],
    params: &mut Vec<ParamInfo>,
    host_weights: &mut Vec<Vec<f32>>,
    seed: u64,
) -> Result<Node> {
    let inputs: Vec<usize> = def.inputs.iter().map(|t| remap[t.node]).collect();
    let input_shapes: Vec<Shape> = inputs.iter().map(|&i| nodes[i].shape.clone()).collect();
    let Some(layer) = &def.layer else {
        if def.input_shape.numel() == 0 {
            return Err(Error::Shape(format!(
                "input '{name}' has an empty shape {}",
                def.input_shape
            )));
        }
        return Ok(Node {
            name,
            layer: None,
            inputs,
            input_shapes,
            shape: def.input_shape.clone(),
            params: 0..0,
        });
    };
    let shape = layer.output_shape(&input_shapes).map_err(|e| {
        let shapes: Vec<String> = input_shapes.iter().map(ToString::to_string).collect();
        Error::layer(&name, format!("{e} (input shapes: {})", shapes.join(", ")))
    })?;
    let start = params.len();
    for spec in layer.params(&input_shapes) {
        let stream = params.len() as u32;
        host_weights.push(spec.init.values(
            spec.shape.numel(),
            spec.fan_in,
            spec.fan_out,
            seed,
            stream,
        ));
        params.push(ParamInfo {
            name: format!("{name}/{}", spec.name),
            shape: spec.shape,
        });
    }
    Ok(Node {
        name,
        layer: Some(layer.clone()),
        inputs,
        input_shapes,
        shape,
        params: start..params.len(),
    })
}
