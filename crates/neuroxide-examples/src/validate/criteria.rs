//! Success criteria: a named metric, a comparison and a threshold. A criterion renders as the
//! report's success cell ("max |err| 0.012 < 0.1"), so a reader sees both the rule and the
//! measured value.

use std::fmt;

/// How a measured value must relate to the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `value < threshold` (errors, losses).
    Below,
    /// `value ≥ threshold` (accuracies).
    AtLeast,
}

/// A success criterion of an example.
#[derive(Clone, Debug, PartialEq)]
pub struct Criterion {
    /// Name of the metric, e.g. `max |err|` or `test accuracy`.
    pub metric: String,
    pub cmp: Cmp,
    pub threshold: f64,
}

impl Criterion {
    /// `metric < threshold`.
    pub fn below(metric: &str, threshold: f64) -> Criterion {
        Criterion {
            metric: metric.into(),
            cmp: Cmp::Below,
            threshold,
        }
    }

    /// `metric ≥ threshold`.
    pub fn at_least(metric: &str, threshold: f64) -> Criterion {
        Criterion {
            metric: metric.into(),
            cmp: Cmp::AtLeast,
            threshold,
        }
    }

    /// Whether `value` meets the criterion (NaN never does).
    pub fn passes(&self, value: f64) -> bool {
        match self.cmp {
            Cmp::Below => value < self.threshold,
            Cmp::AtLeast => value >= self.threshold,
        }
    }

    /// The cell text: `max |err| 0.0123 < 0.1`, or `FAIL: max |err| 0.3 ≥ 0.1` when it fails.
    pub fn describe(&self, value: f64) -> String {
        let ok = self.passes(value);
        let op = match (self.cmp, ok) {
            (Cmp::Below, true) => "<",
            (Cmp::Below, false) => "≥",
            (Cmp::AtLeast, true) => "≥",
            (Cmp::AtLeast, false) => "<",
        };
        let text = format!(
            "{} {} {op} {}",
            self.metric,
            num(value),
            num(self.threshold)
        );
        if ok {
            text
        } else {
            format!("FAIL: {text}")
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.cmp {
            Cmp::Below => "<",
            Cmp::AtLeast => "≥",
        };
        write!(f, "{} {op} {}", self.metric, num(self.threshold))
    }
}

/// A number with four significant digits, without trailing zeros (0.0123, 97.85, 1.2e-6).
pub fn num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if !(1e-4..1e6).contains(&a) {
        return format!("{v:.3e}");
    }
    // floor(log10(a)) on [1e-4, 1e6) by comparisons (no libm call, PARITY.md rule 8a).
    let magnitude = [1e5, 1e4, 1e3, 1e2, 1e1, 1.0, 1e-1, 1e-2, 1e-3]
        .iter()
        .position(|&p| a >= p)
        .map_or(-4, |i| 5 - i as i32);
    let digits = (3 - magnitude).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_state_value_and_rule() {
        let c = Criterion::below("max |err|", 0.1);
        assert_eq!(c.describe(0.01234), "max |err| 0.01234 < 0.1");
        assert_eq!(c.describe(0.5), "FAIL: max |err| 0.5 ≥ 0.1");
        assert!(!c.passes(f64::NAN));
        let a = Criterion::at_least("test accuracy %", 97.0);
        assert_eq!(a.describe(97.8512), "test accuracy % 97.85 ≥ 97");
        assert_eq!(num(1.5e-6), "1.500e-6");
    }
}
