//! The examples the report validates. Each is a function that trains the library's reference
//! example (`crate::*`) on one device and returns what the report needs: the measured
//! value of its criterion, every step's loss and the final weights (for parity), and its speed.
//! An example whose code does not exist yet says why, and its row says "not available".

use super::criteria::Criterion;
use super::loss_log::LossLog;
use crate::xor;
use neuroxide::data::{
    read_csv, CsvOptions, Dataset, Mnist, MnistOptions, Normalizer, NormalizerKind,
};
use neuroxide::device::Device;
use neuroxide::error::{Error, Result};
use neuroxide::graph::Model;
use neuroxide::tensor::Tensor;
use neuroxide::train::{evaluate, fit_dataset, stratified_split, FitOptions, Verbosity};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How much training each example gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The `--quick` budget (the whole report within 3 minutes on 2 CPU cores).
    pub quick: bool,
    /// A short run for the CPU 1-thread-vs-N-threads comparison: bit-exactness does not need
    /// the whole training run, and the check trains twice more.
    pub parity_subset: bool,
}

impl Budget {
    /// XOR full-batch steps.
    pub fn xor_steps(&self) -> usize {
        if self.quick || self.parity_subset {
            500
        } else {
            2000
        }
    }

    /// Iris epochs (4 steps of 32 rows each).
    pub fn csv_epochs(&self) -> usize {
        match (self.parity_subset, self.quick) {
            (true, _) => 10,
            (false, true) => 100,
            (false, false) => 200,
        }
    }

    /// MNIST `(training images, epochs, test images)`.
    pub fn mnist(&self) -> (usize, usize, usize) {
        match (self.parity_subset, self.quick) {
            (true, _) => (1024, 1, 1000),
            (false, true) => (10_000, 1, 10_000),
            (false, false) => (60_000, 3, 10_000),
        }
    }

    /// Char transformer training steps (batch 32).
    pub fn transformer_steps(&self) -> usize {
        match (self.parity_subset, self.quick) {
            (true, _) => 20,
            (false, true) => 300,
            (false, false) => 1500,
        }
    }

    /// One line stating every example's budget, for the report header.
    pub fn describe(&self) -> String {
        let (n, e, t) = self.mnist();
        format!(
            "XOR {} full-batch steps; iris {} epochs of batch 32; MNIST CNN and MLP {e} epoch(s) each on \
             the first {n} training images, batch 64, tested on {t} test images; char transformer {} \
             steps of batch 32; CPU thread-parity runs use XOR {} steps, iris {} epochs, MNIST \
             1,024 images, transformer 20 steps",
            self.xor_steps(),
            self.csv_epochs(),
            self.transformer_steps(),
            Budget {
                parity_subset: true,
                ..*self
            }
            .xor_steps(),
            Budget {
                parity_subset: true,
                ..*self
            }
            .csv_epochs(),
        )
    }
}

/// A file of the repository's `data/` folder: relative to the current directory when it exists
/// there (running from the repository root, also on a machine without the source tree's
/// absolute path), else next to this crate's sources.
pub fn data_path(rel: &str) -> PathBuf {
    let local = Path::new("data").join(rel);
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(rel)
}

/// What training one example on one device produced.
#[derive(Clone, Debug)]
pub struct ExampleRun {
    /// The criterion's metric, measured.
    pub metric: f64,
    /// The loss of every training step, in order.
    pub losses: Vec<f32>,
    /// The final weights, named as in `Model::weights`.
    pub weights: Vec<(String, Tensor)>,
    /// Training steps taken.
    pub steps: usize,
    /// Wall-clock milliseconds per training step (loss read back every step).
    pub ms_per_step: f64,
    /// What was trained and measured, e.g. "500 full-batch steps, seed 1".
    pub detail: String,
}

/// Trains one example on a device with a seed.
pub type RunFn = fn(Device, &Budget, u64) -> Result<ExampleRun>;

/// An example row of the report.
#[derive(Clone, Debug)]
pub struct Example {
    /// Short name used on the command line and in overrides (`xor`, `csv`, `mnist`, …).
    pub name: &'static str,
    /// Name in the report's first column.
    pub title: &'static str,
    /// The criterion of the full run.
    pub criterion: Criterion,
    /// The threshold under `--quick`, when its smaller budget cannot reach the full one.
    pub quick_threshold: Option<f64>,
    /// The runner, or why the example is not available.
    pub run: std::result::Result<RunFn, String>,
}

/// XOR: 2-4-1 tanh/sigmoid, Adam(0.05), MSE; success is every prediction within 0.1 of its
/// target.
pub fn run_xor(device: Device, budget: &Budget, seed: u64) -> Result<ExampleRun> {
    let r = xor::train(device, seed, budget.xor_steps())?;
    Ok(ExampleRun {
        metric: f64::from(r.max_error),
        losses: r.losses,
        weights: r.weights,
        steps: r.steps,
        ms_per_step: r.micros_per_step / 1e3,
        detail: format!(
            "{} full-batch steps, seed {seed}, final loss {:.3e}",
            r.steps, r.final_loss
        ),
    })
}

/// Trains `model` on `train` with `fit` (seeded shuffling, silent), recording every step's
/// loss, then evaluates accuracy (%) on `test`.
fn fit_and_test(
    mut model: Model,
    device: Device,
    train: &Dataset,
    test: &Dataset,
    epochs: usize,
    batch_size: usize,
    seed: u64,
) -> Result<(ExampleRun, Model)> {
    model.to_device(device)?;
    let mut losses = Vec::new();
    let start = Instant::now();
    let history = fit_dataset(
        &mut model,
        train,
        FitOptions::new()
            .epochs(epochs)
            .batch_size(batch_size)
            .seed(seed)
            .verbose(Verbosity::Silent)
            .callback(LossLog {
                losses: &mut losses,
            }),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    if let Some(why) = &history.stop_reason {
        return Err(Error::invalid(format!("training stopped early: {why}")));
    }
    let eval = evaluate(&mut model, test, 1000, &[])?;
    let accuracy = eval
        .accuracy
        .ok_or_else(|| Error::invalid("evaluation returned no accuracy"))?;
    let steps = losses.len();
    let run = ExampleRun {
        metric: 100.0 * accuracy,
        steps,
        ms_per_step: seconds * 1e3 / steps.max(1) as f64,
        losses,
        weights: model.weights()?,
        detail: format!(
            "{epochs} epoch(s), {steps} steps of batch {batch_size} on {} rows, seed {seed}; \
             test loss {:.4} on {} rows",
            train.len(),
            eval.loss,
            test.len()
        ),
    };
    Ok((run, model))
}

/// CSV: iris (`data/iris.csv`, species = last column) through the CSV pipeline: stratified
/// 80/20 split, standardisation fitted on the training rows, the CSV example's MLP (64-32 ReLU),
/// Adam(1e-3), batch 32, cross-entropy; success is the held-out accuracy.
pub fn run_csv(device: Device, budget: &Budget, seed: u64) -> Result<ExampleRun> {
    let file = data_path("iris.csv");
    let table = read_csv(&file, &CsvOptions::new())?;
    let classes = table.num_classes().ok_or_else(|| {
        Error::invalid(format!(
            "{}: the last column is not a class label",
            file.display()
        ))
    })?;
    let (mut train, mut test) = stratified_split(&table.dataset()?, 0.2, seed)?;
    let norm = Normalizer::fit(NormalizerKind::Standardize, &train.x)?;
    norm.transform(&mut train.x)?;
    norm.transform(&mut test.x)?;
    let mut model = crate::csv::model(train.x.row_len(), &[64, 32], classes, seed)?;
    model.compile(
        neuroxide::optim::adam(1e-3),
        neuroxide::Loss::cross_entropy(),
    )?;
    let (mut run, _) = fit_and_test(model, device, &train, &test, budget.csv_epochs(), 32, seed)?;
    run.detail = format!("iris, {classes} classes; {}", run.detail);
    Ok(run)
}

/// MNIST: the MNIST example's CNN (the mnist_cnn workload: two 3×3 conv + 2×2 max-pool blocks,
/// Dense 128, Dense 10; Adam(1e-3), cross-entropy) on the first training images of
/// `data/mnist` (checksums verified), tested on the test set.
pub fn run_mnist(device: Device, budget: &Budget, seed: u64) -> Result<ExampleRun> {
    run_mnist_model(crate::mnist::MnistModel::Cnn, device, budget, seed)
}

/// MNIST with the example's MLP (784-256-128-10), same budget and data as [`run_mnist`].
pub fn run_mnist_mlp(device: Device, budget: &Budget, seed: u64) -> Result<ExampleRun> {
    run_mnist_model(crate::mnist::MnistModel::Mlp, device, budget, seed)
}

fn run_mnist_model(
    which: crate::mnist::MnistModel,
    device: Device,
    budget: &Budget,
    seed: u64,
) -> Result<ExampleRun> {
    let (n, epochs, t) = budget.mnist();
    let (train, test) = Mnist::load_with(data_path("mnist"), &MnistOptions::default())?;
    let train = train.subset(0..n.min(train.len()))?;
    let test = test.subset(0..t.min(test.len()))?;
    let model = which.build(seed)?;
    let (run, _) = fit_and_test(model, device, &train, &test, epochs, 64, seed)?;
    Ok(run)
}

/// Transformer: the character-level mini transformer (`examples::char_transformer`) on
/// Shakespeare, AdamW(2e-3 peak, wd 0.01) with warm-up and cosine decay, batch 32; success is
/// the validation loss (nats/char, 256 windows of the last 10% of the text).
pub fn run_transformer(device: Device, budget: &Budget, seed: u64) -> Result<ExampleRun> {
    use crate::char_transformer::{self as ct, CharTrainOptions};
    let steps = budget.transformer_steps();
    let file = data_path("text/shakespeare8.txt");
    let data_dir = file
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("data"), Path::to_path_buf);
    let o = CharTrainOptions {
        data_dir,
        steps,
        batch: 32,
        lr: 2e-3,
        weight_decay: ct::DEFAULT_WEIGHT_DECAY,
        beta2: 0.999,
        min_lr: 0.0,
        ema: None,
        warmup: (steps / 4).min(100),
        seed,
        device,
        eval_every: 0,
        eval_windows: 256,
        sample_chars: 0,
        save: None,
        config: None,
        shards: 1,
        tokenizer: neuroxide::data::TokenizerKind::Char,
    };
    let mut r = ct::train(&o, true, &mut |_| {})?;
    Ok(ExampleRun {
        metric: r.final_val,
        weights: r.model.weights()?,
        losses: r.losses,
        steps,
        ms_per_step: r.train_seconds * 1e3 / steps as f64,
        detail: format!(
            "{steps} steps of 32 windows of 64 characters, seed {seed}; validation loss {:.4} \
             nats/char on 256 windows",
            r.final_val
        ),
    })
}

/// The examples, in report order.
pub fn examples() -> Vec<Example> {
    vec![
        Example {
            name: "xor",
            title: "XOR (2-4-1 MLP)",
            criterion: Criterion::below("max |err|", 0.1),
            quick_threshold: None,
            run: Ok(run_xor),
        },
        Example {
            name: "csv",
            title: "CSV (iris, MLP 64-32)",
            criterion: Criterion::at_least("test accuracy %", 90.0),
            quick_threshold: None,
            run: Ok(run_csv),
        },
        Example {
            name: "mnist",
            title: "MNIST (CNN: 2× conv 3×3 + max-pool, Dense 128-10)",
            criterion: Criterion::at_least("test accuracy %", 98.5),
            quick_threshold: Some(95.0),
            run: Ok(run_mnist),
        },
        Example {
            name: "mnist_mlp",
            title: "MNIST (MLP 784-256-128-10)",
            criterion: Criterion::at_least("test accuracy %", 97.0),
            quick_threshold: Some(90.0),
            run: Ok(run_mnist_mlp),
        },
        Example {
            name: "transformer",
            title: "Mini transformer (char LM)",
            criterion: Criterion::below("validation loss", 2.0),
            quick_threshold: Some(2.6),
            run: Ok(run_transformer),
        },
    ]
}
