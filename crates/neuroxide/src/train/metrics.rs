//! Evaluation metrics computed on the host from predictions and targets.
//!
//! During training, accuracy comes from the device-side counter (no download per step); these
//! functions serve `evaluate`, validation metrics that the device does not count (top-k, MAE,
//! …) and the confusion matrix. Every reduction sums in f64 over rows in increasing order, so the
//! result does not depend on the backend that produced the predictions.
//!
//! Target layouts: class indices are `[n, 1]` (or `[n]`); one-hot / soft targets have the same
//! row length as the predictions. The predicted class is the first index of the row maximum,
//! as in the device counter.

use crate::error::{Error, Result};
use crate::tensor::{HostData, Tensor};

/// A metric by name; see the free functions for the exact definitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// Fraction of rows whose arg-max matches the class index or the one-hot target's arg-max.
    Accuracy,
    /// Fraction of values on the right side of the threshold (0.5 for probabilities, 0 for
    /// logits), compared with targets thresholded at 0.5.
    BinaryAccuracy,
    /// Fraction of rows whose target class is among the `k` largest predictions.
    TopK(usize),
    /// Mean squared error over all values.
    Mse,
    /// Mean absolute error over all values.
    Mae,
}

impl Metric {
    /// The log name: `accuracy`, `binary_accuracy`, `top5_accuracy`, `mse`, `mae`.
    pub fn name(&self) -> String {
        match self {
            Metric::Accuracy => "accuracy".into(),
            Metric::BinaryAccuracy => "binary_accuracy".into(),
            Metric::TopK(k) => format!("top{k}_accuracy"),
            Metric::Mse => "mse".into(),
            Metric::Mae => "mae".into(),
        }
    }
    /// Parses a name as written by [`Metric::name`] (also `acc`, `top_k:5`).
    pub fn parse(name: &str) -> Result<Metric> {
        let lower = name.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "accuracy" | "acc" => Metric::Accuracy,
            "binary_accuracy" => Metric::BinaryAccuracy,
            "mse" => Metric::Mse,
            "mae" => Metric::Mae,
            other => {
                let k = other
                    .strip_prefix("top")
                    .and_then(|r| r.strip_suffix("_accuracy"))
                    .or_else(|| other.strip_prefix("top_k:"))
                    .and_then(|k| k.parse::<usize>().ok());
                match k {
                    Some(k) if k > 0 => Metric::TopK(k),
                    _ => {
                        return Err(Error::invalid(format!(
                        "unknown metric '{name}': expected accuracy, binary_accuracy, topK_accuracy, mse or mae"
                    )))
                    }
                }
            }
        })
    }
    /// Computes the metric; `from_logits` selects the binary threshold (0 instead of 0.5).
    pub fn compute(&self, pred: &Tensor, target: &Tensor, from_logits: bool) -> Result<f64> {
        match *self {
            Metric::Accuracy => accuracy(pred, target),
            Metric::BinaryAccuracy => {
                binary_accuracy(pred, target, if from_logits { 0.0 } else { 0.5 })
            }
            Metric::TopK(k) => top_k_accuracy(pred, target, k),
            Metric::Mse => mean_squared_error(pred, target),
            Metric::Mae => mean_absolute_error(pred, target),
        }
    }
}

/// The class of each target row: a class index (`row_len == 1` while predictions have more
/// columns) or the arg-max of a one-hot row.
pub fn target_classes(pred: &Tensor, target: &Tensor) -> Result<Vec<usize>> {
    let cols = pred.row_len();
    if pred.rows() != target.rows() {
        return Err(Error::Shape(format!(
            "predictions have {} rows, targets have {}",
            pred.rows(),
            target.rows()
        )));
    }
    if target.row_len() == cols && cols > 1 {
        return Ok(target.argmax_rows());
    }
    if target.row_len() != 1 || target.shape().len() > 2 {
        return Err(Error::Shape(format!(
            "targets of shape {:?} are neither class indices [n, 1] nor one-hot rows of {cols} values",
            target.shape()
        )));
    }
    let bad = |r: usize, v: &dyn std::fmt::Display| {
        Error::invalid(format!(
            "target row {r}: {v} is not a class index in 0..{cols}"
        ))
    };
    match target.values() {
        // i32 class labels (the data layer's); negative ones are errors too.
        HostData::I32(ids) => ids
            .iter()
            .enumerate()
            .map(|(r, &v)| {
                usize::try_from(v)
                    .ok()
                    .filter(|&c| c < cols)
                    .ok_or_else(|| bad(r, &v))
            })
            .collect(),
        _ => target
            .data()
            .iter()
            .enumerate()
            .map(|(r, &v)| {
                if v >= 0.0 && v.fract() == 0.0 && (v as usize) < cols {
                    Ok(v as usize)
                } else {
                    Err(bad(r, &v))
                }
            })
            .collect(),
    }
}

fn check_rows(pred: &Tensor) -> Result<()> {
    if pred.rows() == 0 || pred.shape().is_empty() {
        return Err(Error::Shape(format!(
            "cannot compute a metric on an empty prediction tensor (shape {:?})",
            pred.shape()
        )));
    }
    Ok(())
}

/// Fraction of rows whose predicted class (first arg-max) equals the target class (sparse or
/// one-hot targets).
pub fn accuracy(pred: &Tensor, target: &Tensor) -> Result<f64> {
    check_rows(pred)?;
    let truth = target_classes(pred, target)?;
    let hits = pred
        .argmax_rows()
        .iter()
        .zip(&truth)
        .filter(|(p, t)| p == t)
        .count();
    Ok(hits as f64 / truth.len() as f64)
}

/// Fraction of values with `(pred >= threshold) == (target >= 0.5)`.
pub fn binary_accuracy(pred: &Tensor, target: &Tensor, threshold: f32) -> Result<f64> {
    check_rows(pred)?;
    if pred.data().len() != target.data().len() {
        return Err(Error::Shape(format!(
            "binary accuracy: predictions of shape {:?} and targets of shape {:?} differ in size",
            pred.shape(),
            target.shape()
        )));
    }
    let hits = pred
        .data()
        .iter()
        .zip(target.data())
        .filter(|(&p, &t)| (p >= threshold) == (t >= 0.5))
        .count();
    Ok(hits as f64 / pred.data().len() as f64)
}

/// Fraction of rows whose target class is among the `k` largest predictions. Ties are broken
/// towards the lower index (a class counts as "above" the target when its value is larger, or
/// equal with a smaller index), matching the first-arg-max rule for `k = 1`.
pub fn top_k_accuracy(pred: &Tensor, target: &Tensor, k: usize) -> Result<f64> {
    check_rows(pred)?;
    if k == 0 {
        return Err(Error::invalid("top-k accuracy needs k >= 1"));
    }
    let truth = target_classes(pred, target)?;
    let mut hits = 0usize;
    for (r, &t) in truth.iter().enumerate() {
        let row = pred.row(r);
        let tv = row[t];
        let above = row
            .iter()
            .enumerate()
            .filter(|&(j, &v)| v > tv || (v == tv && j < t))
            .count();
        if above < k {
            hits += 1;
        }
    }
    Ok(hits as f64 / truth.len() as f64)
}

fn check_same_size(what: &str, pred: &Tensor, target: &Tensor) -> Result<()> {
    check_rows(pred)?;
    if pred.data().len() != target.data().len() {
        return Err(Error::Shape(format!(
            "{what}: predictions of shape {:?} and targets of shape {:?} differ in size",
            pred.shape(),
            target.shape()
        )));
    }
    Ok(())
}

/// Mean of `(pred - target)^2` over every value (f64 sum in index order).
pub fn mean_squared_error(pred: &Tensor, target: &Tensor) -> Result<f64> {
    check_same_size("mse", pred, target)?;
    let s: f64 = pred
        .data()
        .iter()
        .zip(target.data())
        .map(|(&p, &t)| {
            let d = f64::from(p) - f64::from(t);
            d * d
        })
        .sum();
    Ok(s / pred.data().len() as f64)
}

/// Mean of `|pred - target|` over every value (f64 sum in index order).
pub fn mean_absolute_error(pred: &Tensor, target: &Tensor) -> Result<f64> {
    check_same_size("mae", pred, target)?;
    let s: f64 = pred
        .data()
        .iter()
        .zip(target.data())
        .map(|(&p, &t)| (f64::from(p) - f64::from(t)).abs())
        .sum();
    Ok(s / pred.data().len() as f64)
}

/// Coefficient of determination `1 - SS_res / SS_tot` over all values, with `SS_tot` taken
/// around the mean of `target` (scikit-learn's `r2_score` for one output).
pub fn r2_score(pred: &Tensor, target: &Tensor) -> Result<f64> {
    check_same_size("r2", pred, target)?;
    let n = target.data().len() as f64;
    let mean = target.data().iter().map(|&t| f64::from(t)).sum::<f64>() / n;
    let ss_tot: f64 = target
        .data()
        .iter()
        .map(|&t| (f64::from(t) - mean) * (f64::from(t) - mean))
        .sum();
    let ss_res = mean_squared_error(pred, target)? * n;
    if ss_tot == 0.0 {
        return Ok(if ss_res == 0.0 { 1.0 } else { 0.0 });
    }
    Ok(1.0 - ss_res / ss_tot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::new(shape.to_vec(), v.to_vec()).unwrap()
    }

    #[test]
    fn accuracy_sparse_and_one_hot() {
        let p = t(&[3, 3], &[0.1, 0.7, 0.2, 0.5, 0.4, 0.1, 0.3, 0.3, 0.3]);
        // Row 2 ties: first arg-max is class 0.
        let sparse = t(&[3, 1], &[1.0, 1.0, 0.0]);
        assert_eq!(accuracy(&p, &sparse).unwrap(), 2.0 / 3.0);
        let onehot = t(&[3, 3], &[0., 1., 0., 1., 0., 0., 0., 0., 1.]);
        assert_eq!(accuracy(&p, &onehot).unwrap(), 2.0 / 3.0);
        let bad = t(&[3, 1], &[1.0, 3.0, 0.0]);
        let e = accuracy(&p, &bad).unwrap_err().to_string();
        assert!(
            e.contains("target row 1: 3 is not a class index in 0..3"),
            "{e}"
        );
    }

    #[test]
    fn binary_accuracy_thresholds() {
        let p = t(&[4, 1], &[0.2, 0.6, 0.5, -0.1]);
        let y = t(&[4, 1], &[0.0, 1.0, 0.0, 0.0]);
        assert_eq!(binary_accuracy(&p, &y, 0.5).unwrap(), 0.75);
        assert_eq!(binary_accuracy(&p, &y, 0.0).unwrap(), 0.5);
        assert_eq!(
            Metric::BinaryAccuracy.compute(&p, &y, true).unwrap(),
            binary_accuracy(&p, &y, 0.0).unwrap()
        );
    }

    #[test]
    fn top_k_counts_ties_towards_lower_index() {
        let p = t(&[2, 4], &[0.1, 0.4, 0.3, 0.2, 0.5, 0.5, 0.5, 0.0]);
        let y = t(&[2, 1], &[2.0, 2.0]);
        assert_eq!(top_k_accuracy(&p, &y, 1).unwrap(), 0.0);
        assert_eq!(top_k_accuracy(&p, &y, 2).unwrap(), 0.5);
        assert_eq!(top_k_accuracy(&p, &y, 3).unwrap(), 1.0);
    }

    #[test]
    fn regression_errors() {
        let p = t(&[4, 1], &[1.0, 2.0, 3.0, 4.0]);
        let y = t(&[4, 1], &[1.0, 1.0, 5.0, 4.0]);
        assert_eq!(mean_squared_error(&p, &y).unwrap(), 5.0 / 4.0);
        assert_eq!(mean_absolute_error(&p, &y).unwrap(), 3.0 / 4.0);
        // mean 2.75; ss_tot = 3.0625 + 3.0625 + 5.0625 + 1.5625 = 12.75
        assert!((r2_score(&p, &y).unwrap() - (1.0 - 5.0 / 12.75)).abs() < 1e-12);
        let short = t(&[3, 1], &[1.0, 2.0, 3.0]);
        let e = mean_absolute_error(&p, &short).unwrap_err().to_string();
        assert!(e.contains("mae: predictions of shape [4, 1]"), "{e}");
    }

    #[test]
    fn metric_names_round_trip() {
        for m in [
            Metric::Accuracy,
            Metric::BinaryAccuracy,
            Metric::TopK(5),
            Metric::Mse,
            Metric::Mae,
        ] {
            assert_eq!(Metric::parse(&m.name()).unwrap(), m);
        }
        let e = Metric::parse("f1").unwrap_err().to_string();
        assert!(e.contains("unknown metric 'f1'"), "{e}");
    }
}
