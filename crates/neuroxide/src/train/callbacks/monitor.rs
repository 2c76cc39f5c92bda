//! Tracking the best value of a logged quantity: shared by early stopping, checkpointing and
//! learning-rate reduction on plateaus.

use crate::error::{Error, Result};
use crate::train::history::Logs;

/// Whether smaller or larger values of the monitored quantity are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorMode {
    Min,
    Max,
    /// `Max` for names containing `acc` or `r2`, `Min` otherwise (Keras' rule).
    Auto,
}

/// A monitored log entry with its best value so far.
#[derive(Clone, Debug, PartialEq)]
pub struct Monitor {
    pub name: String,
    pub mode: MonitorMode,
    /// An improvement must beat the best value by more than this.
    pub min_delta: f64,
    best: Option<f64>,
}

impl Monitor {
    /// Monitors `name` (e.g. `val_loss`).
    pub fn new(name: &str, mode: MonitorMode, min_delta: f64) -> Self {
        Monitor {
            name: name.to_string(),
            mode,
            min_delta: min_delta.abs(),
            best: None,
        }
    }
    /// `true` when larger is better.
    pub fn maximize(&self) -> bool {
        match self.mode {
            MonitorMode::Max => true,
            MonitorMode::Min => false,
            MonitorMode::Auto => {
                let n = self.name.to_ascii_lowercase();
                n.contains("acc") || n.contains("r2")
            }
        }
    }
    /// The best value seen.
    pub fn best(&self) -> Option<f64> {
        self.best
    }
    /// Forgets the best value.
    pub fn reset(&mut self) {
        self.best = None;
    }
    /// The monitored value in `logs`; an error lists what was logged when it is missing.
    pub fn value(&self, logs: &Logs) -> Result<f64> {
        logs.get(&self.name).ok_or_else(|| {
            Error::invalid(format!(
                "monitored quantity '{}' is not logged; available: {}",
                self.name,
                logs.names().join(", ")
            ))
        })
    }
    /// Whether `v` improves on the best value by more than `min_delta` (the first finite
    /// value always does; NaN never does).
    pub fn is_improvement(&self, v: f64) -> bool {
        if v.is_nan() {
            return false;
        }
        match self.best {
            None => true,
            Some(b) if self.maximize() => v - self.min_delta > b,
            Some(b) => v + self.min_delta < b,
        }
    }
    /// Reads the value from `logs`; records it and returns `true` if it improved.
    pub fn update(&mut self, logs: &Logs) -> Result<bool> {
        let v = self.value(logs)?;
        let better = self.is_improvement(v);
        if better {
            self.best = Some(v);
        }
        Ok(better)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(name: &str, v: f64) -> Logs {
        let mut l = Logs::new();
        l.set(name, v);
        l
    }

    #[test]
    fn min_and_max_with_delta() {
        let mut m = Monitor::new("val_loss", MonitorMode::Auto, 0.1);
        assert!(!m.maximize());
        assert!(m.update(&logs("val_loss", 1.0)).unwrap());
        assert!(!m.update(&logs("val_loss", 0.95)).unwrap());
        assert!(m.update(&logs("val_loss", 0.85)).unwrap());
        assert_eq!(m.best(), Some(0.85));
        assert!(!m.update(&logs("val_loss", f64::NAN)).unwrap());

        let mut a = Monitor::new("val_accuracy", MonitorMode::Auto, 0.0);
        assert!(a.maximize());
        a.update(&logs("val_accuracy", 0.5)).unwrap();
        assert!(!a.update(&logs("val_accuracy", 0.5)).unwrap());
        assert!(a.update(&logs("val_accuracy", 0.6)).unwrap());

        let e = a.update(&logs("loss", 0.1)).unwrap_err().to_string();
        assert!(
            e.contains("monitored quantity 'val_accuracy' is not logged; available: loss"),
            "{e}"
        );
    }
}
