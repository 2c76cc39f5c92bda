//! The executor: every buffer of a model planned once on a backend, and a training step as a
//! fixed sequence of kernel launches that allocates nothing.
//!
//! Gradient accumulation at fan-out: contributions to a node's gradient arrive in a fixed order
//! (the losses first, then consumers in reverse topological order, input slots in order). The
//! first writes the node's gradient buffer directly; each later one writes a buffer of its own
//! edge, which is then added in (`add_assign`). That order is the same on every backend.
//! Parameter gradients of a shared layer are added the same way (see `param_grads.rs`).

mod activations;
mod bytes;
mod cross_rank;
mod grad_buckets;
mod lifetimes;
mod losses;
mod param_grads;
mod scalars;
mod shards;
mod staging;
mod targets;
mod weight_average;

pub(crate) use activations::ReuseOptions;
pub use bytes::PlannedBytes;
pub(crate) use grad_buckets::{cap_from_bytes, default_cap_values};
use param_grads::ParamGrads;
pub(crate) use scalars::Scalar;

use super::node::Node;
use super::step::{Phase, StepKey, StepPlan, StepRecordings};
use crate::backend::{Backend, BufId, OptimizerKind, StepBlock, TargetKind};
use crate::dtype::HostData;
use crate::error::{Error, Result};
use crate::layers::{GradIo, Io, LayerCtx};
use crate::loss::Loss;
use crate::ops::elementwise;
use crate::ops::optimizer::{self, OptimizerStep};
use crate::ops::reduce::{self, ClipByGlobalNorm};
use losses::LossSink;
pub use shards::{shard_rows, shard_seed};

/// Where a layer writes the gradient of one of its inputs.
#[derive(Clone, Copy, Debug)]
enum EdgeGrad {
    /// The input is a model input: no gradient.
    None,
    /// The first contribution: straight into the source node's gradient buffer.
    Direct(BufId),
    /// A later contribution: into this edge's buffer, then added to the source's gradient.
    Accumulate { edge: BufId, into: BufId },
}

/// Planned buffers and state of one model on one backend.
pub(crate) struct Executor {
    pub backend: Box<dyn Backend>,
    /// Largest batch the activation buffers hold.
    pub capacity: usize,
    out: Vec<BufId>,
    grad: Vec<Option<BufId>>,
    workspace: Vec<Vec<BufId>>,
    in_bufs: Vec<Vec<BufId>>,
    edges: Vec<Vec<EdgeGrad>>,
    edge_grad_bufs: Vec<Vec<Option<BufId>>>,
    /// Every backend buffer of the per-batch plan (private and shared).
    activation_bufs: Vec<BufId>,
    /// The buffers of the plan that several lifetimes share (see `executor/lifetimes.rs`).
    shared_bufs: Vec<BufId>,
    /// Bytes the per-batch plan, workspaces excluded, would take with every buffer private.
    activations_unshared: u64,
    /// How per-batch buffers are planned (buffer reuse, the poisoning test hook).
    pub reuse: ReuseOptions,
    pub params: Vec<BufId>,
    pub grads: Vec<BufId>,
    /// Where each node's backward writes its parameter gradients (shared layers).
    param_grads: Vec<ParamGrads>,
    /// The layers' non-trainable state ([`crate::layers::StateSpec`]): never updated by the
    /// optimizer, written only by the layers' forward passes.
    pub layer_state: Vec<BufId>,
    pub state: Vec<[Option<BufId>; 2]>,
    pub state_for: Option<OptimizerKind>,
    targets: Vec<BufId>,
    /// How the target buffers store targets: f32 rows (`Dense`) or one i32 class label per
    /// prediction row (`ClassIndex`); set by the loss ([`Executor::ensure_targets`]).
    target_kind: TargetKind,
    /// `[loss of output o | running loss sum of output o | running correct count of output o]`.
    scalars: BufId,
    norm_partials: BufId,
    /// Optimizer updates applied so far (Adam's `t` is `steps + 1` during an update).
    pub steps: u64,
    /// The staging set of double-buffered input: one device buffer per model input, then one
    /// per target, written by [`Backend::upload_staged`] while the previous step computes and
    /// copied into the input and target buffers at the start of the next step.
    staging: Vec<BufId>,
    /// Rows each staging buffer holds.
    staging_rows: usize,
    /// Values staged into each staging buffer by the pending prefetch.
    staged_lens: Vec<usize>,
    /// Rows of the prefetched batch not yet consumed by a training step.
    pub pending: Option<usize>,
    /// The per-step scalar block ([`StepBlock`]) every training step's kernels read.
    step_block: BufId,
    /// Recorded training steps (CUDA graphs) by step kind.
    pub recordings: StepRecordings,
    /// The optimizer updates of the current step (kept to reuse its allocation).
    optimizer_steps: Vec<OptimizerStep>,
    /// Buffers of sharded training steps (empty until the first one; see `executor/shards.rs`).
    shard_bufs: shards::ShardBuffers,
    /// The cross-rank reduction of a data-parallel job (see `executor/cross_rank.rs`).
    pub cross_rank: Option<Box<dyn super::CrossRankReduce>>,
    /// The flat vector a data-parallel step reduces, and its length.
    flat: Option<(BufId, usize)>,
    /// The gradient buckets of a data-parallel step (see `executor/grad_buckets.rs`).
    dp_buckets: Option<grad_buckets::GradBuckets>,
    /// Values per gradient bucket (`usize::MAX`: one bucket, after the whole backward).
    pub dp_bucket_cap: usize,
    /// Correct predictions of the current data-parallel step, per output.
    step_counts: Option<BufId>,
    /// The running average of the weights, when kept (see `executor/weight_average.rs`).
    weight_average: Option<weight_average::WeightAverage>,
}

/// What one training step does besides forward and backward.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepSpec {
    pub optimizer: OptimizerKind,
    pub loss: Loss,
    pub clip: Option<f32>,
    pub track_accuracy: bool,
    /// Shards per global batch (1: the plain step; see `executor/shards.rs`).
    pub shards: usize,
}

impl Executor {
    /// Plans parameter and state buffers (uploading `weights` and `states`) and activation
    /// buffers for `capacity` rows.
    pub fn new(
        mut backend: Box<dyn Backend>,
        nodes: &[Node],
        outputs: &[usize],
        weights: &[Vec<f32>],
        states: &[Vec<f32>],
        capacity: usize,
        reuse: ReuseOptions,
    ) -> Result<Self> {
        let mut params = Vec::with_capacity(weights.len());
        let mut grads = Vec::with_capacity(weights.len());
        for w in weights {
            let p = backend.alloc(w.len())?;
            backend.upload(p, 0, w)?;
            params.push(p);
            grads.push(backend.alloc(w.len())?);
        }
        let mut layer_state = Vec::with_capacity(states.len());
        for v in states {
            let b = backend.alloc(v.len())?;
            backend.upload(b, 0, v)?;
            layer_state.push(b);
        }
        let param_grads = param_grads::plan(backend.as_mut(), nodes, &grads)?;
        let scalars = backend.alloc(3 * outputs.len())?;
        let norm_partials = backend.alloc(weights.len().max(1))?;
        let step_block = backend.alloc(StepBlock::LEN)?;
        let mut ex = Executor {
            backend,
            capacity: 0,
            out: Vec::new(),
            grad: Vec::new(),
            workspace: Vec::new(),
            in_bufs: Vec::new(),
            edges: Vec::new(),
            edge_grad_bufs: Vec::new(),
            activation_bufs: Vec::new(),
            shared_bufs: Vec::new(),
            activations_unshared: 0,
            reuse,
            params,
            grads,
            param_grads,
            layer_state,
            state: vec![[None, None]; weights.len()],
            state_for: None,
            targets: Vec::new(),
            target_kind: TargetKind::Dense,
            scalars,
            norm_partials,
            steps: 0,
            staging: Vec::new(),
            staging_rows: 0,
            staged_lens: Vec::new(),
            pending: None,
            step_block,
            recordings: StepRecordings::from_env(),
            optimizer_steps: Vec::new(),
            shard_bufs: shards::ShardBuffers::default(),
            cross_rank: None,
            flat: None,
            dp_buckets: None,
            dp_bucket_cap: grad_buckets::cap_from_bytes(grad_buckets::DEFAULT_BUCKET_BYTES),
            step_counts: None,
            weight_average: None,
        };
        ex.plan_activations(nodes, outputs, capacity)?;
        Ok(ex)
    }

    /// Allocates optimizer state for `kind` (zeros) unless it already exists for it.
    pub fn ensure_optimizer_state(&mut self, kind: OptimizerKind) -> Result<()> {
        let same_layout = self.state_for.is_some_and(|k| {
            std::mem::discriminant(&k) == std::mem::discriminant(&kind)
                && k.state_count() == kind.state_count()
        });
        if same_layout {
            self.state_for = Some(kind);
            return Ok(());
        }
        self.forget_recordings();
        for (i, p) in self.params.iter().enumerate() {
            let n = self.backend.buf_len(*p);
            let mut s = [None, None];
            for slot in s.iter_mut().take(kind.state_count()) {
                *slot = Some(self.backend.alloc(n)?);
            }
            self.state[i] = s;
        }
        self.state_for = Some(kind);
        self.steps = 0;
        Ok(())
    }

    /// The buffer of a model input or output node.
    pub fn node_output(&self, node: usize) -> BufId {
        self.out[node]
    }

    /// The target buffer of output `o`.
    pub fn target(&self, o: usize) -> BufId {
        self.targets[o]
    }

    /// Runs every layer forward in topological order.
    pub fn forward(
        &mut self,
        nodes: &[Node],
        batch: usize,
        training: bool,
        seed: u64,
    ) -> Result<()> {
        for (i, node) in nodes.iter().enumerate() {
            let Some(layer) = &node.layer else { continue };
            let io = Io {
                inputs: &self.in_bufs[i],
                input_shapes: &node.input_shapes,
                output: self.out[i],
                output_shape: &node.shape,
                params: &self.params[node.params.clone()],
                workspace: &self.workspace[i],
                state: &self.layer_state[node.state.clone()],
            };
            let mut ctx = LayerCtx {
                backend: self.backend.as_mut(),
                batch,
                training,
                seed,
                node: i as u32,
                step: self.steps,
                step_block: training.then_some(self.step_block),
            };
            layer
                .forward(&mut ctx, &io)
                .map_err(|e| Error::layer(&node.name, e.to_string()))?;
        }
        Ok(())
    }

    /// Runs every layer backward in reverse topological order, accumulating fan-out gradients.
    pub fn backward(&mut self, nodes: &[Node], batch: usize, seed: u64) -> Result<()> {
        self.backward_then(nodes, batch, seed, &mut |_, _| Ok(()))
    }

    /// [`Executor::backward`], calling `after(self, i)` once node `i`'s backward is queued
    /// (for every node, in the order visited: a data-parallel step starts reducing the
    /// gradients that are final at that point).
    pub(super) fn backward_then(
        &mut self,
        nodes: &[Node],
        batch: usize,
        seed: u64,
        after: &mut dyn FnMut(&mut Executor, usize) -> Result<()>,
    ) -> Result<()> {
        for i in (0..nodes.len()).rev() {
            self.backward_node(nodes, i, batch, seed)?;
            after(self, i)?;
        }
        Ok(())
    }

    /// Node `i`'s backward: its layer's, then the shared-parameter and fan-out accumulations.
    fn backward_node(&mut self, nodes: &[Node], i: usize, batch: usize, seed: u64) -> Result<()> {
        let node = &nodes[i];
        let Some(layer) = &node.layer else {
            return Ok(());
        };
        let Some(grad_output) = self.grad[i] else {
            return Ok(());
        };
        let io = Io {
            inputs: &self.in_bufs[i],
            input_shapes: &node.input_shapes,
            output: self.out[i],
            output_shape: &node.shape,
            params: &self.params[node.params.clone()],
            workspace: &self.workspace[i],
            state: &self.layer_state[node.state.clone()],
        };
        let g = GradIo {
            grad_output,
            grad_inputs: &self.edge_grad_bufs[i],
            grad_params: self.param_grads[i].buffers(&self.grads[node.params.clone()]),
        };
        let mut ctx = LayerCtx {
            backend: self.backend.as_mut(),
            batch,
            training: true,
            seed,
            node: i as u32,
            step: self.steps,
            step_block: Some(self.step_block),
        };
        layer
            .backward(&mut ctx, &io, &g)
            .map_err(|e| Error::layer(&node.name, e.to_string()))?;
        self.param_grads[i].add_into(self.backend.as_mut(), &self.grads[node.params.clone()])?;
        for (slot, e) in self.edges[i].iter().enumerate() {
            if let EdgeGrad::Accumulate { edge, into } = *e {
                let src = node.inputs[slot];
                let n = batch * nodes[src].shape.numel();
                elementwise::add_assign(&mut *self.backend, into, edge, n)?;
            }
        }
        Ok(())
    }

    /// Clips all gradients by their global L2 norm (PyTorch's `clip_grad_norm_`).
    pub fn clip_gradients(&mut self, max_norm: f32) -> Result<()> {
        for (i, &g) in self.grads.iter().enumerate() {
            let n = self.backend.buf_len(g);
            crate::ops::reduce::sum_squares(self.backend.as_mut(), g, n, self.norm_partials, i)?;
        }
        for &g in &self.grads {
            let n = self.backend.buf_len(g);
            let clip = ClipByGlobalNorm {
                grad: g,
                n,
                partials: self.norm_partials,
                count: self.grads.len(),
                max_norm,
            };
            reduce::clip_by_global_norm(&mut *self.backend, &clip)?;
        }
        Ok(())
    }

    /// One training step on the `batch` rows in the input and target buffers: forward, losses,
    /// backward, clipping and the update, replayed from a recording when one exists for this
    /// kind of step (see `graph/step.rs`). Every per-step value goes into the scalar block
    /// first, by one host-to-device copy, so recorded and queued steps compute the same bits.
    pub fn train_step(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        spec: &StepSpec,
        batch: usize,
        seed: u64,
    ) -> Result<()> {
        self.ensure_optimizer_state(spec.optimizer)?;
        if self.cross_rank.is_some() {
            self.poison_shared_buffers()?;
            let block = self.step_block_values(spec.optimizer);
            self.backend.upload(self.step_block, 0, &block)?;
            return self.cross_rank_step(nodes, outputs, spec, batch, seed);
        }
        if spec.shards > 1 {
            self.ensure_shard_sums(outputs.len())?;
        }
        let block = self.step_block_values(spec.optimizer);
        self.backend.upload(self.step_block, 0, &block)?;
        let key = StepKey::new(
            Phase::Train,
            batch,
            spec.loss,
            spec.track_accuracy,
            spec.clip,
            Some(spec.optimizer),
        )
        .with_shards(spec.shards);
        let replayed = self.run_step(key, &mut |ex| {
            if spec.shards > 1 {
                ex.queue_sharded_step(nodes, outputs, spec, batch, seed)
            } else {
                ex.queue_step(nodes, outputs, spec, batch, seed)
            }
        })?;
        if replayed {
            self.steps += 1; // a queued or recorded step counted it in `update`
        }
        Ok(())
    }

    /// The step block of the next update: the optimizer's scalars, the dropout counter and the
    /// weight average's factors.
    fn step_block_values(&self, optimizer: OptimizerKind) -> [f32; StepBlock::LEN] {
        let mut block = StepBlock::values(optimizer, self.steps + 1, self.steps as u32);
        self.set_weight_average_factors(&mut block);
        block
    }

    /// One evaluation batch (forward in inference mode, losses into the running sums, accuracy
    /// when `track`), recorded and replayed like a training step.
    pub fn eval_step(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        loss: &Loss,
        batch: usize,
        track: bool,
        seed: u64,
    ) -> Result<()> {
        let key = StepKey::new(Phase::Evaluate, batch, *loss, track, None, None);
        self.run_step(key, &mut |ex| {
            ex.forward(nodes, batch, false, seed)?;
            ex.losses(nodes, outputs, loss, batch, track)
        })?;
        Ok(())
    }

    /// The forward pass of one prediction batch, recorded and replayed like a training step.
    pub fn predict_step(
        &mut self,
        nodes: &[Node],
        loss: Loss,
        batch: usize,
        seed: u64,
    ) -> Result<()> {
        let key = StepKey::new(Phase::Predict, batch, loss, false, None, None);
        self.run_step(key, &mut |ex| ex.forward(nodes, batch, false, seed))?;
        Ok(())
    }

    /// Runs one step of kind `key`: replays its recording, records it (the second time the
    /// kind is seen), or queues it kernel by kernel. Returns whether it was replayed (the
    /// host-side work of `queue` — e.g. counting the optimizer step — did not run then).
    fn run_step(
        &mut self,
        key: StepKey,
        queue: &mut dyn FnMut(&mut Executor) -> Result<()>,
    ) -> Result<bool> {
        self.poison_shared_buffers()?;
        match self.recordings.plan(&key) {
            StepPlan::Replay(id) => {
                self.recordings.launches_per_step = self.backend.replay(id)?;
                return Ok(true);
            }
            StepPlan::Record => {
                if self.backend.begin_capture()? {
                    let steps = self.steps;
                    let recorded = queue(self).and_then(|()| self.backend.end_capture());
                    match recorded {
                        Ok(id) => {
                            self.recordings.recorded(key, id);
                            self.recordings.launches_per_step = self.backend.replay(id)?;
                            return Ok(false);
                        }
                        Err(e) => {
                            // Nothing recorded ran: undo the host-side step count, stop
                            // recording (the reason stays readable), and queue the step.
                            self.backend.abort_capture();
                            self.steps = steps;
                            self.recordings.disable(e.to_string());
                        }
                    }
                }
            }
            StepPlan::Queue => {}
        }
        let before = self.backend.stats().kernel_launches;
        queue(self)?;
        self.recordings.launches_per_step = self.backend.stats().kernel_launches - before;
        Ok(false)
    }

    /// Queues one training step's kernels (see [`Executor::train_step`]).
    fn queue_step(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        spec: &StepSpec,
        batch: usize,
        seed: u64,
    ) -> Result<()> {
        self.forward(nodes, batch, true, seed)?;
        self.losses(nodes, outputs, &spec.loss, batch, spec.track_accuracy)?;
        self.backward(nodes, batch, seed)?;
        if let Some(c) = spec.clip {
            self.clip_gradients(c)?;
        }
        self.update(spec.optimizer)
    }

    /// Forgets every recorded step (their buffers are about to change).
    fn forget_recordings(&mut self) {
        self.recordings.clear();
        self.backend.clear_captures();
    }

    /// Applies one optimizer update to every parameter.
    pub fn update(&mut self, kind: OptimizerKind) -> Result<()> {
        self.ensure_optimizer_state(kind)?;
        self.steps += 1;
        // Reused list (no allocation after the first step); one launch on CUDA.
        self.optimizer_steps.clear();
        for i in 0..self.params.len() {
            let n = self.backend.buf_len(self.params[i]);
            let step = OptimizerStep::new(
                kind,
                self.steps,
                self.params[i],
                self.grads[i],
                self.state[i],
                n,
            )
            .with_block(self.step_block);
            self.optimizer_steps.push(step);
        }
        optimizer::step_all(&mut *self.backend, &self.optimizer_steps)?;
        self.update_weight_average()
    }

    /// Copies a host batch into a device buffer (checked length and dtype).
    pub fn upload(&mut self, dst: BufId, values: HostData<'_>) -> Result<()> {
        self.backend.upload_values(dst, 0, values)
    }

    /// Downloads the first `dst.len()` values of a node's output.
    pub fn download_output(&mut self, node: usize, dst: &mut [f32]) -> Result<()> {
        let b = self.out[node];
        self.backend.download(b, 0, dst)
    }
}
