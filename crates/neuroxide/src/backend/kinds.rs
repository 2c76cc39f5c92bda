//! The value types that select a kernel's formula: activations, losses, optimizers.
//! Each variant's doc states its exact arithmetic; both backends implement exactly that.

use serde::{Deserialize, Serialize};

/// Elementwise activations. `exp`, `log`, `tanh`, `erf` and `sigmoid` are Neuroxide's own
/// (`crate::math`), never the platform's.
///
/// | activation | forward `y = f(x)` | backward `dx = dy * …` |
/// | --- | --- | --- |
/// | Linear | `x` | `1` (dx = dy) |
/// | Relu | `x > 0 ? x : 0` | `x > 0 ? 1 : 0` |
/// | LeakyRelu(a) | `x > 0 ? x : a*x` | `x > 0 ? 1 : a` |
/// | Elu(a) | `x > 0 ? x : a*(exp(x) - 1)` | `x > 0 ? 1 : y + a` |
/// | Selu | `x > 0 ? L*x : (L*A)*(exp(x) - 1)` | `x > 0 ? L : y + L*A` |
/// | Sigmoid | `sigmoid(x)` | `y * (1 - y)` |
/// | Tanh | `tanh(x)` | `1 - y*y` |
/// | GeluTanh | `0.5*x*(1 + tanh(c*(x + 0.044715*x³)))` | see `math::gelu_tanh_grad` |
/// | GeluErf | `0.5*x*(1 + erf(x/√2))` | see `math::gelu_erf_grad` |
/// | Silu | `x * sigmoid(x)` | `s + x*s*(1 - s)` with `s = sigmoid(x)` |
/// | Softplus | `softplus(x)` | `sigmoid(x)` |
///
/// Selu uses `L = 1.0507009873554804934193349852946`, `A = 1.6732632423543772848170429916717`
/// (rounded to f32, `L*A` rounded once on the host).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    LeakyRelu(f32),
    Elu(f32),
    Selu,
    Sigmoid,
    Tanh,
    GeluTanh,
    GeluErf,
    Silu,
    Softplus,
}

impl Activation {
    /// Parses a name such as `relu`, `leaky_relu`, `leaky_relu:0.1`, `elu:1.0`, `gelu`, `gelu_erf`.
    pub fn parse(name: &str) -> Option<Activation> {
        let (base, arg) = match name.split_once(':') {
            Some((b, a)) => (b, a.parse::<f32>().ok()),
            None => (name, None),
        };
        Some(match base.to_ascii_lowercase().as_str() {
            "linear" | "identity" | "none" => Activation::Linear,
            "relu" => Activation::Relu,
            "leaky_relu" | "leakyrelu" => Activation::LeakyRelu(arg.unwrap_or(0.01)),
            "elu" => Activation::Elu(arg.unwrap_or(1.0)),
            "selu" => Activation::Selu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "gelu" | "gelu_tanh" => Activation::GeluTanh,
            "gelu_erf" => Activation::GeluErf,
            "silu" | "swish" => Activation::Silu,
            "softplus" => Activation::Softplus,
            _ => return None,
        })
    }

    /// Whether the backward pass reads the pre-activation `x` (otherwise only `y` is needed).
    pub fn backward_needs_input(self) -> bool {
        !matches!(
            self,
            Activation::Linear | Activation::Sigmoid | Activation::Tanh
        )
    }
}

/// How targets are stored for a loss or a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TargetKind {
    /// Same shape as the prediction (regression values, one-hot or soft class probabilities).
    #[default]
    Dense,
    /// One class index per row, stored as an f32 (exact up to 2^24).
    ClassIndex,
}

/// Losses; every one is reduced by its mean (PyTorch's `reduction='mean'`; KL-divergence uses
/// `'batchmean'`). Notation: `N = rows*cols` elements, `R = rows`, `p` prediction, `t` target.
///
/// Reduction order (all losses): per row, `row_sum = Σ_j term[i,j]` (j increasing, from 0);
/// then `total = Σ_i row_sum[i]` (i increasing, from 0); `loss = total / D` where `D = N` for
/// the elementwise losses (MSE, MAE, Huber, BCE, BCE-with-logits) and `D = R` for
/// cross-entropy, NLL and KL-divergence. Gradients are `g[i,j] = dterm / D` computed as written
/// per variant.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LossKind {
    /// term `d*d` with `d = p - t`; grad `(2*d) / D`.
    Mse,
    /// term `|d|`; grad `sign(d) / D` (0 at d = 0).
    Mae,
    /// term `|d| <= delta ? 0.5*d*d : delta*(|d| - 0.5*delta)`; grad
    /// `(|d| <= delta ? d : delta*sign(d)) / D`.
    Huber(f32),
    /// Probabilities in, clamped to `[1e-7, 1 - 1e-7]` as `q`:
    /// term `-(t*log(q) + (1 - t)*log(1 - q))`; grad `((q - t) / (q*(1 - q))) / D`.
    Bce,
    /// Logits in: term `max(p,0) - p*t + softplus(-|p|)`; grad `(sigmoid(p) - t) / D`.
    BceWithLogits,
    /// Logits in, fused log-softmax (softmax formula of `Backend::softmax_forward`):
    /// term `-t[j]*logsoftmax[j]` (dense targets) or `-logsoftmax[label]` (class index);
    /// grad `(softmax[j] - t[j]) / R`, t = one-hot for class indices.
    CrossEntropy,
    /// Log-probabilities in: term `-p[label]` (or `-t[j]*p[j]` for dense targets);
    /// grad `-t[j] / R`.
    Nll,
    /// Log-probabilities in, probabilities as target: term `t > 0 ? t*(log(t) - p) : 0`;
    /// grad `-t / R`.
    KlDiv,
}

/// Which optimizer a parameter is updated with, and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// PyTorch's SGD (dampening 0).
    Sgd {
        lr: f32,
        momentum: f32,
        nesterov: bool,
        weight_decay: f32,
    },
    /// Adam with L2 weight decay added to the gradient (PyTorch `Adam`), or decoupled weight
    /// decay (`decoupled = true`, PyTorch `AdamW`).
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
        decoupled: bool,
    },
    /// PyTorch's RMSprop (not centred).
    RmsProp {
        lr: f32,
        alpha: f32,
        eps: f32,
        momentum: f32,
        weight_decay: f32,
    },
}

impl OptimizerKind {
    /// Number of state buffers per parameter (each the parameter's size).
    pub fn state_count(&self) -> usize {
        match self {
            OptimizerKind::Sgd { momentum, .. } => usize::from(*momentum != 0.0),
            OptimizerKind::Adam { .. } => 2,
            OptimizerKind::RmsProp { momentum, .. } => 1 + usize::from(*momentum != 0.0),
        }
    }
    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            OptimizerKind::Sgd { lr, .. }
            | OptimizerKind::Adam { lr, .. }
            | OptimizerKind::RmsProp { lr, .. } => *lr,
        }
    }
    /// A copy with another learning rate (schedules).
    pub fn with_lr(mut self, new_lr: f32) -> Self {
        match &mut self {
            OptimizerKind::Sgd { lr, .. }
            | OptimizerKind::Adam { lr, .. }
            | OptimizerKind::RmsProp { lr, .. } => *lr = new_lr,
        }
        self
    }
}

/// One update of one parameter tensor of `n` values. Host-computed scalars (rule 8 of
/// PARITY.md) are passed in; `t` is the 1-based step number. Adam's bias corrections
/// `step_size` and `bc2_sqrt` are computed in f64 and rounded once to f32 (f32 `1 − β2^t`
/// loses about 6 digits to cancellation); the others are computed in f32.
///
/// Exact arithmetic per element (`g` = gradient, `w` = parameter):
/// - SGD: `g = g + wd*w` (if wd ≠ 0); with momentum: `b = mom*b + g`; Nesterov: `g = g + mom*b`,
///   else `g = b`; `w = w - lr*g`.
/// - Adam: `g = g + wd*w` (L2, if wd ≠ 0 and not decoupled); decoupled: `w = w * decay` with
///   `decay = 1 - lr*wd`; `m = b1*m + c1*g` with `c1 = 1 - b1`; `v = b2*v + c2*(g*g)` with
///   `c2 = 1 - b2`; `den = sqrt(v) / bc2_sqrt + eps`; `w = w - step_size * (m / den)` with
///   `step_size = lr / (1 - b1^t)`, `bc2_sqrt = sqrt(1 - b2^t)`.
/// - RMSprop: `g = g + wd*w`; `v = alpha*v + c*(g*g)` with `c = 1 - alpha`;
///   `den = sqrt(v) + eps`; with momentum: `b = mom*b + g/den`, `w = w - lr*b`;
///   else `w = w - lr*(g/den)`.
///
/// Every `a*b + c` above is a separate multiply and add (no fma).
#[derive(Clone, Copy, Debug)]
pub struct OptimizerStep {
    pub kind: OptimizerKind,
    pub n: usize,
    pub param: BufId,
    pub grad: BufId,
    /// State buffers: SGD `[momentum]`, Adam `[m, v]`, RMSprop `[v, momentum]`; unused ones
    /// are ignored.
    pub state: [Option<BufId>; 2],
    /// Host-computed scalars: Adam `[step_size, bc2_sqrt, decay, c1, c2]`, RMSprop `[c]`.
    pub scalars: [f32; 5],
    /// When set, the learning rate and `scalars` are read from this per-step scalar block
    /// ([`StepBlock`]) on the device instead of `kind.lr()` and `scalars`, so a captured
    /// step (a CUDA graph) replays with each step's own values (PARITY rule 8).
    pub block: Option<BufId>,
}

/// The per-step scalar block (PARITY rule 8): the values that change from one training step
/// to the next — learning rate, the optimizer's host scalars (Adam's bias corrections), the
/// dropout counter — computed once per step on the host, identically for every backend,
/// written by one host-to-device copy before the step, and read by kernels from there. A
/// recorded step (CUDA graph) can then be replayed unchanged: nothing per-step is frozen into
/// its launch arguments.
///
/// Layout: `[lr, scalars[0..5], dropout step (u32 bits)]`.
pub struct StepBlock;

impl StepBlock {
    /// Index of the learning rate.
    pub const LR: usize = 0;
    /// Index of the first of the five optimizer scalars ([`OptimizerStep::scalars`]).
    pub const SCALARS: usize = 1;
    /// Index of the dropout counter, stored as the bits of a `u32`.
    pub const DROPOUT_STEP: usize = 6;
    /// Values in the block.
    pub const LEN: usize = 7;

    /// The block of update number `t` (1-based) with `kind`, whose forward pass draws
    /// dropout masks with counter `dropout_step`.
    pub fn values(kind: OptimizerKind, t: u64, dropout_step: u32) -> [f32; Self::LEN] {
        let sc = host_scalars(kind, t);
        [
            kind.lr(),
            sc[0],
            sc[1],
            sc[2],
            sc[3],
            sc[4],
            f32::from_bits(dropout_step),
        ]
    }
}

/// The optimizer scalars of update number `t` (see [`OptimizerStep`]).
fn host_scalars(kind: OptimizerKind, t: u64) -> [f32; 5] {
    let mut scalars = [0.0f32; 5];
    match kind {
        OptimizerKind::Adam {
            lr,
            beta1,
            beta2,
            weight_decay,
            decoupled,
            ..
        } => {
            // 1 − β^t cancels badly in f32 (β2 = 0.999); computed in f64 on the host and
            // rounded once, identically for every backend; β^t by `math::host::powi` (rule 8a).
            let ti = t.min(i32::MAX as u64) as i32;
            let bc1 = 1.0f64 - crate::math::host::powi(f64::from(beta1), ti);
            let bc2 = 1.0f64 - crate::math::host::powi(f64::from(beta2), ti);
            scalars[0] = (f64::from(lr) / bc1) as f32;
            scalars[1] = bc2.sqrt() as f32;
            scalars[2] = if decoupled {
                1.0 - lr * weight_decay
            } else {
                1.0
            };
            scalars[3] = 1.0 - beta1;
            scalars[4] = 1.0 - beta2;
        }
        OptimizerKind::RmsProp { alpha, .. } => scalars[0] = 1.0 - alpha,
        OptimizerKind::Sgd { .. } => {}
    }
    scalars
}

use super::BufId;

impl OptimizerStep {
    /// The same step reading its learning rate and scalars from a [`StepBlock`].
    pub fn with_block(mut self, block: BufId) -> Self {
        self.block = Some(block);
        self
    }

    /// This step with the learning rate and scalars taken from a block's values.
    pub fn resolved(mut self, block: &[f32]) -> Self {
        self.kind = self.kind.with_lr(block[StepBlock::LR]);
        self.scalars
            .copy_from_slice(&block[StepBlock::SCALARS..StepBlock::SCALARS + 5]);
        self.block = None;
        self
    }

    /// Builds the step for update number `t` (1-based), computing the host scalars in f32.
    pub fn new(
        kind: OptimizerKind,
        t: u64,
        param: BufId,
        grad: BufId,
        state: [Option<BufId>; 2],
        n: usize,
    ) -> Self {
        let scalars = host_scalars(kind, t);
        OptimizerStep {
            kind,
            n,
            param,
            grad,
            state,
            scalars,
            block: None,
        }
    }
}
