//! Per-epoch logs and the training history `fit` returns.
//!
//! Names follow Keras: `loss`, `accuracy`, and the same with a `val_` prefix for the validation
//! data; schedules add `lr`. Values are f64 so that host-side metrics keep their precision; the
//! device-side loss is an f32 widened exactly.

/// The named values of one epoch, in the order they were added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logs {
    entries: Vec<(String, f64)>,
}

impl Logs {
    /// Empty logs.
    pub fn new() -> Self {
        Logs::default()
    }
    /// Sets `name` to `value`, replacing an existing entry in place.
    pub fn set(&mut self, name: &str, value: f64) {
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(e) => e.1 = value,
            None => self.entries.push((name.to_string(), value)),
        }
    }
    /// The value of `name`, if logged.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }
    /// All entries, in insertion order.
    pub fn entries(&self) -> &[(String, f64)] {
        &self.entries
    }
    /// Names of all entries, in insertion order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(n, _)| n.as_str()).collect()
    }
    /// `loss: 0.1234 - accuracy: 0.9600 - …`, the format of the epoch logger.
    pub fn format(&self) -> String {
        self.entries
            .iter()
            .map(|(n, v)| format!("{n}: {}", format_value(n, *v)))
            .collect::<Vec<_>>()
            .join(" - ")
    }
}

/// Learning rates in scientific notation, everything else with four decimals (more for tiny
/// values so that a converged loss does not print as 0.0000).
pub fn format_value(name: &str, v: f64) -> String {
    if name == "lr" || name.ends_with("_lr") {
        format!("{v:.3e}")
    } else if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

/// One finished epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// 0-based epoch index (epoch `e` shuffles with Philox stream `e`).
    pub epoch: usize,
    pub logs: Logs,
    /// Wall-clock seconds the epoch took, validation included.
    pub seconds: f64,
}

/// What `fit` returns: every epoch's logs and why training stopped early, if it did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub epochs: Vec<EpochRecord>,
    /// Set when a callback (or a non-finite loss) ended training before the last epoch.
    pub stop_reason: Option<String>,
}

impl History {
    /// The values of `name` over the epochs (epochs that did not log it are skipped).
    pub fn metric(&self, name: &str) -> Vec<f64> {
        self.epochs
            .iter()
            .filter_map(|e| e.logs.get(name))
            .collect()
    }
    /// Names logged in any epoch, in first-seen order.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for e in &self.epochs {
            for n in e.logs.names() {
                if !names.iter().any(|m| m == n) {
                    names.push(n.to_string());
                }
            }
        }
        names
    }
    /// The last epoch's logs.
    pub fn last(&self) -> Option<&Logs> {
        self.epochs.last().map(|e| &e.logs)
    }
    /// Number of epochs run.
    pub fn len(&self) -> usize {
        self.epochs.len()
    }
    /// True when no epoch ran.
    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_replace_in_place_and_format() {
        let mut l = Logs::new();
        l.set("loss", 0.5);
        l.set("accuracy", 0.25);
        l.set("loss", 0.125);
        l.set("lr", 0.001);
        assert_eq!(l.names(), vec!["loss", "accuracy", "lr"]);
        assert_eq!(l.get("loss"), Some(0.125));
        assert_eq!(l.format(), "loss: 0.1250 - accuracy: 0.2500 - lr: 1.000e-3");
    }

    #[test]
    fn history_collects_metric_series() {
        let mut h = History::default();
        for (i, v) in [3.0, 2.0, 1.0].into_iter().enumerate() {
            let mut logs = Logs::new();
            logs.set("loss", v);
            if i > 0 {
                logs.set("val_loss", v + 1.0);
            }
            h.epochs.push(EpochRecord {
                epoch: i,
                logs,
                seconds: 0.0,
            });
        }
        assert_eq!(h.metric("loss"), vec![3.0, 2.0, 1.0]);
        assert_eq!(h.metric("val_loss"), vec![3.0, 2.0]);
        assert_eq!(h.names(), vec!["loss".to_string(), "val_loss".to_string()]);
    }
}
