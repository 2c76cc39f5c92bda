//! What a model needs besides its weights to turn a raw table into predictions: the feature
//! columns it expects, the input normalisation fitted on the training split, and the class
//! labels (or the target scaling of a regression). Saved in the architecture file.

use crate::data::{LabelEncoder, Normalizer, Task};
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
