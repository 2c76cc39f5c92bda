//! `neuroxide evaluate --model DIR --file F`: metrics of a saved model on a labelled table.

use clap::Args;
use neuroxide::{io, Device, Result};
use neuroxide_examples::csv::evaluate_table;
use std::path::PathBuf;

#[derive(Args)]
pub struct EvaluateArgs {
    /// A model directory written by `train --save`.
    #[arg(long)]
    model: PathBuf,
    /// CSV file with the feature and target columns the model was trained on.
    #[arg(long)]
    file: PathBuf,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// cpu, cuda, cuda:N or auto
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn run(a: EvaluateArgs) -> Result<()> {
    let mut saved = io::load(&a.model)?;
    saved.model.to_device(Device::parse(&a.device)?)?;
    let r = evaluate_table(&mut saved, &a.file, a.batch_size.max(1))?;
    outln!(
        "{} rows; loss {:.4}",
        r.evaluation.samples,
        r.evaluation.loss
    );
    if let Some(cm) = &r.confusion {
        outln!(
            "accuracy {:.4} ({} of {})",
            cm.accuracy(),
            (0..cm.counts.len()).map(|i| cm.counts[i][i]).sum::<u64>(),
            cm.total()
        );
        outln!("{cm}");
    }
    if let Some(reg) = &r.regression {
        outln!(
            "MSE {:.4}, RMSE {:.4}, MAE {:.4}, R² {:.4} (predicting this file's mean: MSE {:.4}, MAE {:.4})",
            reg.mse, reg.rmse, reg.mae, reg.r2, reg.baseline_mse, reg.baseline_mae
        );
    }
    Ok(())
}
