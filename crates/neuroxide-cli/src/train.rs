//! `neuroxide train …`: the reference examples and training on the user's data.

use crate::plot;
use clap::{Args, Subcommand, ValueEnum};
use neuroxide::data::{NormalizerKind, Task};
use neuroxide::train::Verbosity;
use neuroxide::{Device, Error, Result};
use neuroxide_examples::csv::{self as csv_example, CsvTrainOptions};
use neuroxide_examples::mnist::{self, MnistLrSchedule, MnistModel, MnistTrainOptions};
use neuroxide_examples::xor;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    example: TrainCmd,
}

/// `--task`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TaskArg {
    Classification,
    Regression,
}

/// `--header`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum HeaderArg {
    /// The first row names the columns.
    Yes,
    /// The first row is data.
    No,
    /// Detect (the decision and its reason are printed).
    Auto,
}

/// Parses `--delimiter`: one ASCII character, or `tab`.
fn parse_delimiter(s: &str) -> std::result::Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "'{s}': expected one character such as ',' or ';', or 'tab'"
        )),
    }
}

/// `--normalize`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NormalizeArg {
    /// (x - mean) / std, fitted on the training split.
    Standard,
    /// (x - min) / (max - min), fitted on the training split.
    Minmax,
    /// Raw values.
    None,
}

#[derive(Args)]
pub struct CsvArgs {
    /// The CSV file (header row detected automatically).
    #[arg(long)]
    file: PathBuf,
    /// Target column: header name, or 0-based index (default: the last column).
    #[arg(long)]
    target: Option<String>,
    /// Detected from the target column when omitted (text labels or few integers: classification;
    /// the decision is printed); a given task always wins.
    #[arg(long, value_enum)]
    task: Option<TaskArg>,
    /// Whether the first row names the columns.
    #[arg(long, value_enum, default_value = "auto")]
    header: HeaderArg,
    /// Field delimiter (',' ';' 'tab' …); sniffed among , ; tab | when omitted.
    #[arg(long, value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// Hidden layer sizes (ReLU), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,32")]
    hidden: Vec<usize>,
    /// Maximum number of epochs (early stopping usually ends sooner).
    #[arg(long, default_value_t = 200)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.01)]
    lr: f32,
    /// Fraction of rows held out for validation (stratified for classification).
    #[arg(long, default_value_t = 0.2)]
    val_split: f32,
    /// Early-stopping patience on the validation loss, restoring the best weights (0: off).
    #[arg(long, default_value_t = 20)]
    patience: usize,
    /// Feature scaling fitted on the training split.
    #[arg(long, value_enum, default_value = "standard")]
    normalize: NormalizeArg,
    /// Seed of initialisation, split and shuffling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// cpu, cuda, cuda:N or auto
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Save the trained model (directory) with its preprocessing; checked before training.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Save the model even when training diverges (NaN/infinite loss; exit status stays 1).
    #[arg(long)]
    save_on_divergence: bool,
    /// Write loss/metric curves (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Only print the final metrics.
    #[arg(long)]
    quiet: bool,
    /// Split every batch into R equal shards whose gradients are summed in rank order (the
    /// bits of R data-parallel GPUs; see `neuroxide launch`); 1: plain training.
    #[arg(long, default_value_t = 1)]
    shards: usize,
}

#[derive(Args)]
pub struct MnistArgs {
    /// Model architecture: cnn (the mnist_cnn workload: two 3×3 conv + max-pool blocks, then
    /// Dense 128 and 10), cnn-bn (the same with BatchNorm after each conv and Dropout 0.3
    /// before the classifier) or mlp (784-256-128-10 ReLU).
    #[arg(long, default_value = "cnn")]
    model: String,
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Directory with the four IDX files (raw or .gz).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Train on the first N training images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Skip the SHA-256 checks (Fashion-MNIST or other data in the MNIST format).
    #[arg(long)]
    no_verify: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// cpu, cuda, cuda:N or auto
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Save the trained model (directory); checked before training.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Save the model even when training diverges (NaN/infinite loss; exit status stays 1).
    #[arg(long)]
    save_on_divergence: bool,
    /// Write loss/accuracy curves (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Split every batch into R equal shards whose gradients are summed in rank order (the
    /// bits of R data-parallel GPUs; see `neuroxide launch`); 1: plain training.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// Learning-rate schedule of Adam(1e-3): constant (the mnist_cnn benchmark's optimizer)
    /// or cosine (decays to 0 at the end of the last epoch, every step).
    #[arg(long, default_value = "constant")]
    lr_schedule: String,
    /// Decay of the weights' running average (Keras' `use_ema`, with TensorFlow's warm-up
    /// `min(decay, (1 + t)/(10 + t))`), written over the weights after training; 0 turns it
    /// off.
    #[arg(long, default_value_t = 0.99)]
    ema: f32,
}

#[derive(Subcommand)]
enum TrainCmd {
    /// XOR with a 2-4-1 tanh/sigmoid network, Adam(0.05), MSE.
    Xor {
        /// cpu, cuda, cuda:N or auto
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 500)]
        steps: usize,
    },
    /// An MLP on a CSV table (classification or regression).
    Csv(CsvArgs),
    /// The MNIST CNN (default) or MLP of bench/WORKLOADS.md.
    Mnist(MnistArgs),
    /// The character-level mini transformer of bench/WORKLOADS.md on Shakespeare.
    Transformer(crate::transformer::TransformerArgs),
}

pub fn run(args: TrainArgs) -> Result<()> {
    match args.example {
        TrainCmd::Xor {
            device,
            seed,
            steps,
        } => {
            let r = xor::train(Device::parse(&device)?, seed, steps)?;
            for (x, p) in xor::INPUTS.iter().zip(&r.predictions) {
                outln!("{x:?} -> {p:.4}");
            }
            outln!(
                "final loss {:.6}, max |error| {:.4} after {} steps ({:.1} µs/step)",
                r.final_loss,
                r.max_error,
                r.steps,
                r.micros_per_step
            );
            Ok(())
        }
        TrainCmd::Csv(a) => run_csv(a),
        TrainCmd::Mnist(a) => run_mnist(a),
        TrainCmd::Transformer(a) => crate::transformer::train(a),
    }
}

/// The library options `neuroxide train csv` builds from its arguments.
pub fn csv_options(a: &CsvArgs) -> Result<CsvTrainOptions> {
    if a.hidden.contains(&0) {
        return Err(Error::invalid(format!(
            "--hidden {:?}: every layer needs at least 1 unit",
            a.hidden
        )));
    }
    if !(a.lr > 0.0 && a.lr.is_finite()) {
        return Err(Error::invalid(format!(
            "--lr {}: the learning rate must be a positive number",
            a.lr
        )));
    }
    if a.epochs == 0 || a.batch_size == 0 {
        return Err(Error::invalid(
            "--epochs and --batch-size must be at least 1",
        ));
    }
    if !(a.val_split > 0.0 && a.val_split < 1.0) {
        return Err(Error::invalid(format!(
            "--val-split {}: must be between 0 and 1 (exclusive)",
            a.val_split
        )));
    }
    Ok(CsvTrainOptions {
        file: a.file.clone(),
        target: a.target.clone(),
        task: a.task.map(|t| match t {
            TaskArg::Classification => Task::Classification,
            TaskArg::Regression => Task::Regression,
        }),
        header: match a.header {
            HeaderArg::Yes => Some(true),
            HeaderArg::No => Some(false),
            HeaderArg::Auto => None,
        },
        delimiter: a.delimiter,
        hidden: a.hidden.clone(),
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        validation_split: a.val_split,
        normalize: match a.normalize {
            NormalizeArg::Standard => Some(NormalizerKind::Standardize),
            NormalizeArg::Minmax => Some(NormalizerKind::MinMax),
            NormalizeArg::None => None,
        },
        patience: (a.patience > 0).then_some(a.patience),
        seed: a.seed,
        device: Device::parse(&a.device)?,
        verbose: if a.quiet {
            Verbosity::Silent
        } else {
            Verbosity::Progress
        },
        save: a.save.clone(),
        save_on_divergence: a.save_on_divergence,
        shards: a.shards,
    })
}

/// Only rank 0 of a data-parallel launch saves models and writes plots (every rank computes
/// the same weights); the others drop `--save` and `--plot`. Returns whether this is rank 0.
fn keep_outputs_on_rank0(save: &mut Option<PathBuf>, plot: &mut Option<PathBuf>) -> Result<bool> {
    let rank0 = neuroxide::distributed::rank_from_env()? == 0;
    if !rank0 {
        *save = None;
        *plot = None;
    }
    Ok(rank0)
}

fn run_csv(mut a: CsvArgs) -> Result<()> {
    let rank0 = keep_outputs_on_rank0(&mut a.save, &mut a.plot)?;
    a.quiet |= !rank0;
    if let Some(p) = &a.plot {
        check_plot_path(p)?;
    }
    let options = csv_options(&a)?;
    let r = csv_example::train(&options)?;
    if let Some(reason) = &r.history.stop_reason {
        if a.quiet {
            outln!("{reason}");
        }
    }
    outln!(
        "{} rows for training, {} for validation; {} epochs",
        r.train_rows,
        r.val_rows,
        r.history.len()
    );
    match (&r.confusion, &r.regression) {
        (Some(cm), _) => {
            outln!(
                "validation: loss {:.4}, accuracy {:.4} ({} of {})",
                r.validation.loss,
                cm.accuracy(),
                (0..cm.counts.len()).map(|i| cm.counts[i][i]).sum::<u64>(),
                cm.total()
            );
            outln!("{cm}");
        }
        (None, Some(reg)) => outln!(
            "validation (original units): MSE {:.4}, RMSE {:.4}, MAE {:.4}, R² {:.4}\n\
             baseline (predict the training mean): MSE {:.4}, MAE {:.4}",
            reg.mse,
            reg.rmse,
            reg.mae,
            reg.r2,
            reg.baseline_mse,
            reg.baseline_mae
        ),
        (None, None) => outln!("validation: loss {:.4}", r.validation.loss),
    }
    if let Some(dir) = &a.save {
        outln!("saved the model to {}", dir.display());
    }
    if let Some(p) = &a.plot {
        plot::write(&r.history, p)?;
        outln!("wrote {}", p.display());
    }
    Ok(())
}

/// Checks `--plot` before training: the extension, not a directory, and a writable place (a
/// probe file created and removed beside it), so that a bad path is not found after the run.
fn check_plot_path(p: &std::path::Path) -> Result<()> {
    match p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
    {
        Some(e) if e == "png" || e == "svg" => {}
        _ => {
            return Err(Error::invalid(format!(
                "--plot {}: the file name must end in .png or .svg",
                p.display()
            )))
        }
    }
    if p.is_dir() {
        return Err(Error::invalid(format!(
            "--plot {}: is a directory",
            p.display()
        )));
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let probe = parent.join(format!(".neuroxide-plot-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| Error::invalid(format!("--plot {}: cannot write there: {e}", p.display())))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// `train mnist` takes the same limits as `train csv`.
fn check_mnist_sizes(a: &MnistArgs) -> Result<()> {
    if a.epochs == 0 || a.batch_size == 0 {
        return Err(Error::invalid(
            "--epochs and --batch-size must be at least 1",
        ));
    }
    if a.limit == Some(0) {
        return Err(Error::invalid("--limit must be at least 1"));
    }
    Ok(())
}

/// The `--ema` flag of `train mnist` and `train transformer`: 0 is off, else a decay in (0, 1).
pub(crate) fn ema_decay(flag: f32) -> Result<Option<f32>> {
    if flag == 0.0 {
        return Ok(None);
    }
    if !(flag > 0.0 && flag < 1.0) {
        return Err(Error::invalid(format!(
            "--ema must be 0 (off) or a decay in (0, 1), got {flag}"
        )));
    }
    Ok(Some(flag))
}

fn run_mnist(mut a: MnistArgs) -> Result<()> {
    let rank0 = keep_outputs_on_rank0(&mut a.save, &mut a.plot)?;
    check_mnist_sizes(&a)?;
    let ema = ema_decay(a.ema)?;
    if let Some(p) = &a.plot {
        check_plot_path(p)?;
    }
    let options = MnistTrainOptions {
        model: MnistModel::parse(&a.model)?,
        data_dir: a.data_dir.clone().unwrap_or_else(mnist::default_data_dir),
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.seed,
        device: Device::parse(&a.device)?,
        train_limit: a.limit,
        verify_checksums: !a.no_verify,
        verbose: if rank0 {
            Verbosity::Progress
        } else {
            Verbosity::Silent
        },
        save: a.save.clone(),
        save_on_divergence: a.save_on_divergence,
        shards: a.shards,
        lr_schedule: MnistLrSchedule::parse(&a.lr_schedule)?,
        ema,
    };
    let r = mnist::train(&options)?;
    outln!(
        "test: accuracy {:.4}, loss {:.4} on {} images",
        r.test_accuracy,
        r.test_loss,
        r.test_images
    );
    outln!(
        "training: {} images × {} epochs in {:.3}s = {:.0} images/s",
        r.train_images,
        r.history.len(),
        r.train_seconds,
        r.images_per_sec
    );
    outln!("{}", r.confusion);
    if let Some(dir) = &a.save {
        outln!("saved the model to {}", dir.display());
    }
    if let Some(p) = &a.plot {
        plot::write(&r.history, p)?;
        outln!("wrote {}", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        a: CsvArgs,
    }

    #[test]
    fn csv_defaults_are_the_library_defaults() {
        let w = Wrap::try_parse_from(["x", "--file", "t.csv"]).unwrap();
        let o = csv_options(&w.a).unwrap();
        let d = CsvTrainOptions::default();
        assert_eq!(o.hidden, d.hidden);
        assert_eq!(
            (
                o.epochs,
                o.batch_size,
                o.lr,
                o.validation_split,
                o.patience,
                o.seed
            ),
            (
                d.epochs,
                d.batch_size,
                d.lr,
                d.validation_split,
                d.patience,
                d.seed
            )
        );
        assert_eq!(o.normalize, d.normalize);
        assert_eq!((o.task, o.target, o.device), (d.task, d.target, d.device));
    }
}
