//! What a model needs besides its weights to turn a raw table into predictions: the feature
//! columns it expects, the input normalisation fitted on the training split, and the class
//! labels (or the target scaling of a regression). Saved in the architecture file.

use crate::data::{LabelEncoder, Normalizer, Task};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Input and output transformations saved with a model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocessing {
    /// Classification or regression, when trained from a table.
    #[serde(default)]
    pub task: Option<Task>,
    /// Feature columns, in the order the model takes them.
    #[serde(default)]
    pub feature_names: Vec<String>,
    /// Target columns.
    #[serde(default)]
    pub target_names: Vec<String>,
    /// Class labels of a classification target (prediction `i` is `classes[i]`).
    #[serde(default)]
    pub label_encoder: Option<LabelEncoder>,
    /// Input scaling fitted on the training split.
    #[serde(default)]
    pub normalizer: Option<Normalizer>,
    /// Target scaling of a regression (predictions are mapped back with its inverse).
    #[serde(default)]
    pub target_normalizer: Option<Normalizer>,
}

impl Preprocessing {
    /// Checks the section against the model it was saved with (`inputs` features per sample,
    /// `outputs` values per sample): every list has one entry per feature or output, and every
    /// scale is finite and non-zero (a zero scale turns inputs into infinities, a NaN shift
    /// turns every prediction into NaN). `file` names the file in messages.
    pub fn validate(&self, file: &str, inputs: usize, outputs: usize) -> Result<()> {
        let bad = |m: String| Error::Format(format!("{file}: preprocessing: {m}"));
        let names = &self.feature_names;
        if !names.is_empty() && names.len() != inputs {
            return Err(bad(format!(
                "{} feature names for a model with {inputs} inputs",
                names.len()
            )));
        }
        let column = |c: usize| match names.get(c) {
            Some(n) => format!("feature '{n}' (column {})", c + 1),
            None => format!("column {}", c + 1),
        };
        if let Some(n) = &self.normalizer {
            check_normalizer(n, "normalizer", inputs, "inputs", &column).map_err(bad)?;
        }
        if let Some(n) = &self.target_normalizer {
            let target = |c: usize| match self.target_names.get(c) {
                Some(t) => format!("target '{t}'"),
                None => format!("output {}", c + 1),
            };
            check_normalizer(n, "target_normalizer", outputs, "outputs", &target).map_err(bad)?;
        }
        if let Some(e) = &self.label_encoder {
            let k = e.num_classes();
            if self.task == Some(Task::Classification) && outputs > 1 && k != outputs {
                return Err(bad(format!(
                    "label_encoder has {k} classes, the model outputs {outputs}"
                )));
            }
        }
        Ok(())
    }
}

fn check_normalizer(
    n: &Normalizer,
    what: &str,
    expected: usize,
    of: &str,
    name: &dyn Fn(usize) -> String,
) -> std::result::Result<(), String> {
    if n.shift.len() != expected || n.scale.len() != expected {
        return Err(format!(
            "{what} has {} shifts and {} scales, the model has {expected} {of}",
            n.shift.len(),
            n.scale.len()
        ));
    }
    if let Some(c) = n.scale.iter().position(|s| *s == 0.0 || !s.is_finite()) {
        return Err(format!(
            "{what} scale of {} is {}: it must be a finite non-zero number",
            name(c),
            n.scale[c]
        ));
    }
    if let Some(c) = n.shift.iter().position(|s| !s.is_finite()) {
        return Err(format!(
            "{what} shift of {} is {}: it must be finite",
            name(c),
            n.shift[c]
        ));
    }
    Ok(())
}
