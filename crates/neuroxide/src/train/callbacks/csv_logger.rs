//! Writes every epoch's logs as a CSV row (for spreadsheets and plotting tools).

use super::{Callback, Control, TrainInfo};
use crate::error::{Error, Result};
use crate::graph::Model;
use crate::train::history::Logs;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// `epoch,loss,accuracy,val_loss,…` then one row per epoch. Epochs are 1-based, as printed.
/// Columns are fixed by the first epoch written (a later missing value is left empty). Values are
/// written with Rust's shortest round-trip formatting, so reading them back gives the same f64.
/// Each row is flushed, so the file is complete up to the last finished epoch.
pub struct CsvLogger {
    path: PathBuf,
    append: bool,
    out: Option<BufWriter<File>>,
    columns: Option<Vec<String>>,
}

impl CsvLogger {
    /// Writes (truncates) `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        CsvLogger {
            path: path.as_ref().to_path_buf(),
            append: false,
            out: None,
            columns: None,
        }
    }
    /// Appends to an existing file (when resuming) instead of truncating it; the header is
    /// taken from the existing first line.
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }
    fn io_err(&self, e: std::io::Error) -> Error {
        Error::io(&self.path, e)
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, _model: &mut Model, _info: &TrainInfo) -> Result<()> {
        self.columns = None;
        if self.append {
            if let Ok(text) = std::fs::read_to_string(&self.path) {
                if let Some(header) = text.lines().next().filter(|h| !h.is_empty()) {
                    let cols: Vec<String> = header.split(',').map(String::from).collect();
                    if cols.first().map(String::as_str) != Some("epoch") {
                        return Err(Error::Data {
                            file: self.path.clone(),
                            line: 1,
                            column: 1,
                            message: format!(
                                "cannot append: the header starts with '{}', expected 'epoch'",
                                cols[0]
                            ),
                        });
                    }
                    self.columns = Some(cols[1..].to_vec());
                }
            }
        }
        let file = if self.append {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
        } else {
            File::create(&self.path)
        }
        .map_err(|e| self.io_err(e))?;
        self.out = Some(BufWriter::new(file));
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        _model: &mut Model,
        epoch: usize,
        logs: &mut Logs,
    ) -> Result<Control> {
        let mut text = String::new();
        if self.columns.is_none() {
            let cols: Vec<String> = logs.names().into_iter().map(String::from).collect();
            text.push_str("epoch");
            for c in &cols {
                text.push(',');
                text.push_str(c);
            }
            text.push('\n');
            self.columns = Some(cols);
        }
        text.push_str(&(epoch + 1).to_string());
        for c in self.columns.iter().flatten() {
            text.push(',');
            if let Some(v) = logs.get(c) {
                text.push_str(&v.to_string());
            }
        }
        text.push('\n');
        let path = self.path.clone();
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| Error::invalid("csv logger used before on_train_begin"))?;
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::io(path, e))?;
        Ok(Control::Continue)
    }
}
