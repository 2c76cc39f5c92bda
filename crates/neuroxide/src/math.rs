//! Exact transcendental functions in f32 (PARITY.md rule 5).
//!
//! PLACEHOLDER: being replaced by the exact implementations (range reduction + Horner with fma),
//! mirrored line for line in `backend/cuda/kernels/math.cuh`. The signatures are final.

/// e^x.
pub fn exp(x: f32) -> f32 {
    x.exp()
}
/// e^x − 1, accurate near 0.
pub fn expm1(x: f32) -> f32 {
    x.exp_m1()
}
/// Natural logarithm.
pub fn log(x: f32) -> f32 {
    x.ln()
}
/// ln(1 + x), accurate near 0.
pub fn log1p(x: f32) -> f32 {
    x.ln_1p()
}
/// Hyperbolic tangent.
pub fn tanh(x: f32) -> f32 {
    x.tanh()
}
/// Logistic sigmoid 1 / (1 + e^−x).
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
/// Error function.
pub fn erf(x: f32) -> f32 {
    x
}
