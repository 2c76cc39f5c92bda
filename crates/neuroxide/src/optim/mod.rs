//! Optimizer constructors with PyTorch's defaults. The update formulas are on
//! [`crate::ops::optimizer::OptimizerStep`]; the kernels live in `ops::optimizer`.

pub use crate::backend::OptimizerKind;

/// Plain SGD.
pub fn sgd(lr: f32) -> OptimizerKind {
    OptimizerKind::Sgd {
        lr,
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    }
}

/// SGD with (optionally Nesterov) momentum and L2 weight decay.
pub fn sgd_momentum(lr: f32, momentum: f32, nesterov: bool, weight_decay: f32) -> OptimizerKind {
    OptimizerKind::Sgd {
        lr,
        momentum,
        nesterov,
        weight_decay,
    }
}

/// Adam (β = 0.9, 0.999; ε = 1e-8; no weight decay).
pub fn adam(lr: f32) -> OptimizerKind {
    OptimizerKind::Adam {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        decoupled: false,
    }
}

/// AdamW: Adam with decoupled weight decay (PyTorch default decay 0.01).
pub fn adamw(lr: f32, weight_decay: f32) -> OptimizerKind {
    OptimizerKind::Adam {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay,
        decoupled: true,
    }
}

/// RMSprop (α = 0.99, ε = 1e-8, no momentum).
pub fn rmsprop(lr: f32) -> OptimizerKind {
    OptimizerKind::RmsProp {
        lr,
        alpha: 0.99,
        eps: 1e-8,
        momentum: 0.0,
        weight_decay: 0.0,
    }
}

/// Parses `sgd`, `adam`, `adamw`, `rmsprop` with a learning rate.
pub fn parse(name: &str, lr: f32) -> Option<OptimizerKind> {
    Some(match name {
        "sgd" => sgd(lr),
        "momentum" => sgd_momentum(lr, 0.9, false, 0.0),
        "nesterov" => sgd_momentum(lr, 0.9, true, 0.0),
        "adam" => adam(lr),
        "adamw" => adamw(lr, 0.01),
        "rmsprop" => rmsprop(lr),
        _ => return None,
    })
}
