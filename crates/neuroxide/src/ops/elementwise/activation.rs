//! Scalar activation formulas of [`Activation`], shared by the elementwise kernels and the
//! matmul epilogue. Each line is mirrored in the CUDA kernels; no fma unless written.

use crate::backend::Activation;
use crate::math;

pub use crate::math::{FRAC_1_SQRT_2, FRAC_1_SQRT_2PI, GELU_C, GELU_K, SELU_A, SELU_L, SELU_LA};

/// `softplus(x) = x > 20 ? x : log1p(exp(x))` (PyTorch's threshold).
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        math::log1p(math::exp(x))
    }
}

/// `y = f(x)`.
#[inline(always)]
pub fn forward(act: Activation, x: f32) -> f32 {
    match act {
        Activation::Linear => x,
        Activation::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        Activation::LeakyRelu(a) => {
            if x > 0.0 {
                x
            } else {
                a * x
            }
        }
        Activation::Elu(a) => {
            if x > 0.0 {
                x
            } else {
                a * math::expm1(x)
            }
        }
        Activation::Selu => {
            if x > 0.0 {
                SELU_L * x
            } else {
                SELU_LA * math::expm1(x)
            }
        }
        Activation::Sigmoid => math::sigmoid(x),
        Activation::Tanh => math::tanh(x),
        Activation::GeluTanh => {
            let u = GELU_K * (x + GELU_C * (x * x * x));
            // `tanh_lane` is `tanh` bit for bit, without branches: the matmul epilogue's loop
            // over a tile row vectorises.
            0.5 * x * (1.0 + math::tanh_lane(u))
        }
        Activation::GeluErf => 0.5 * x * (1.0 + math::erf(x * FRAC_1_SQRT_2)),
        Activation::Silu => x * math::sigmoid(x),
        Activation::Softplus => softplus(x),
    }
}

/// `dx = dy * f'(x)`, using the pre-activation `x` and/or the output `y`.
#[inline(always)]
pub fn backward(act: Activation, x: f32, y: f32, dy: f32) -> f32 {
    match act {
        Activation::Linear => dy,
        Activation::Relu => {
            if x > 0.0 {
                dy
            } else {
                0.0
            }
        }
        Activation::LeakyRelu(a) => {
            if x > 0.0 {
                dy
            } else {
                dy * a
            }
        }
        Activation::Elu(a) => {
            if x > 0.0 {
                dy
            } else {
                dy * (y + a)
            }
        }
        Activation::Selu => {
            if x > 0.0 {
                dy * SELU_L
            } else {
                dy * (y + SELU_LA)
            }
        }
        Activation::Sigmoid => dy * (y * (1.0 - y)),
        Activation::Tanh => dy * (1.0 - y * y),
        Activation::GeluTanh => {
            let x2 = x * x;
            let u = GELU_K * (x + GELU_C * (x2 * x));
            let t = math::tanh(u);
            let du = GELU_K * (1.0 + (3.0 * GELU_C) * x2);
            dy * (0.5 * (1.0 + t) + (0.5 * x) * ((1.0 - t * t) * du))
        }
        Activation::GeluErf => {
            let cdf = 0.5 * (1.0 + math::erf(x * FRAC_1_SQRT_2));
            let pdf = FRAC_1_SQRT_2PI * math::exp(-0.5 * (x * x));
            dy * (cdf + x * pdf)
        }
        Activation::Silu => {
            let s = math::sigmoid(x);
            dy * (s + x * (s * (1.0 - s)))
        }
        Activation::Softplus => dy * math::sigmoid(x),
    }
}
