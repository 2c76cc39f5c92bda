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

    /// One value of every variant (parameters 0): the list the CUDA codes `NX_ACT_*` are
    /// generated from (`backend::cuda::header`).
    pub const ALL: [Activation; 11] = [
        Activation::Linear,
        Activation::Relu,
        Activation::LeakyRelu(0.0),
        Activation::Elu(0.0),
        Activation::Selu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::GeluTanh,
        Activation::GeluErf,
        Activation::Silu,
        Activation::Softplus,
    ];

    /// The code the CUDA kernels switch on and its name (`NX_ACT_<name>`).
    pub fn cuda_code(self) -> (i32, &'static str) {
        match self {
            Activation::Linear => (0, "LINEAR"),
            Activation::Relu => (1, "RELU"),
            Activation::LeakyRelu(_) => (2, "LEAKY_RELU"),
            Activation::Elu(_) => (3, "ELU"),
            Activation::Selu => (4, "SELU"),
            Activation::Sigmoid => (5, "SIGMOID"),
            Activation::Tanh => (6, "TANH"),
            Activation::GeluTanh => (7, "GELU_TANH"),
            Activation::GeluErf => (8, "GELU_ERF"),
            Activation::Silu => (9, "SILU"),
            Activation::Softplus => (10, "SOFTPLUS"),
        }
    }

    /// Code and parameter as the kernels' `nx_act_*` functions take them (the parameter of
    /// LeakyRelu / Elu, else 0).
    pub fn kernel_args(self) -> (i32, f32) {
        let param = match self {
            Activation::LeakyRelu(a) | Activation::Elu(a) => a,
            _ => 0.0,
        };
        (self.cuda_code().0, param)
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

impl TargetKind {
    /// Every variant: the list the CUDA codes `NX_TARGET_*` are generated from.
    pub const ALL: [TargetKind; 2] = [TargetKind::Dense, TargetKind::ClassIndex];

    /// The code the CUDA kernels compare with and its name (`NX_TARGET_<name>`).
    pub fn cuda_code(self) -> (i32, &'static str) {
        match self {
            TargetKind::Dense => (0, "DENSE"),
            TargetKind::ClassIndex => (1, "CLASS_INDEX"),
        }
    }
}

/// Losses; every one is reduced by its mean (PyTorch's `reduction='mean'`; KL-divergence uses
/// `'batchmean'`). Notation: `N = rows*cols` elements, `R = rows`, `p` prediction, `t` target.
///
/// Reduction order (all losses): per row, `row_sum = Σ_j term[i,j]` (j increasing, from 0);
/// then `total = Σ_i row_sum[i]` in the chunked order of PARITY rule 2a (chunks of 256 rows,
/// each summed from 0 with i increasing, then the chunk sums in chunk order; identical to
/// i increasing from 0 for up to 256 rows); `loss = total / D` where `D = N` for
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
    /// Logits in, fused log-softmax (softmax formula of `ops::softmax`):
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

impl LossKind {
    /// One value of every variant (parameters 0): the list the CUDA codes `NX_LOSS_*` are
    /// generated from.
    pub const ALL: [LossKind; 8] = [
        LossKind::Mse,
        LossKind::Mae,
        LossKind::Huber(0.0),
        LossKind::Bce,
        LossKind::BceWithLogits,
        LossKind::CrossEntropy,
        LossKind::Nll,
        LossKind::KlDiv,
    ];

    /// The code the CUDA loss kernel switches on and its name (`NX_LOSS_<name>`).
    pub fn cuda_code(self) -> (i32, &'static str) {
        match self {
            LossKind::Mse => (0, "MSE"),
            LossKind::Mae => (1, "MAE"),
            LossKind::Huber(_) => (2, "HUBER"),
            LossKind::Bce => (3, "BCE"),
            LossKind::BceWithLogits => (4, "BCE_LOGITS"),
            LossKind::CrossEntropy => (5, "CE"),
            LossKind::Nll => (6, "NLL"),
            LossKind::KlDiv => (7, "KL"),
        }
    }

    /// Code and parameter as the loss kernel takes them (Huber's delta, else 0).
    pub fn kernel_args(self) -> (i32, f32) {
        let param = match self {
            LossKind::Huber(d) => d,
            _ => 0.0,
        };
        (self.cuda_code().0, param)
    }
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

/// The per-step scalar block (PARITY rule 8): the values that change from one training step
/// to the next — learning rate, the optimizer's host scalars (Adam's bias corrections), the
/// dropout counter, the weight average's decay — computed once per step on the host, identically for every backend,
/// written by one host-to-device copy before the step, and read by kernels from there. A
/// recorded step (CUDA graph) can then be replayed unchanged: nothing per-step is frozen into
/// its launch arguments.
///
/// Layout: `[lr, scalars[0..5], dropout step (u32 bits), EMA keep, EMA take]`.
pub struct StepBlock;

impl StepBlock {
    /// Index of the learning rate.
    pub const LR: usize = 0;
    /// Index of the first of the five optimizer scalars (`ops::optimizer::OptimizerStep::scalars`).
    pub const SCALARS: usize = 1;
    /// Index of the dropout counter, stored as the bits of a `u32`.
    pub const DROPOUT_STEP: usize = 6;
    /// Index of the weight average's `keep` (its `take = 1 − keep` follows).
    pub const EMA_KEEP: usize = 7;
    /// Index of the weight average's `take`.
    pub const EMA_TAKE: usize = 8;
    /// Values in the block.
    pub const LEN: usize = 9;

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
            1.0,
            0.0,
        ]
    }

    /// Sets the weight average's factors of this step: `keep` and `take = 1 − keep` (f32).
    pub fn set_ema(block: &mut [f32; Self::LEN], keep: f32) {
        block[Self::EMA_KEEP] = keep;
        block[Self::EMA_TAKE] = 1.0 - keep;
    }
}

/// The optimizer scalars of update number `t` (see `ops::optimizer::OptimizerStep`): Adam
/// `[step_size, bc2_sqrt, decay, c1, c2]`, RMSprop `[c]`.
pub fn host_scalars(kind: OptimizerKind, t: u64) -> [f32; 5] {
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
