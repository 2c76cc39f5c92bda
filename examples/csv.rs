//! Train an MLP on a CSV table with the defaults of `neuroxide train csv` (standardised inputs,
//! stratified 20% validation split, hidden layers 64 and 32, Adam(1e-2), early stopping on the
//! validation loss). Prints per-epoch logs and the validation metrics.
//!
//! `cargo run --release --example csv [-- --file data/iris.csv --target species]`

use neuroxide::examples::csv::{self, CsvTrainOptions};
use neuroxide::Result;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let options = CsvTrainOptions {
        file: arg("--file")
            .unwrap_or_else(|| "data/iris.csv".into())
            .into(),
        target: arg("--target"),
        ..CsvTrainOptions::default()
    };
    let r = csv::train(&options)?;
    println!(
        "trained on {} rows, validated on {} rows; validation loss {:.4}",
        r.train_rows, r.val_rows, r.validation.loss
    );
    if let Some(cm) = &r.confusion {
        println!("{cm}");
    }
    if let Some(reg) = &r.regression {
        println!(
            "validation MAE {:.3} (mean baseline {:.3}), RMSE {:.3} (baseline {:.3}), R² {:.3}",
            reg.mae,
            reg.baseline_mae,
            reg.rmse,
            reg.baseline_mse.sqrt(),
            reg.r2
        );
    }
    Ok(())
}
