//! `Model`: a built graph (shapes inferred, nodes ordered, parameters initialised) plus, once
//! used, an executor holding its buffers on a device.

mod build;
mod plan;
mod shards;
mod train_step;
mod weight_ema;
mod weights;

use super::executor::{Executor, ReuseOptions};
pub(crate) use super::node::Node;
use crate::backend::{OptimizerKind, TargetKind};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::loss::Loss;
use crate::shape::Shape;
use crate::tensor::Tensor;

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
    /// The layers' non-trainable state tensors (see [`crate::layers::StateSpec`]).
    state_info: Vec<ParamInfo>,
    /// Host copy of the state; authoritative while no executor exists.
    host_state: Vec<Vec<f32>>,
    seed: u64,
    device: Device,
    exec: Option<Executor>,
    config: Option<TrainConfig>,
    /// Shards per training batch (1: the plain step; see [`Model::set_shards`]).
    shards: usize,
    /// How per-batch buffers are planned (see [`Model::set_buffer_reuse`]).
    reuse: ReuseOptions,
    /// The decay of the weights' running average, when one is kept ([`Model::set_weight_ema`]).
    weight_ema: Option<f32>,
}

impl Model {
    /// Total number of trainable values.
    pub fn param_count(&self) -> usize {
        self.params.iter().map(|p| p.shape.numel()).sum()
    }

    /// The parameter tensors, in order.
    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    /// The non-trainable state tensors (BatchNorm's running statistics), in order, named
    /// `node_name/state_name`.
    pub fn state_info(&self) -> &[ParamInfo] {
        &self.state_info
    }

    /// Total number of non-trainable values (the state tensors).
    pub fn non_trainable_count(&self) -> usize {
        self.state_info.iter().map(|p| p.shape.numel()).sum()
    }

    /// For every node (in the order of [`Model::layers`]): the name of the node whose
    /// parameters it uses, when it is a later application of a shared layer.
    pub fn shares(&self) -> Vec<Option<String>> {
        self.nodes
            .iter()
            .map(|n| n.shares.map(|o| self.nodes[o].name.clone()))
            .collect()
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

    /// A table of layers, output shapes and parameter counts (trainable and non-trainable,
    /// counted once at a shared layer's first application), like Keras' `summary()`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{:<24} {:<14} {:<18} {:>10}  {}\n",
            "Layer", "Type", "Output shape", "Params", "Inputs"
        ));
        s.push_str(&"-".repeat(80));
        s.push('\n');
        for node in &self.nodes {
            let count: usize = match node.shares {
                Some(_) => 0,
                None => self.params[node.params.clone()]
                    .iter()
                    .chain(&self.state_info[node.state.clone()])
                    .map(|p| p.shape.numel())
                    .sum(),
            };
            let kind = node.layer.as_ref().map_or("Input", |l| l.kind());
            let mut inputs: Vec<String> = node
                .inputs
                .iter()
                .map(|&i| self.nodes[i].name.clone())
                .collect();
            if let Some(o) = node.shares {
                inputs.push(format!("(shares {})", self.nodes[o].name));
            }
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
        let (trainable, fixed) = (self.param_count(), self.non_trainable_count());
        s.push_str(&format!("Total params: {}\n", trainable + fixed));
        s.push_str(&format!("Trainable params: {trainable}\n"));
        s.push_str(&format!("Non-trainable params: {fixed}\n"));
        s
    }

    /// The device the model runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Moves the model (weights, non-trainable state and optimizer state) to another device.
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
                &self.host_state,
                batch.max(1),
                self.reuse,
            )?;
            self.exec = Some(ex);
            if let (Some(d), Some(ex)) = (self.weight_ema, self.exec.as_mut()) {
                ex.set_weight_average(Some(d))?;
            }
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
            let want_dtype = if loss.is_none() {
                self.nodes[n].dtype
            } else if class_index {
                DType::I32
            } else {
                DType::F32
            };
            if t.dtype() != want_dtype {
                let hint = match (loss.is_some(), want_dtype) {
                    (true, DType::I32) => " (class labels; convert with Tensor::to_i32)",
                    (false, DType::I32) => " (token ids; convert with Tensor::to_i32)",
                    (false, _) => " (declare id inputs with Graph::input_ids)",
                    (true, _) => "",
                };
                return Err(Error::invalid(format!(
                    "{what} {i} ('{}') takes {want_dtype} values{hint}, got a {} tensor of shape \
                     {:?} (dtype mismatch)",
                    self.nodes[n].name,
                    t.dtype(),
                    t.shape()
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
                for (r, &v) in t.ids()?.iter().enumerate() {
                    if usize::try_from(v).map_or(true, |c| c >= classes) {
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

    /// Uploads a checked batch: inputs in their declared dtypes, targets in the layout of
    /// the compiled loss (`targets`: i32 class labels or f32 rows).
    fn upload_batch(&mut self, xs: &[&Tensor], ys: &[&Tensor], targets: TargetKind) -> Result<()> {
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        ex.ensure_targets(&self.nodes, &self.outputs, targets)?;
        for (x, &n) in xs.iter().zip(&self.inputs) {
            let b = ex.node_output(n);
            ex.upload(b, x.values())?;
        }
        for (o, y) in ys.iter().enumerate() {
            let b = ex.target(o);
            ex.upload(b, y.values())?;
        }
        Ok(())
    }

    fn config_or_err(&self) -> Result<TrainConfig> {
        self.config.clone().ok_or_else(|| {
            Error::invalid("the model is not compiled: call compile(optimizer, loss) first")
        })
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
        self.upload_batch(xs, ys, config.loss.targets)?;
        let seed = self.seed;
        let ex = self
            .exec
            .as_mut()
            .ok_or_else(|| Error::invalid("executor missing"))?;
        ex.eval_step(
            &self.nodes,
            &self.outputs,
            &config.loss,
            batch,
            config.track_accuracy,
            seed,
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
                ex.upload(b, x.values())?;
            }
            // The loss only names the recording's kind; prediction computes none.
            let loss = self.config.as_ref().map_or(Loss::mse(), |c| c.loss);
            ex.predict_step(&self.nodes, loss, end - start, self.seed)?;
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

    /// The dtype of every node's output, in the order of [`Model::layers`] (a model input's
    /// declared dtype; f32 for layers).
    pub fn node_dtypes(&self) -> Vec<DType> {
        self.nodes.iter().map(|n| n.dtype).collect()
    }

    /// The dtypes of the model inputs.
    pub fn input_dtypes(&self) -> Vec<DType> {
        self.inputs.iter().map(|&i| self.nodes[i].dtype).collect()
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

    /// The device bytes the model's planned buffers take (parameters, gradients, optimizer
    /// state, activations, workspaces, non-trainable state), once it has run: `None` before
    /// the first batch. The step allocates nothing beyond the plan, so this is its peak.
    pub fn planned_bytes(&self) -> Option<super::PlannedBytes> {
        self.exec.as_ref().map(|e| e.planned_bytes())
    }

    /// Name of the backend the model runs on, once it has run.
    pub fn backend_name(&self) -> Option<String> {
        self.exec.as_ref().map(|e| e.backend.name())
    }
}
