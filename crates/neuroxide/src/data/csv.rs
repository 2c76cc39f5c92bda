//! CSV tables → feature and target tensors, with delimiter and header detection, target
//! selection, automatic task detection and label encoding. Every error names the file and the
//! 1-based line and column (field) of the offending value; every automatic decision is recorded
//! in [`CsvData::notes`] with its reason (see [`super::csv_detect`]).

use super::csv_detect::{self, is_missing, AutoTask};
use crate::data::dataset::Dataset;
use crate::data::label_encoder::LabelEncoder;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Numeric target columns with at most this many distinct integer values are treated as class
/// labels when the task is detected automatically.
pub const MAX_AUTO_CLASSES: usize = 20;

/// Field values read as "missing" (compared case-insensitively after trimming).
pub const MISSING_MARKERS: [&str; 6] = ["", "?", "na", "n/a", "nan", "null"];

/// Which columns hold the targets; all other columns are features.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum TargetColumns {
    /// The last column (the default).
    #[default]
    Last,
    /// Columns by header name (without a header the names are `column_1`, `column_2`, …).
    Names(Vec<String>),
    /// Columns by 0-based index.
    Indices(Vec<usize>),
    /// No targets: every column is a feature (e.g. inputs for prediction).
    None,
}

impl TargetColumns {
    /// One target column by header name.
    pub fn name(name: impl Into<String>) -> Self {
        TargetColumns::Names(vec![name.into()])
    }
    /// One target column by 0-based index.
    pub fn index(index: usize) -> Self {
        TargetColumns::Indices(vec![index])
    }
}

/// What the targets mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    /// One column of class labels, encoded as class indices `0..k` in an i32 tensor.
    Classification,
    /// One or more numeric columns, kept as values.
    Regression,
}

/// How to read a CSV file. `CsvOptions::default()` detects the header and the task and uses the
/// last column as the target.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvOptions {
    /// `Some(true/false)` forces; `None` detects (see [`csv_detect::detect_header`]).
    pub has_header: Option<bool>,
    /// The target column(s).
    pub target: TargetColumns,
    /// `None` detects (see [`csv_detect::auto_task`]): text labels or at most
    /// [`MAX_AUTO_CLASSES`] distinct integers are a classification, other numbers a regression,
    /// and a numeric column holding some text is an error. A given `label_encoder` implies
    /// classification. A given task always wins over detection.
    pub task: Option<Task>,
    /// Field separator byte; `None` (the default) sniffs it among `, ; TAB |`
    /// (see [`csv_detect::sniff_delimiter`]), falling back to `,`.
    pub delimiter: Option<u8>,
    /// For classification: encode labels with this encoder (e.g. the one saved with a model)
    /// instead of fitting a new one; a label it does not know is an error.
    pub label_encoder: Option<LabelEncoder>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            has_header: None,
            target: TargetColumns::Last,
            task: None,
            delimiter: None,
            label_encoder: None,
        }
    }
}

impl CsvOptions {
    /// Same as `CsvOptions::default()`.
    pub fn new() -> Self {
        Self::default()
    }
    /// Forces whether the first row is a header.
    pub fn has_header(mut self, has_header: bool) -> Self {
        self.has_header = Some(has_header);
        self
    }
    /// Sets the target column(s).
    pub fn target(mut self, target: TargetColumns) -> Self {
        self.target = target;
        self
    }
    /// Forces the task.
    pub fn task(mut self, task: Task) -> Self {
        self.task = Some(task);
        self
    }
    /// Sets the field separator.
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = Some(delimiter);
        self
    }
    /// Encodes class labels with an existing encoder.
    pub fn label_encoder(mut self, encoder: LabelEncoder) -> Self {
        self.label_encoder = Some(encoder);
        self
    }
}

/// A parsed table.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvData {
    /// `[rows, feature columns]`, in file column order.
    pub features: Tensor,
    /// Classification: `[rows, 1]` class indices as f32. Regression: `[rows, target columns]`.
    /// No targets: `[rows, 0]`.
    pub targets: Tensor,
    /// Names of the feature columns (header names, or `column_N` with N 1-based).
    pub feature_names: Vec<String>,
    /// Names of the target columns.
    pub target_names: Vec<String>,
    /// The task, `None` when there are no target columns.
    pub task: Option<Task>,
    /// The label encoder of a classification target.
    pub label_encoder: Option<LabelEncoder>,
    /// What was detected automatically and why (delimiter, header row, task), one sentence
    /// each, for the user to see; empty when everything was given explicitly.
    pub notes: Vec<String>,
}

impl CsvData {
    /// Number of classes of a classification target.
    pub fn num_classes(&self) -> Option<usize> {
        self.label_encoder.as_ref().map(LabelEncoder::num_classes)
    }
    /// Features and targets as a [`Dataset`] (copies the tensors).
    pub fn dataset(&self) -> Result<Dataset> {
        Dataset::new(self.features.clone(), self.targets.clone())
    }
    /// Features and targets as a [`Dataset`].
    pub fn into_dataset(self) -> Result<Dataset> {
        Dataset::new(self.features, self.targets)
    }
}

/// Reads a CSV file.
pub fn read_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<CsvData> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_csv_from(std::io::BufReader::new(file), path, options)
}

/// Reads CSV text from any reader; `file` is the name used in error messages.
pub fn read_csv_from<R: Read>(
    reader: R,
    file: impl Into<PathBuf>,
    options: &CsvOptions,
) -> Result<CsvData> {
    Parser {
        file: file.into(),
        options,
    }
    .parse(reader)
}

struct Parser<'o> {
    file: PathBuf,
    options: &'o CsvOptions,
}

/// A data row with its 1-based line number.
struct Row {
    line: usize,
    fields: csv::StringRecord,
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Parser<'_> {
    fn err(&self, line: usize, column: usize, message: impl Into<String>) -> Error {
        Error::Data {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    fn csv_error(&self, e: csv::Error) -> Error {
        let line = e.position().map_or(0, |p| p.line() as usize);
        match e.into_kind() {
            csv::ErrorKind::Io(io) => Error::io(&self.file, io),
            csv::ErrorKind::Utf8 { err, .. } => self.err(
                line,
                err.field() + 1,
                format!(
                    "malformed row: field is not valid UTF-8 (bad byte after {} valid bytes)",
                    err.valid_up_to()
                ),
            ),
            other => self.err(line, 0, format!("malformed row: {other:?}")),
        }
    }

    /// The delimiter to use, with a note when it was sniffed.
    fn delimiter(&self, text: &[u8], notes: &mut Vec<String>) -> u8 {
        if let Some(d) = self.options.delimiter {
            return d;
        }
        match csv_detect::sniff_delimiter(text) {
            Some((d, note)) => {
                if d != b',' {
                    notes.push(note);
                }
                d
            }
            None => b',',
        }
    }

    fn read_rows(&self, text: &[u8], delimiter: u8) -> Result<Vec<Row>> {
        if let Some(open) = csv_detect::unterminated_quote(text, delimiter) {
            return Err(self.err(
                open.line,
                open.field,
                "unterminated quoted field: the quote opened here is never closed, so the rest \
                 of the file would be read as one value; close the quote or escape it as \"\"",
            ));
        }
        let mut csv_reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .trim(csv::Trim::All)
            .from_reader(text);
        let mut rows = Vec::new();
        for record in csv_reader.records() {
            let record = record.map_err(|e| self.csv_error(e))?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            rows.push(Row {
                line,
                fields: record,
            });
        }
        Ok(rows)
    }

    fn parse<R: Read>(&self, mut reader: R) -> Result<CsvData> {
        let mut text = Vec::new();
        reader
            .read_to_end(&mut text)
            .map_err(|e| Error::io(&self.file, e))?;
        let mut notes = Vec::new();
        let delimiter = self.delimiter(&text, &mut notes);
        let rows = self.read_rows(&text, delimiter)?;
        drop(text);
        let Some(first) = rows.first() else {
            return Err(self.err(0, 0, "the file is empty (no rows)"));
        };
        let has_header = match self.options.has_header {
            Some(h) => h,
            None => {
                let r0: Vec<&str> = first.fields.iter().collect();
                let r1: Option<Vec<&str>> = rows.get(1).map(|r| r.fields.iter().collect());
                let (h, note) = csv_detect::detect_header(&r0, r1.as_deref());
                notes.push(note);
                h
            }
        };
        let n_fields = first.fields.len();
        let names: Vec<String> = (0..n_fields)
            .map(|c| match first.fields.get(c) {
                Some(name) if has_header && !name.is_empty() => name.to_string(),
                _ => format!("column_{}", c + 1),
            })
            .collect();
        if has_header {
            self.check_unique(&names, first.line)?;
        }
        let data = &rows[usize::from(has_header)..];
        if data.is_empty() {
            return Err(self.err(
                first.line,
                0,
                format!(
                    "the file has a header row ({}) but no data rows",
                    list(&names)
                ),
            ));
        }
        for row in data {
            if row.fields.len() != n_fields {
                return Err(self.err(
                    row.line,
                    0,
                    format!(
                        "ragged row: expected {n_fields} fields (as in line {}), got {}",
                        first.line,
                        row.fields.len()
                    ),
                ));
            }
        }
        let target_cols = self.target_columns(&names, if has_header { first.line } else { 0 })?;
        let feature_cols: Vec<usize> = (0..n_fields).filter(|c| !target_cols.contains(c)).collect();
        if feature_cols.is_empty() {
            return Err(self.err(
                0,
                0,
                format!(
                    "no feature columns left: the file has only the column(s) {}, all of them \
                     targets{}",
                    list(&names),
                    csv_detect::delimiter_hint(&first.fields.iter().collect::<Vec<_>>(), delimiter)
                ),
            ));
        }
        let features = self.numeric_block(data, &feature_cols, &names, "feature")?;
        let feature_names = feature_cols.iter().map(|&c| names[c].clone()).collect();
        let target_names: Vec<String> = target_cols.iter().map(|&c| names[c].clone()).collect();
        let task = self.task(data, &target_cols, &names, &mut notes)?;
        let (targets, label_encoder) = match task {
            None => (Tensor::zeros(vec![data.len(), 0]), None),
            Some(Task::Regression) => (
                self.numeric_block(data, &target_cols, &names, "target")?,
                None,
            ),
            Some(Task::Classification) => {
                let (t, e) = self.classes(data, target_cols[0], &names[target_cols[0]])?;
                (t, Some(e))
            }
        };
        Ok(CsvData {
            features,
            targets,
            feature_names,
            target_names,
            task,
            label_encoder,
            notes,
        })
    }

    /// Duplicate header names would make `--target` and the saved feature order ambiguous.
    fn check_unique(&self, names: &[String], line: usize) -> Result<()> {
        match csv_detect::duplicate_names(names) {
            None => Ok(()),
            Some(described) => Err(self.err(
                line,
                0,
                format!(
                    "duplicate column name(s) in the header: {described}; rename them so that \
                     each column has its own name"
                ),
            )),
        }
    }

    fn target_columns(&self, names: &[String], header_line: usize) -> Result<Vec<usize>> {
        let n = names.len();
        let cols = match &self.options.target {
            TargetColumns::None => Vec::new(),
            TargetColumns::Last => vec![n - 1],
            TargetColumns::Indices(idx) => {
                if let Some(&bad) = idx.iter().find(|&&i| i >= n) {
                    return Err(self.err(
                        0,
                        0,
                        format!(
                            "target column index {bad} (0-based) is out of range: the file has \
                             {n} columns: {}",
                            list(names)
                        ),
                    ));
                }
                idx.clone()
            }
            TargetColumns::Names(wanted) => {
                let mut cols = Vec::with_capacity(wanted.len());
                for w in wanted {
                    let Some(c) = names.iter().position(|n| n == w.trim()) else {
                        return Err(self.err(
                            header_line,
                            0,
                            format!(
                                "unknown target column '{w}'; available columns: {}",
                                list(names)
                            ),
                        ));
                    };
                    cols.push(c);
                }
                cols
            }
        };
        for (i, c) in cols.iter().enumerate() {
            if cols[..i].contains(c) {
                return Err(self.err(
                    0,
                    0,
                    format!("target column '{}' is listed twice", names[*c]),
                ));
            }
        }
        Ok(cols)
    }

    fn task(
        &self,
        data: &[Row],
        cols: &[usize],
        names: &[String],
        notes: &mut Vec<String>,
    ) -> Result<Option<Task>> {
        if cols.is_empty() {
            return Ok(None);
        }
        let task = match (self.options.task, &self.options.label_encoder) {
            (Some(t), _) => t,
            (None, Some(_)) => Task::Classification,
            (None, None) if cols.len() > 1 => Task::Regression,
            (None, None) => {
                let c = cols[0];
                let values = data.iter().map(|r| r.fields.get(c).unwrap_or(""));
                match csv_detect::auto_task(&names[c], values) {
                    AutoTask::Decided(t, note) => {
                        notes.push(note);
                        t
                    }
                    AutoTask::Mixed {
                        row,
                        numbers,
                        texts,
                    } => {
                        let r = &data[row];
                        return Err(self.err(
                            r.line,
                            c + 1,
                            format!(
                                "target column '{}' holds {numbers} numbers but also {texts} \
                                 non-numeric value(s), the first {:?} here: fix the value, or \
                                 pass --task classification if the values are class labels",
                                names[c],
                                r.fields.get(c).unwrap_or("")
                            ),
                        ));
                    }
                }
            }
        };
        if task == Task::Classification && cols.len() != 1 {
            return Err(self.err(
                0,
                0,
                format!(
                    "classification needs exactly one target column, got {}: {}",
                    cols.len(),
                    list(&cols.iter().map(|&c| names[c].clone()).collect::<Vec<_>>())
                ),
            ));
        }
        Ok(Some(task))
    }

    fn missing(&self, row: &Row, col: usize, name: &str) -> Error {
        let v = row.fields.get(col).unwrap_or("");
        let what = if v.is_empty() {
            "empty field".to_string()
        } else {
            format!("{v:?}")
        };
        self.err(
            row.line,
            col + 1,
            format!("missing value ({what}) in column '{name}'; fill or drop incomplete rows"),
        )
    }

    /// The given columns of every row as a `[rows, cols.len()]` tensor of f32.
    fn numeric_block(
        &self,
        data: &[Row],
        cols: &[usize],
        names: &[String],
        kind: &str,
    ) -> Result<Tensor> {
        let mut values = Vec::with_capacity(data.len() * cols.len());
        for row in data {
            for &c in cols {
                let field = row.fields.get(c).unwrap_or("");
                if is_missing(field) {
                    return Err(self.missing(row, c, &names[c]));
                }
                let v: f32 = field.parse().map_err(|_| {
                    self.err(
                        row.line,
                        c + 1,
                        format!(
                            "non-numeric value {field:?} in {kind} column '{}'{}",
                            names[c],
                            if kind == "feature" {
                                " (features must be numbers; encode categories first)"
                            } else {
                                " (regression targets must be numbers)"
                            }
                        ),
                    )
                })?;
                if !v.is_finite() {
                    return Err(self.err(
                        row.line,
                        c + 1,
                        format!(
                            "value {field:?} in {kind} column '{}' is not finite",
                            names[c]
                        ),
                    ));
                }
                values.push(v);
            }
        }
        Tensor::new(vec![data.len(), cols.len()], values)
    }

    /// Class indices of column `col` as a `[rows, 1]` tensor, with the encoder used.
    fn classes(&self, data: &[Row], col: usize, name: &str) -> Result<(Tensor, LabelEncoder)> {
        for row in data {
            if is_missing(row.fields.get(col).unwrap_or("")) {
                return Err(self.missing(row, col, name));
            }
        }
        let encoder = match &self.options.label_encoder {
            Some(e) => e.clone(),
            None => {
                let e = LabelEncoder::fit(data.iter().map(|r| r.fields.get(col).unwrap_or("")));
                if e.num_classes() < 2 {
                    return Err(self.err(
                        0,
                        col + 1,
                        format!(
                            "classification target '{name}' has a single class ({:?}) in all {} \
                             rows; it needs at least 2",
                            e.decode(0).unwrap_or(""),
                            data.len()
                        ),
                    ));
                }
                e
            }
        };
        let mut values = Vec::with_capacity(data.len());
        for row in data {
            let label = row.fields.get(col).unwrap_or("");
            let Some(i) = encoder.encode(label) else {
                return Err(self.err(
                    row.line,
                    col + 1,
                    format!(
                        "unknown class label {label:?} in column '{name}'; known classes: {}",
                        list(encoder.classes())
                    ),
                ));
            };
            let id = i32::try_from(i).map_err(|_| {
                self.err(
                    row.line,
                    col + 1,
                    format!("class index {i} exceeds the i32 range"),
                )
            })?;
            values.push(id);
        }
        Ok((Tensor::from_i32(vec![data.len(), 1], values)?, encoder))
    }
}
