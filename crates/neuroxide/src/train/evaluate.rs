//! `evaluate`: loss and metrics of a compiled model on a dataset, in inference mode.

use super::batches::BatchBuffers;
use super::history::Logs;
use super::metrics::Metric;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::graph::Model;
use crate::tensor::Tensor;

/// The result of [`evaluate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss per sample: the device's per-batch mean losses weighted by batch size.
    pub loss: f64,
    /// Accuracy from the device counter (classification losses only).
    pub accuracy: Option<f64>,
    /// Host metrics, in the order requested, named by [`Metric::name`].
    pub metrics: Vec<(String, f64)>,
    /// Rows evaluated.
    pub samples: usize,
    /// The predictions, when host metrics were requested (they were downloaded anyway).
    pub predictions: Option<Tensor>,
}

impl Evaluation {
    /// The values as logs, each name prefixed (e.g. `val_`).
    pub fn logs(&self, prefix: &str) -> Logs {
        let mut logs = Logs::new();
        self.add_to(&mut logs, prefix);
        logs
    }
    /// Adds `prefix + name` entries to `logs`.
    pub fn add_to(&self, logs: &mut Logs, prefix: &str) {
        logs.set(&format!("{prefix}loss"), self.loss);
        if let Some(a) = self.accuracy {
            logs.set(&format!("{prefix}accuracy"), a);
        }
        for (n, v) in &self.metrics {
            logs.set(&format!("{prefix}{n}"), *v);
        }
    }
    /// A metric or `loss`/`accuracy` by name.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.logs("").get(name)
    }
}

/// Checks that `model` is compiled and has one input and one output (what `fit` and `evaluate`
/// drive; multi-input models use `train_step` directly).
pub(crate) fn check_single_io(model: &Model, what: &str) -> Result<()> {
    if model.train_config().is_none() {
        return Err(Error::invalid(format!(
            "{what}: the model is not compiled: call compile(optimizer, loss) first"
        )));
    }
    let (inputs, outputs) = model.io_names();
    if inputs.len() != 1 || outputs.len() != 1 {
        return Err(Error::invalid(format!(
            "{what} drives models with one input and one output; this one has {} input(s) and {} \
             output(s): use train_step/eval_step",
            inputs.len(),
            outputs.len()
        )));
    }
    Ok(())
}

/// Rows per sample over which the device counts correct predictions of the output (1 for a
/// plain classifier; sequence models count every position).
pub(crate) fn counted_rows_per_sample(model: &Model) -> usize {
    model
        .output_shapes()
        .first()
        .map_or(1, |s| s.numel() / s.last().max(1))
}

/// Evaluates `model` on `data` in batches of `batch_size` rows, in order, without dropout.
///
/// The loss is read from the device once at the end (plus the last batch's loss to weight a
/// partial last batch correctly). Host metrics download each batch's predictions after its
/// forward pass; without metrics nothing is downloaded per batch.
pub fn evaluate(
    model: &mut Model,
    data: &Dataset,
    batch_size: usize,
    metrics: &[Metric],
) -> Result<Evaluation> {
    check_single_io(model, "evaluate")?;
    let n = data.len();
    if n == 0 {
        return Err(Error::invalid("evaluate: the dataset has no rows"));
    }
    let bs = batch_size.max(1).min(n);
    let mut buf = BatchBuffers::new(data, bs, false)?;
    let out_len = model.output_shapes()[0].numel();
    let mut preds = if metrics.is_empty() {
        Vec::new()
    } else {
        vec![0.0f32; n * out_len]
    };
    model.reset_running()?;
    let batches = buf.num_batches();
    let order: Vec<usize> = (0..n).collect();
    for b in 0..batches {
        let (x, y, rows) = buf.fill(&order, b)?;
        model.eval_step(&[x], &[y])?;
        if !metrics.is_empty() {
            let start = b * bs;
            model.read_output(0, &mut preds[start * out_len..(start + rows) * out_len])?;
        }
    }
    let (sum, correct) = model.running_totals()?;
    let last_rows = buf.rows_of(batches - 1);
    let loss = weighted_mean_loss(model, sum, batches, bs, last_rows)?;
    let config = model
        .train_config()
        .ok_or_else(|| Error::invalid("evaluate: the model is not compiled"))?;
    let from_logits = config.loss.from_logits();
    let accuracy = config
        .track_accuracy
        .then(|| f64::from(correct) / (n * counted_rows_per_sample(model)) as f64);
    let (predictions, metrics) = if metrics.is_empty() {
        (None, Vec::new())
    } else {
        let mut shape = vec![n];
        shape.extend_from_slice(model.output_shapes()[0].dims());
        let p = Tensor::new(shape, preds)?;
        let values = metrics
            .iter()
            .map(|m| Ok((m.name(), m.compute(&p, &data.y, from_logits)?)))
            .collect::<Result<Vec<_>>>()?;
        (Some(p), values)
    };
    Ok(Evaluation {
        loss,
        accuracy,
        metrics,
        samples: n,
        predictions,
    })
}

/// The per-sample mean loss from the device's sum of per-batch means: full batches count `bs`
/// rows, the last one `last_rows` (its own mean is read back to separate it from the sum).
pub(crate) fn weighted_mean_loss(
    model: &mut Model,
    sum: f32,
    batches: usize,
    bs: usize,
    last_rows: usize,
) -> Result<f64> {
    if last_rows == bs || batches == 0 {
        return Ok(f64::from(sum) / batches.max(1) as f64);
    }
    let last = f64::from(model.last_loss()?);
    let full = f64::from(sum) - last;
    let n = (batches - 1) * bs + last_rows;
    Ok((full * bs as f64 + last * last_rows as f64) / n as f64)
}
