//! `neuroxide predict --model DIR --file F [--out preds.csv]`: predictions of a saved model as
//! CSV (class names and probabilities for classification, values for regression).

use clap::Args;
use neuroxide::examples::csv::predict_table;
use neuroxide::{io, Device, Error, Result};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct PredictArgs {
    /// A model directory written by `train --save`.
    #[arg(long)]
    model: PathBuf,
    /// CSV file with the model's feature columns (a target column, if present, is ignored).
    #[arg(long)]
    file: PathBuf,
    /// Write the predictions here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// cpu, cuda, cuda:N or auto
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Quotes a field when CSV needs it.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn run(a: PredictArgs) -> Result<()> {
    let mut saved = io::load(&a.model)?;
    saved.model.to_device(Device::parse(&a.device)?)?;
    let p = predict_table(&mut saved, &a.file)?;
    let mut text = String::new();
    let line = |cells: &[String]| cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    text.push_str(&line(&p.header));
    text.push('\n');
    for r in &p.rows {
        text.push_str(&line(r));
        text.push('\n');
    }
    match &a.out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
            outln!("wrote {} predictions to {}", p.rows.len(), path.display());
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Error::invalid(format!("cannot write to stdout: {e}")))?,
    }
    Ok(())
}
