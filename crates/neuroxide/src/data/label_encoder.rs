//! Class labels ↔ class indices. Saved with a model so that predictions can be decoded back to
//! the labels of the training file.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The ordered list of class labels; class `i` is `classes[i]`.
///
/// Order (deterministic, independent of the row order): when every label parses as a number,
/// labels are sorted numerically (so `0..9` map to themselves and `10` comes after `9`);
/// otherwise they are sorted by their UTF-8 bytes. Labels are compared after trimming
/// surrounding whitespace; numeric labels that denote the same value (`1` and `1.0`) are one
/// class, named by its first spelling in sorted order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEncoder {
    classes: Vec<String>,
}

fn as_number(label: &str) -> Option<f64> {
    label.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

impl LabelEncoder {
    /// Collects the distinct labels of `labels` in the order described on the type.
    pub fn fit<'s>(labels: impl IntoIterator<Item = &'s str>) -> Self {
        let mut classes: Vec<String> = labels.into_iter().map(|s| s.trim().to_string()).collect();
        classes.sort_unstable();
        classes.dedup();
        if classes.iter().all(|c| as_number(c).is_some()) {
            let mut numbered: Vec<(f64, String)> = classes
                .into_iter()
                .filter_map(|c| as_number(&c).map(|v| (v, c)))
                .collect();
            numbered.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            numbered.dedup_by(|later, first| later.0 == first.0);
            classes = numbered.into_iter().map(|(_, c)| c).collect();
        }
        LabelEncoder { classes }
    }

    /// An encoder with exactly these classes, in this order; labels must be distinct.
    pub fn from_classes(classes: Vec<String>) -> Result<Self> {
        for (i, c) in classes.iter().enumerate() {
            if classes[..i].contains(c) {
                return Err(Error::invalid(format!("duplicate class label '{c}'")));
            }
        }
        Ok(LabelEncoder { classes })
    }

    /// The class labels, index order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// The index of `label`, or `None` for a label not seen when fitting.
    pub fn encode(&self, label: &str) -> Option<usize> {
        let label = label.trim();
        if let Some(i) = self.classes.iter().position(|c| c == label) {
            return Some(i);
        }
        let v = as_number(label)?;
        self.classes.iter().position(|c| as_number(c) == Some(v))
    }

    /// The label of class `index`, or `None` when out of range.
    pub fn decode(&self, index: usize) -> Option<&str> {
        self.classes.get(index).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_labels_sort_bytewise() {
        let e = LabelEncoder::fit(["virginica", "setosa", "versicolor", "setosa"]);
        assert_eq!(e.classes(), ["setosa", "versicolor", "virginica"]);
        assert_eq!(e.encode("versicolor"), Some(1));
        assert_eq!(e.encode(" virginica "), Some(2));
        assert_eq!(e.encode("rose"), None);
        assert_eq!(e.decode(0), Some("setosa"));
        assert_eq!(e.decode(3), None);
    }

    #[test]
    fn numeric_labels_sort_by_value() {
        let e = LabelEncoder::fit(["10", "2", "-1", "2.0", "9"]);
        assert_eq!(e.classes(), ["-1", "2", "9", "10"]);
        assert_eq!(e.encode("2.0"), Some(1));
        assert_eq!(e.encode("10"), Some(3));
    }

    #[test]
    fn serde_round_trip() {
        let e = LabelEncoder::fit(["b", "a"]);
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(s, r#"{"classes":["a","b"]}"#);
        assert_eq!(serde_json::from_str::<LabelEncoder>(&s).unwrap(), e);
    }
}
