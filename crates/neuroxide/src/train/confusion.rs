//! Confusion matrix for classification evaluation, with per-class precision and recall and a
//! pretty printer.

use super::metrics::target_classes;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::fmt;

/// `counts[t][p]` = rows whose true class is `t` and predicted class is `p`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    pub classes: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Builds the matrix from prediction rows (scores, arg-max is the predicted class) and
    /// targets (class indices or one-hot rows). `classes` names the classes; empty means
    /// `0, 1, …`.
    pub fn from_predictions(pred: &Tensor, target: &Tensor, classes: &[String]) -> Result<Self> {
        let k = pred.row_len();
        if k < 2 {
            return Err(Error::Shape(format!(
                "a confusion matrix needs at least 2 prediction columns, got {k} (shape {:?})",
                pred.shape()
            )));
        }
        let names: Vec<String> = if classes.is_empty() {
            (0..k).map(|c| c.to_string()).collect()
        } else if classes.len() == k {
            classes.to_vec()
        } else {
            return Err(Error::Shape(format!(
                "{} class names for predictions with {k} columns",
                classes.len()
            )));
        };
        let truth = target_classes(pred, target)?;
        let mut counts = vec![vec![0u64; k]; k];
        for (p, t) in pred.argmax_rows().into_iter().zip(truth) {
            counts[t][p] += 1;
        }
        Ok(ConfusionMatrix {
            classes: names,
            counts,
        })
    }
    /// Total number of rows.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }
    /// Fraction on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let diag: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        diag as f64 / self.total().max(1) as f64
    }
    /// Of the rows predicted as `c`, the fraction that are `c` (0 when none is predicted).
    pub fn precision(&self, c: usize) -> f64 {
        let col: u64 = self.counts.iter().map(|r| r[c]).sum();
        if col == 0 {
            0.0
        } else {
            self.counts[c][c] as f64 / col as f64
        }
    }
    /// Of the rows of class `c`, the fraction predicted as `c` (0 when the class is absent).
    pub fn recall(&self, c: usize) -> f64 {
        let row: u64 = self.counts[c].iter().sum();
        if row == 0 {
            0.0
        } else {
            self.counts[c][c] as f64 / row as f64
        }
    }
}

/// Rows are true classes, columns predicted classes, then recall; a last row gives precision.
impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label_w = self
            .classes
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
            .max("true \\ pred".len())
            .min(24);
        let max_count = self.counts.iter().flatten().copied().max().unwrap_or(0);
        let cell_w = self
            .classes
            .iter()
            .map(|c| c.chars().count().min(12))
            .max()
            .unwrap_or(1)
            .max(max_count.to_string().len())
            .max(6);
        let clip = |s: &str, w: usize| -> String { s.chars().take(w).collect() };
        write!(f, "{:<label_w$}", "true \\ pred")?;
        for c in &self.classes {
            write!(f, " {:>cell_w$}", clip(c, cell_w))?;
        }
        writeln!(f, " {:>cell_w$}", "recall")?;
        for (i, row) in self.counts.iter().enumerate() {
            write!(f, "{:<label_w$}", clip(&self.classes[i], label_w))?;
            for v in row {
                write!(f, " {v:>cell_w$}")?;
            }
            writeln!(f, " {:>cell_w$.3}", self.recall(i))?;
        }
        write!(f, "{:<label_w$}", "precision")?;
        for c in 0..self.classes.len() {
            write!(f, " {:>cell_w$.3}", self.precision(c))?;
        }
        writeln!(f)?;
        write!(
            f,
            "accuracy {:.4} ({} of {})",
            self.accuracy(),
            (0..self.counts.len())
                .map(|i| self.counts[i][i])
                .sum::<u64>(),
            self.total()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_precision_recall_and_printing() {
        let pred = Tensor::new(
            [5, 3],
            vec![
                0.9, 0.0, 0.1, // 0
                0.1, 0.8, 0.1, // 1
                0.2, 0.7, 0.1, // 1
                0.0, 0.1, 0.9, // 2
                0.6, 0.3, 0.1, // 0
            ],
        )
        .unwrap();
        let y = Tensor::new([5, 1], vec![0.0, 1.0, 2.0, 2.0, 1.0]).unwrap();
        let names = ["setosa", "versicolor", "virginica"].map(String::from);
        let cm = ConfusionMatrix::from_predictions(&pred, &y, &names).unwrap();
        assert_eq!(cm.counts, vec![vec![1, 0, 0], vec![1, 1, 0], vec![0, 1, 1]]);
        assert_eq!(cm.accuracy(), 0.6);
        assert_eq!(cm.precision(0), 0.5);
        assert_eq!(cm.recall(2), 0.5);
        let s = cm.to_string();
        assert!(s.contains("versicolor"), "{s}");
        assert!(s.lines().nth(2).unwrap().starts_with("versicolor"), "{s}");
        assert!(s.ends_with("accuracy 0.6000 (3 of 5)"), "{s}");
        let e = ConfusionMatrix::from_predictions(&pred, &y, &names[..2])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 class names for predictions with 3 columns"),
            "{e}"
        );
    }
}
