//! Learning-rate schedules: pure functions of training progress, applied by
//! [`crate::train::callbacks::LearningRateScheduler`]. (ReduceLROnPlateau depends on the
//! monitored metric instead; it is a callback, see [`crate::train::ReduceLrOnPlateau`].)
//!
//! Progress `t` is a fractional epoch: `epoch + batch / steps_per_epoch`. Rates are computed in
//! f64 on the host and rounded to f32 once (PARITY.md rule 8: every backend receives the same
//! value), with [`crate::math::host`]'s `powf` and `cos` (rule 8a: no platform libm).

use crate::math::host;

/// A learning rate as a function of the fractional epoch.
pub trait Schedule {
    /// The rate at fractional epoch `t ≥ 0`.
    fn lr(&self, t: f64) -> f32;
}

/// Any `Fn(f64) -> f32` is a schedule.
impl<F: Fn(f64) -> f32> Schedule for F {
    fn lr(&self, t: f64) -> f32 {
        self(t)
    }
}

/// `initial * factor^floor(t / every)`: multiply by `factor` every `every` epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepDecay {
    pub initial: f32,
    pub factor: f32,
    pub every: usize,
}

impl Schedule for StepDecay {
    fn lr(&self, t: f64) -> f32 {
        let k = (t / self.every.max(1) as f64).floor();
        (f64::from(self.initial) * host::powf(f64::from(self.factor), k)) as f32
    }
}

/// `initial * gamma^t` (continuous), or `initial * gamma^floor(t)` with `staircase`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExponentialDecay {
    pub initial: f32,
    pub gamma: f32,
    pub staircase: bool,
}

impl Schedule for ExponentialDecay {
    fn lr(&self, t: f64) -> f32 {
        let e = if self.staircase { t.floor() } else { t };
        (f64::from(self.initial) * host::powf(f64::from(self.gamma), e)) as f32
    }
}

/// Linear warm-up then cosine decay:
/// - `t < warmup`: `peak * (start_factor + (1 - start_factor) * t / warmup)`;
/// - `warmup ≤ t < total`: `min_lr + (peak - min_lr) * (1 + cos(π (t - warmup) / (total - warmup))) / 2`;
/// - `t ≥ total`: `min_lr`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineWarmup {
    pub peak: f32,
    pub min_lr: f32,
    /// Warm-up length in epochs (fractional allowed; 0 for none).
    pub warmup: f64,
    /// Epoch at which the decay reaches `min_lr`.
    pub total: f64,
    /// Fraction of `peak` at `t = 0`.
    pub start_factor: f64,
}

impl CosineWarmup {
    /// Warm-up from 0 over `warmup` epochs to `peak`, cosine decay to 0 at `total` epochs.
    pub fn new(peak: f32, warmup: f64, total: f64) -> Self {
        CosineWarmup {
            peak,
            min_lr: 0.0,
            warmup,
            total,
            start_factor: 0.0,
        }
    }
}

impl Schedule for CosineWarmup {
    fn lr(&self, t: f64) -> f32 {
        let (peak, min) = (f64::from(self.peak), f64::from(self.min_lr));
        if t < self.warmup {
            let s = self.start_factor;
            return (peak * (s + (1.0 - s) * t / self.warmup)) as f32;
        }
        if t >= self.total || self.total <= self.warmup {
            return self.min_lr;
        }
        let p = (t - self.warmup) / (self.total - self.warmup);
        (min + (peak - min) * 0.5 * (1.0 + host::cos(std::f64::consts::PI * p))) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_and_exponential() {
        let s = StepDecay {
            initial: 0.1,
            factor: 0.5,
            every: 2,
        };
        assert_eq!(s.lr(0.0), 0.1);
        assert_eq!(s.lr(1.99), 0.1);
        assert_eq!(s.lr(2.0), 0.05);
        assert_eq!(s.lr(5.5), 0.025);
        let e = ExponentialDecay {
            initial: 1.0,
            gamma: 0.5,
            staircase: true,
        };
        assert_eq!(e.lr(2.7), 0.25);
        let c = ExponentialDecay {
            staircase: false,
            ..e
        };
        assert_eq!(c.lr(0.5), std::f32::consts::FRAC_1_SQRT_2);
    }

    #[test]
    fn cosine_with_warmup() {
        let s = CosineWarmup {
            peak: 1.0,
            min_lr: 0.1,
            warmup: 2.0,
            total: 12.0,
            start_factor: 0.0,
        };
        assert_eq!(s.lr(0.0), 0.0);
        assert_eq!(s.lr(1.0), 0.5);
        assert_eq!(s.lr(2.0), 1.0);
        assert!((s.lr(7.0) - 0.55).abs() < 1e-6, "{}", s.lr(7.0));
        assert_eq!(s.lr(12.0), 0.1);
        assert_eq!(s.lr(50.0), 0.1);
        let closure = |t: f64| 0.01 / (1.0 + t as f32);
        assert_eq!(closure.lr(1.0), 0.005);
    }
}
