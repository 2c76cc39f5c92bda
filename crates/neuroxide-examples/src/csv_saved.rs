//! The table side of `neuroxide evaluate` and `neuroxide predict`: a CSV file read for a saved
//! model (its feature columns found by name, its normalisation applied and checked), then
//! evaluated or turned into decoded predictions.

use crate::csv::regression_report;
use crate::csv::RegressionReport;
use neuroxide::data::{read_csv, CsvOptions, Dataset, TargetColumns, Task};
use neuroxide::error::{Error, Result};
use neuroxide::io::SavedModel;
use neuroxide::math::host;
use neuroxide::train::{evaluate, ConfusionMatrix, Evaluation, Metric};
use neuroxide::Tensor;
use std::path::Path;

/// A table read for a saved model: inputs in the model's feature order (normalised), and the
/// targets when the file has the target column(s).
pub struct PreparedTable {
    pub x: Tensor,
    pub y: Option<Tensor>,
    pub rows: usize,
}

/// The first row's fields, split at the sniffed delimiter (as [`read_csv`] will split them).
fn header_names(file: &Path) -> Result<Vec<String>> {
    let text = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    let delimiter = neuroxide::data::csv_detect::sniff_delimiter(&text).map_or(b',', |(d, _)| d);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_slice());
    let mut record = ::csv::StringRecord::new();
    reader
        .read_record(&mut record)
        .map_err(|e| Error::invalid(format!("{}: {e}", file.display())))?;
    Ok(record.iter().map(|s| s.trim().to_string()).collect())
}

/// Reads `file` for `saved`: every feature the model was trained on must be present (by name;
/// files without a header must have the same column layout), the target column(s) are used
/// when present (required when `need_targets`), and the saved normaliser is applied.
pub fn prepare_table(saved: &SavedModel, file: &Path, need_targets: bool) -> Result<PreparedTable> {
    let pre = saved.preprocessing.clone().ok_or_else(|| {
        Error::invalid(
            "this model was saved without preprocessing information (feature names); \
             it can only be used from Rust",
        )
    })?;
    if pre.feature_names.is_empty() {
        return Err(Error::invalid(
            "this model was not trained on a table (it has no feature names); \
             it can only be used from Rust",
        ));
    }
    let header = header_names(file)?;
    let has_targets =
        !pre.target_names.is_empty() && pre.target_names.iter().all(|t| header.contains(t));
    let has_targets = has_targets
        || (pre.feature_names.iter().all(|f| f.starts_with("column_"))
            && header.len() == pre.feature_names.len() + pre.target_names.len());
    if need_targets && !has_targets {
        return Err(Error::Data {
            file: file.to_path_buf(),
            line: 1,
            column: 0,
            message: format!(
                "the target column(s) {} the model was trained on are missing; columns: {}",
                pre.target_names.join(", "),
                header.join(", ")
            ),
        });
    }
    // Without a header the data module names columns `column_N`, as at training time.
    let mut options = CsvOptions::new().target(if has_targets {
        TargetColumns::Names(pre.target_names.clone())
    } else {
        TargetColumns::None
    });
    if let Some(task) = pre.task {
        options = options.task(task);
    }
    if let Some(enc) = &pre.label_encoder {
        if has_targets {
            options = options.label_encoder(enc.clone());
        }
    }
    let table = read_csv(file, &options)?;
    let mut order = Vec::with_capacity(pre.feature_names.len());
    for f in &pre.feature_names {
        let c = table
            .feature_names
            .iter()
            .position(|n| n == f)
            .ok_or_else(|| Error::Data {
                file: file.to_path_buf(),
                line: 1,
                column: 0,
                message: format!(
                    "feature column '{f}' the model was trained on is missing; columns: {}",
                    table.feature_names.join(", ")
                ),
            })?;
        order.push(c);
    }
    if let Some(extra) = table
        .feature_names
        .iter()
        .find(|n| !pre.feature_names.contains(n))
    {
        return Err(Error::Data {
            file: file.to_path_buf(),
            line: 1,
            column: 0,
            message: format!(
                "column '{extra}' is not a feature of the model (features: {}); remove it",
                pre.feature_names.join(", ")
            ),
        });
    }
    let rows = table.features.rows();
    let cols = table.features.row_len();
    let mut x = Vec::with_capacity(rows * order.len());
    for r in 0..rows {
        let row = &table.features.data()[r * cols..(r + 1) * cols];
        x.extend(order.iter().map(|&c| row[c]));
    }
    let mut x = Tensor::new(vec![rows, order.len()], x)?;
    if let Some(n) = &pre.normalizer {
        n.transform(&mut x)?;
        // A finite value can overflow when scaled; an infinity would reach the network, whose
        // ReLUs turn the resulting NaN into 0 and print a confident, meaningless prediction.
        let width = order.len().max(1);
        if let Some(i) = x.data().iter().position(|v| !v.is_finite()) {
            let (r, c) = (i / width, i % width);
            return Err(Error::Data {
                file: file.to_path_buf(),
                line: 0,
                column: 0,
                message: format!(
                    "data row {}, feature '{}': value {:e} becomes {} after the saved \
                     normalisation: it is far outside the range the model was trained on",
                    r + 1,
                    pre.feature_names[c],
                    table.features.data()[r * cols + order[c]],
                    x.data()[i]
                ),
            });
        }
    }
    let y = if has_targets {
        let mut y = table.targets;
        if let Some(tn) = &pre.target_normalizer {
            tn.transform(&mut y)?;
        }
        Some(y)
    } else {
        None
    };
    Ok(PreparedTable { x, y, rows })
}

/// Predictions of a saved model for a table, decoded: class names (with the probability of the
/// predicted class) for classification, values in original units for regression.
pub struct TablePredictions {
    /// Column names of `rows`.
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Softmax of one row of logits (f64, max-subtracted) — for display only.
fn softmax(row: &[f32]) -> Vec<f64> {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = row.iter().map(|&v| host::exp(f64::from(v - m))).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// Runs `saved.model` on `file` and decodes the outputs.
pub fn predict_table(saved: &mut SavedModel, file: &Path) -> Result<TablePredictions> {
    let table = prepare_table(saved, file, false)?;
    let pre = saved.preprocessing.clone().unwrap_or_default();
    let mut out = saved.model.predict(&table.x)?;
    // A NaN output would print as the first class (or a NaN value) with exit 0.
    let k = out.row_len().max(1);
    if let Some(i) = out.data().iter().position(|v| !v.is_finite()) {
        return Err(Error::Data {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: format!(
                "data row {}: the model's output {} is {}: the row's values are far outside the \
                 range the model was trained on",
                i / k + 1,
                i % k + 1,
                out.data()[i]
            ),
        });
    }
    let k = out.row_len();
    if pre.task == Some(Task::Classification) && k > 1 {
        let classes: Vec<String> = match &pre.label_encoder {
            Some(e) => e.classes().to_vec(),
            None => (0..k).map(|i| i.to_string()).collect(),
        };
        if classes.len() != k {
            return Err(Error::Format(format!(
                "the saved label encoder has {} classes, the model outputs {k}",
                classes.len()
            )));
        }
        let target = pre
            .target_names
            .first()
            .cloned()
            .unwrap_or_else(|| "class".into());
        let mut header = vec![format!("predicted_{target}"), "probability".into()];
        header.extend(classes.iter().map(|c| format!("p_{c}")));
        let best = out.argmax_rows();
        let rows = (0..out.rows())
            .map(|r| {
                let p = softmax(out.row(r));
                let mut row = vec![classes[best[r]].clone(), format!("{:.6}", p[best[r]])];
                row.extend(p.iter().map(|v| format!("{v:.6}")));
                row
            })
            .collect();
        return Ok(TablePredictions { header, rows });
    }
    if let Some(tn) = &pre.target_normalizer {
        tn.inverse_transform(&mut out)?;
    }
    let header = if pre.target_names.len() == k {
        pre.target_names
            .iter()
            .map(|t| format!("predicted_{t}"))
            .collect()
    } else {
        (0..k).map(|i| format!("output_{i}")).collect()
    };
    let rows = (0..out.rows())
        .map(|r| out.row(r).iter().map(|v| v.to_string()).collect())
        .collect();
    Ok(TablePredictions { header, rows })
}

/// Outcome of [`evaluate_table`].
pub struct TableEvaluation {
    /// Loss (in the model's training units) and device-counted accuracy.
    pub evaluation: Evaluation,
    pub confusion: Option<ConfusionMatrix>,
    /// Regression errors in original units (the baseline is the mean of this file's targets).
    pub regression: Option<RegressionReport>,
}

/// Evaluates a saved model on a table that has the target column(s).
pub fn evaluate_table(
    saved: &mut SavedModel,
    file: &Path,
    batch_size: usize,
) -> Result<TableEvaluation> {
    let table = prepare_table(saved, file, true)?;
    let y = table
        .y
        .ok_or_else(|| Error::invalid(format!("{}: no target column", file.display())))?;
    let pre = saved.preprocessing.clone().unwrap_or_default();
    let data = Dataset::new(table.x, y)?;
    let classification = pre.task == Some(Task::Classification);
    let metric = if classification {
        Metric::Accuracy
    } else {
        Metric::Mae
    };
    let evaluation = evaluate(&mut saved.model, &data, batch_size, &[metric])?;
    let predictions = evaluation
        .predictions
        .clone()
        .ok_or_else(|| Error::invalid("evaluation returned no predictions"))?;
    if classification {
        let names = pre
            .label_encoder
            .as_ref()
            .map(|e| e.classes().to_vec())
            .unwrap_or_default();
        let cm = ConfusionMatrix::from_predictions(&predictions, &data.y, &names)?;
        return Ok(TableEvaluation {
            evaluation,
            confusion: Some(cm),
            regression: None,
        });
    }
    let (mut pred, mut truth) = (predictions, data.y.clone());
    if let Some(tn) = &pre.target_normalizer {
        tn.inverse_transform(&mut pred)?;
        tn.inverse_transform(&mut truth)?;
    }
    let regression = regression_report(&pred, &truth, &truth)?;
    Ok(TableEvaluation {
        evaluation,
        confusion: None,
        regression: Some(regression),
    })
}
