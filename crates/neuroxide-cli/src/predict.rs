//! `neuroxide predict --model DIR --file F [--out preds.csv]`: predictions of a saved model as
//! CSV (class names and probabilities for classification, values for regression).
//!
//! `--out` never overwrites an existing file without `--force`, never the input table (not even
//! with `--force`), and is checked before the model runs; the file is written to a temporary
//! name and renamed, so an interrupted run leaves no half-written predictions.

use clap::Args;
use neuroxide::{io, Device, Error, Result};
use neuroxide_examples::csv::predict_table;
use std::path::{Path, PathBuf};

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
    /// Allow --out to replace an existing file (never the input file).
    #[arg(long)]
    force: bool,
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

/// The same file, also through links or different spellings of the path.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Refuses an `--out` that would destroy data, before any work.
fn check_out(out: &Path, input: &Path, force: bool) -> Result<()> {
    if same_file(out, input) {
        return Err(Error::invalid(format!(
            "--out {}: this is the input file --file {}; writing the predictions there would \
             destroy it",
            out.display(),
            input.display()
        )));
    }
    if out.is_dir() {
        return Err(Error::invalid(format!(
            "--out {}: is a directory; give a file name",
            out.display()
        )));
    }
    if out.exists() && !force {
        return Err(Error::invalid(format!(
            "--out {}: the file exists; pass --force to replace it",
            out.display()
        )));
    }
    Ok(())
}

pub fn run(a: PredictArgs) -> Result<()> {
    if let Some(out) = &a.out {
        check_out(out, &a.file, a.force)?;
    }
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
            io::tensors::write_atomically(path, text.as_bytes())?;
            outln!("wrote {} predictions to {}", p.rows.len(), path.display());
        }
        None => out!("{text}"),
    }
    Ok(())
}
