//! `fit`: the epoch loop (Keras' `Model.fit`).
//!
//! Per epoch: reset the device's running sums, run every batch through `Model::train_step`
//! (on a GPU `Model::prefetch` + `Model::train_step_prefetched`, as `bench` times it)
//! (which never waits for the device), read the running loss sum and correct count once, then
//! evaluate the validation data. Batch tensors are allocated once per call and refilled in place.
//!
//! Divergence is an error ([`Error::Diverged`]), not a quiet early stop: a NaN or infinite loss
//! ends `fit` with a message naming the epoch and step. On the CPU the loss of every step is
//! checked (a 4-byte read from host memory); on CUDA the running sum is read once per epoch (a
//! per-step read would make the host wait for the device every step), so the message names the
//! epoch and its step range.
//!
//! Reproducibility: the row order of epoch `e` is the Philox permutation with key `seed` and
//! stream `e` (see [`crate::data::DataLoader::shuffle`]); dropout masks depend on the model seed
//! and the optimizer step count. Both are restored by a checkpoint, so training epochs `0..k`,
//! saving, loading and training `k..n` with `initial_epoch = k` gives bit-identical weights and
//! losses to training `0..n` at once.

use super::batches::BatchBuffers;
use super::callbacks::{Callback, Control, EpochLogger, ProgressBar, TrainInfo};
use super::evaluate::{check_single_io, counted_rows_per_sample, evaluate, weighted_mean_loss};
use super::history::{EpochRecord, History, Logs};
use super::metrics::Metric;
use super::split::stratified_split;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::graph::Model;
use crate::tensor::Tensor;
use std::time::Instant;

/// Where validation data comes from.
#[derive(Clone, Debug, Default)]
pub enum Validation {
    /// No validation.
    #[default]
    None,
    /// Hold out this fraction of the rows, chosen by a seeded shuffle ([`Dataset::split`]).
    Split(f32),
    /// Hold out this fraction of each class (targets must be class indices), see
    /// [`stratified_split`].
    StratifiedSplit(f32),
    /// Explicit validation data.
    Data(Dataset),
}

/// What `fit` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// Nothing.
    Silent,
    /// A progress bar per epoch on a terminal, plain epoch lines otherwise.
    #[default]
    Progress,
    /// One line per epoch.
    Lines,
}

/// Options of [`fit`]. Build with `FitOptions::new().epochs(10).batch_size(64)…`.
pub struct FitOptions<'a> {
    /// Train epochs `initial_epoch..epochs`.
    pub epochs: usize,
    /// First epoch to run (resuming from a checkpoint that finished `initial_epoch` epochs).
    pub initial_epoch: usize,
    pub batch_size: usize,
    /// Shuffle rows every epoch (seeded).
    pub shuffle: bool,
    /// Seed of the shuffles and the validation split; `None` uses the model seed.
    pub seed: Option<u64>,
    pub validation: Validation,
    /// Batch size for validation (default: `batch_size`).
    pub validation_batch_size: Option<usize>,
    /// Host metrics computed on the validation data each epoch (logged as `val_<name>`).
    pub metrics: Vec<Metric>,
    pub callbacks: Vec<Box<dyn Callback + 'a>>,
    pub verbose: Verbosity,
    /// Global-norm gradient clipping for this run (`None` keeps the compiled setting).
    pub clip_norm: Option<f32>,
    /// Skip the last partial batch of each epoch.
    pub drop_last: bool,
    /// Shards per batch (`None`: keep the model's setting; see [`Model::set_shards`]).
    pub shards: Option<usize>,
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            initial_epoch: 0,
            batch_size: 32,
            shuffle: true,
            seed: None,
            validation: Validation::None,
            validation_batch_size: None,
            metrics: Vec::new(),
            callbacks: Vec::new(),
            verbose: Verbosity::Progress,
            clip_norm: None,
            drop_last: false,
            shards: None,
        }
    }
}

/// A `&mut` callback is a callback, so callers can keep ownership and inspect it after `fit`.
impl<T: Callback + ?Sized> Callback for &mut T {
    fn on_train_begin(&mut self, model: &mut Model, info: &TrainInfo) -> Result<()> {
        (**self).on_train_begin(model, info)
    }
    fn on_epoch_begin(&mut self, model: &mut Model, epoch: usize) -> Result<()> {
        (**self).on_epoch_begin(model, epoch)
    }
    fn on_batch_begin(&mut self, model: &mut Model, epoch: usize, batch: usize) -> Result<()> {
        (**self).on_batch_begin(model, epoch, batch)
    }
    fn on_batch_end(&mut self, model: &mut Model, epoch: usize, batch: usize) -> Result<()> {
        (**self).on_batch_end(model, epoch, batch)
    }
    fn on_epoch_end(
        &mut self,
        model: &mut Model,
        epoch: usize,
        logs: &mut Logs,
    ) -> Result<Control> {
        (**self).on_epoch_end(model, epoch, logs)
    }
    fn on_train_end(&mut self, model: &mut Model, history: &History) -> Result<()> {
        (**self).on_train_end(model, history)
    }
}

impl<'a> FitOptions<'a> {
    /// The defaults: 1 epoch, batch 32, shuffled, no validation, progress output.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of epochs (the index one past the last epoch when resuming).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }
    /// First epoch to run.
    pub fn initial_epoch(mut self, epoch: usize) -> Self {
        self.initial_epoch = epoch;
        self
    }
    /// Rows per training step.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// Shuffle every epoch or not.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// Seed of shuffling and splitting.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Holds out a seeded random `fraction` of the rows.
    pub fn validation_split(mut self, fraction: f32) -> Self {
        self.validation = Validation::Split(fraction);
        self
    }
    /// Explicit validation data.
    pub fn validation_data(mut self, data: Dataset) -> Self {
        self.validation = Validation::Data(data);
        self
    }
    /// Any [`Validation`].
    pub fn validation(mut self, validation: Validation) -> Self {
        self.validation = validation;
        self
    }
    /// Host metrics on the validation data.
    pub fn metrics(mut self, metrics: &[Metric]) -> Self {
        self.metrics = metrics.to_vec();
        self
    }
    /// Adds a callback (owned, or `&mut cb` to keep it).
    pub fn callback(mut self, callback: impl Callback + 'a) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }
    /// What to print.
    pub fn verbose(mut self, verbose: Verbosity) -> Self {
        self.verbose = verbose;
        self
    }
    /// Global-norm gradient clipping threshold.
    pub fn clip_norm(mut self, max_norm: f32) -> Self {
        self.clip_norm = Some(max_norm);
        self
    }
    /// Skip the last partial batch.
    /// Splits each batch into `shards` equal shards whose gradients are summed in rank order
    /// ([`Model::set_shards`]). The batch size must be divisible by `shards`; so must a last
    /// short batch of an epoch, or `fit` stops with an error before training (use
    /// `drop_last`, or a batch size dividing the training rows) — a short last batch is never
    /// split unevenly, so every shard of every step has the same rows on every device.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }
}

/// Trains a compiled single-input, single-output model on `(x, y)`; see [`fit_dataset`].
pub fn fit(model: &mut Model, x: &Tensor, y: &Tensor, options: FitOptions) -> Result<History> {
    let data = Dataset::new(x.clone(), y.clone())?;
    fit_dataset(model, &data, options)
}

/// Trains a compiled single-input, single-output model on `data` for epochs
/// `initial_epoch..epochs`, returning every epoch's logs (`loss`, `accuracy` for classification
/// losses, `val_…` with validation data, and whatever callbacks add).
pub fn fit_dataset(model: &mut Model, data: &Dataset, options: FitOptions) -> Result<History> {
    let FitOptions {
        epochs,
        initial_epoch,
        batch_size,
        shuffle,
        seed,
        validation,
        validation_batch_size,
        metrics,
        mut callbacks,
        verbose,
        clip_norm,
        drop_last,
        shards,
    } = options;
    check_single_io(model, "fit")?;
    if batch_size == 0 {
        return Err(Error::invalid("fit: batch size must be at least 1, got 0"));
    }
    if initial_epoch > epochs {
        return Err(Error::invalid(format!(
            "fit: initial epoch {initial_epoch} is past the last epoch {epochs}"
        )));
    }
    let seed = seed.unwrap_or_else(|| model.seed());
    let split_owned;
    let (train, val): (&Dataset, Option<Dataset>) = match validation {
        Validation::None => (data, None),
        Validation::Data(v) => (data, Some(v)),
        Validation::Split(f) => {
            let (t, v) = data.split(f, seed)?;
            split_owned = t;
            (&split_owned, (!v.is_empty()).then_some(v))
        }
        Validation::StratifiedSplit(f) => {
            let (t, v) = stratified_split(data, f, seed)?;
            split_owned = t;
            (&split_owned, (!v.is_empty()).then_some(v))
        }
    };
    if train.is_empty() {
        return Err(Error::invalid("fit: no training rows"));
    }
    if let Some(c) = clip_norm {
        if !(c > 0.0 && c.is_finite()) {
            return Err(Error::invalid(format!(
                "fit: clip norm must be a positive finite number, got {c}"
            )));
        }
        model.set_clip_norm(Some(c))?;
    }
    let mut buf =
        BatchBuffers::with_shuffle(train, batch_size, drop_last, shuffle.then_some(seed))?;
    let steps = buf.num_batches();
    if steps == 0 {
        return Err(Error::invalid(format!(
            "fit: {} training rows make no full batch of {batch_size} with drop_last",
            train.len()
        )));
    }
    let rows_per_epoch = buf.rows_per_epoch();
    let last_rows = buf.rows_of(steps - 1);
    if let Some(r) = shards {
        model.set_shards(r)?;
    }
    check_shards(model.shards(), buf.rows_of(0), last_rows)?;
    let val_bs = validation_batch_size.unwrap_or(batch_size);
    match verbose {
        Verbosity::Silent => {}
        Verbosity::Progress => callbacks.push(Box::new(ProgressBar::new())),
        Verbosity::Lines => callbacks.push(Box::new(EpochLogger::stdout())),
    }
    let info = TrainInfo {
        initial_epoch,
        epochs,
        steps_per_epoch: steps,
        batch_size,
        train_samples: train.len(),
        val_samples: val.as_ref().map(Dataset::len),
    };
    for cb in callbacks.iter_mut() {
        cb.on_train_begin(model, &info)?;
    }
    let mut history = History::default();
    let mut order = Vec::with_capacity(train.len());
    let check_each_step = !model.device().is_cuda();
    for epoch in initial_epoch..epochs {
        let started = Instant::now();
        for cb in callbacks.iter_mut() {
            cb.on_epoch_begin(model, epoch)?;
        }
        model.reset_running()?;
        buf.epoch_order(epoch as u64, &mut order);
        // On a GPU the next batch is copied while the current one trains (the path `bench`
        // times); on the CPU each batch is uploaded right before its step. Same bits either way.
        let prefetch = model.device().is_cuda();
        if prefetch {
            let (x, y, _) = buf.fill(&order, 0)?;
            model.prefetch(&[x], &[y])?;
        }
        for b in 0..steps {
            for cb in callbacks.iter_mut() {
                cb.on_batch_begin(model, epoch, b)?;
            }
            if prefetch {
                model.train_step_prefetched()?;
                if b + 1 < steps {
                    let (x, y, _) = buf.fill(&order, b + 1)?;
                    model.prefetch(&[x], &[y])?;
                }
            } else {
                let (x, y, _) = buf.fill(&order, b)?;
                model.train_step(&[x], &[y])?;
            }
            if check_each_step {
                let l = model.last_loss()?;
                if !l.is_finite() {
                    return Err(Error::Diverged(format!(
                        "the training loss is {l} at epoch {}, step {} of {steps} (optimizer step \
                         {}); lower the learning rate, scale the inputs or clip gradients",
                        epoch + 1,
                        b + 1,
                        model.optimizer_steps()
                    )));
                }
            }
            for cb in callbacks.iter_mut() {
                cb.on_batch_end(model, epoch, b)?;
            }
        }
        let (sum, correct) = model.running_totals()?;
        let mut logs = Logs::new();
        let loss = weighted_mean_loss(model, sum, steps, batch_size.min(train.len()), last_rows)?;
        logs.set("loss", loss);
        if model.train_config().is_some_and(|c| c.track_accuracy) {
            let denom = rows_per_epoch * counted_rows_per_sample(model);
            logs.set("accuracy", f64::from(correct) / denom as f64);
        }
        if let Some(v) = &val {
            evaluate(model, v, val_bs, &metrics)?.add_to(&mut logs, "val_");
        }
        if !loss.is_finite() {
            return Err(Error::Diverged(format!(
                "the training loss is {loss} in epoch {}, within steps 1–{steps} (optimizer steps \
                 up to {}; on CUDA the loss is read once per epoch); lower the learning rate, \
                 scale the inputs or clip gradients",
                epoch + 1,
                model.optimizer_steps()
            )));
        }
        let mut stop = None;
        for cb in callbacks.iter_mut() {
            if let Control::Stop(reason) = cb.on_epoch_end(model, epoch, &mut logs)? {
                stop.get_or_insert(reason);
            }
        }
        history.epochs.push(EpochRecord {
            epoch,
            logs,
            seconds: started.elapsed().as_secs_f64(),
        });
        if let Some(reason) = stop {
            if verbose != Verbosity::Silent {
                crate::outln!("{reason}");
            }
            history.stop_reason = Some(reason);
            break;
        }
    }
    for cb in callbacks.iter_mut() {
        cb.on_train_end(model, &history)?;
    }
    Ok(history)
}

/// Checks that the first (full) and the last batch of an epoch split into `shards` equal
/// shards, before any training.
fn check_shards(shards: usize, batch_rows: usize, last_rows: usize) -> Result<()> {
    crate::graph::shard_rows(batch_rows, shards)?;
    if !last_rows.is_multiple_of(shards) {
        return Err(Error::invalid(format!(
            "fit: the last batch of each epoch has {last_rows} rows, which do not split into \
             {shards} equal shards; use drop_last, or a batch size that divides the training \
             rows"
        )));
    }
    Ok(())
}
