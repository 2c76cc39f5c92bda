//! Seeded parameter initialisers (PARITY.md rule 7: computed on the host, then copied, so every
//! backend starts from the same bits). Random words come from Philox4x32-10 keyed by the
//! model seed, with the parameter's index as the stream.

use crate::math::host;
use crate::philox::{philox4x32_10, uniform01};
use serde::{Deserialize, Serialize};

/// How a parameter tensor is initialised. `fan_in`/`fan_out` come from the layer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Initializer {
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Zeros,
    Ones,
    Constant(f32),
    /// Uniform in `[-limit, limit]` (embedding tables).
    Uniform(f32),
}

/// The `i`-th uniform number in [0, 1) of stream `stream` under `seed`.
fn uniform(seed: u64, stream: u32, i: usize) -> f32 {
    let block = (i / 4) as u64;
    let w = philox4x32_10(
        [block as u32, (block >> 32) as u32, stream, 0x1A17_0000],
        [seed as u32, (seed >> 32) as u32],
    );
    uniform01(w[i % 4])
}

/// A standard normal number by Box–Muller from two uniforms (host-only, f64, with
/// [`crate::math::host`]'s `ln` and `cos`, so the bits do not depend on the platform's libm).
fn normal(seed: u64, stream: u32, i: usize) -> f32 {
    let u1 = f64::from(uniform(seed, stream, 2 * i)).max(1e-12);
    let u2 = f64::from(uniform(seed, stream, 2 * i + 1));
    ((-2.0 * host::ln(u1)).sqrt() * host::cos(std::f64::consts::TAU * u2)) as f32
}

impl Initializer {
    /// `n` values for a parameter with the given fans.
    pub fn values(
        self,
        n: usize,
        fan_in: usize,
        fan_out: usize,
        seed: u64,
        stream: u32,
    ) -> Vec<f32> {
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        let uniform_limit = |var: f64| (3.0 * var).sqrt();
        let (uniform_var, normal_var) = match self {
            Initializer::GlorotUniform => (Some(2.0 / (fi + fo)), None),
            Initializer::GlorotNormal => (None, Some(2.0 / (fi + fo))),
            Initializer::HeUniform => (Some(2.0 / fi), None),
            Initializer::HeNormal => (None, Some(2.0 / fi)),
            Initializer::LecunUniform => (Some(1.0 / fi), None),
            Initializer::LecunNormal => (None, Some(1.0 / fi)),
            Initializer::Zeros => return vec![0.0; n],
            Initializer::Ones => return vec![1.0; n],
            Initializer::Constant(c) => return vec![c; n],
            Initializer::Uniform(limit) => {
                return (0..n)
                    .map(|i| (2.0 * uniform(seed, stream, i) - 1.0) * limit)
                    .collect()
            }
        };
        if let Some(var) = uniform_var {
            let limit = uniform_limit(var) as f32;
            (0..n)
                .map(|i| (2.0 * uniform(seed, stream, i) - 1.0) * limit)
                .collect()
        } else {
            let std = normal_var.unwrap_or(1.0).sqrt() as f32;
            (0..n).map(|i| normal(seed, stream, i) * std).collect()
        }
    }
}
