//! Loss selection: which [`LossKind`] a model trains with and how its targets are stored.

use crate::backend::{LossKind, TargetKind};
use serde::{Deserialize, Serialize};

/// A loss and the layout of its targets.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loss {
    pub kind: LossKind,
    pub targets: TargetKind,
}

impl Loss {
    fn dense(kind: LossKind) -> Loss {
        Loss {
            kind,
            targets: TargetKind::Dense,
        }
    }
    /// Mean squared error.
    pub fn mse() -> Loss {
        Self::dense(LossKind::Mse)
    }
    /// Mean absolute error.
    pub fn mae() -> Loss {
        Self::dense(LossKind::Mae)
    }
    /// Huber loss with threshold `delta`.
    pub fn huber(delta: f32) -> Loss {
        Self::dense(LossKind::Huber(delta))
    }
    /// Binary cross-entropy on probabilities.
    pub fn bce() -> Loss {
        Self::dense(LossKind::Bce)
    }
    /// Binary cross-entropy on logits (fused sigmoid).
    pub fn bce_with_logits() -> Loss {
        Self::dense(LossKind::BceWithLogits)
    }
    /// Softmax cross-entropy on logits with one integer class label per row.
    pub fn cross_entropy() -> Loss {
        Loss {
            kind: LossKind::CrossEntropy,
            targets: TargetKind::ClassIndex,
        }
    }
    /// Softmax cross-entropy on logits with one-hot or soft target rows.
    pub fn cross_entropy_soft() -> Loss {
        Self::dense(LossKind::CrossEntropy)
    }
    /// Negative log-likelihood of log-probabilities with integer labels.
    pub fn nll() -> Loss {
        Loss {
            kind: LossKind::Nll,
            targets: TargetKind::ClassIndex,
        }
    }
    /// KL-divergence of log-probabilities against target probabilities (batch mean).
    pub fn kl_div() -> Loss {
        Self::dense(LossKind::KlDiv)
    }
    /// Parses `mse`, `mae`, `huber[:delta]`, `bce`, `bce_with_logits`, `cross_entropy`,
    /// `cross_entropy_soft`, `nll`, `kl_div`.
    pub fn parse(name: &str) -> Option<Loss> {
        let (base, arg) = match name.split_once(':') {
            Some((b, a)) => (b, a.parse::<f32>().ok()),
            None => (name, None),
        };
        Some(match base {
            "mse" => Self::mse(),
            "mae" => Self::mae(),
            "huber" => Self::huber(arg.unwrap_or(1.0)),
            "bce" => Self::bce(),
            "bce_with_logits" => Self::bce_with_logits(),
            "cross_entropy" | "sparse_categorical_crossentropy" => Self::cross_entropy(),
            "cross_entropy_soft" | "categorical_crossentropy" => Self::cross_entropy_soft(),
            "nll" => Self::nll(),
            "kl_div" => Self::kl_div(),
            _ => return None,
        })
    }
    /// Whether the loss takes logits (accuracy thresholds at 0 instead of 0.5 for one column).
    pub fn from_logits(&self) -> bool {
        matches!(self.kind, LossKind::BceWithLogits | LossKind::CrossEntropy)
    }
}
