//! The generated head of every CUDA translation unit: each code and constant the kernels share
//! with the Rust side, rendered from the Rust definitions so no table is kept twice by hand.
//!
//! - `NX_ACT_*`, `NX_LOSS_*`, `NX_TARGET_*`: the codes of [`Activation`], [`LossKind`] and
//!   [`TargetKind`] (from their `cuda_code`, over each enum's `ALL`);
//! - `NX_BLOCK_*`: the layout of the per-step scalar block ([`StepBlock`]);
//! - `NX_CHUNK`: the chunk length of PARITY rule 2a ([`crate::math::CHUNK`]);
//! - the f32 constants of `math.cuh` and the activations as `__int_as_float(0x…)` of the Rust
//!   constants' bit patterns (so both sides use the very same values, never a re-parsed
//!   decimal), and the u32 constants of `math.cuh` and Philox.

use crate::backend::{Activation, LossKind, StepBlock, TargetKind};
use crate::math as m;
use crate::philox;

/// The f32 constants, by their CUDA names.
const F32_CONSTANTS: [(&str, f32); 49] = [
    ("NX_LOG2E", m::LOG2E),
    ("NX_LN2_HI", m::LN2_HI),
    ("NX_LN2_LO", m::LN2_LO),
    ("NX_ROUND_SHIFT", m::ROUND_SHIFT),
    ("NX_EXP_OVERFLOW", m::EXP_OVERFLOW),
    ("NX_EXP_UNDERFLOW", m::EXP_UNDERFLOW),
    ("NX_EXPM1_MINUS_ONE", m::EXPM1_MINUS_ONE),
    ("NX_EXPM1_P5", m::EXPM1_P5),
    ("NX_EXPM1_P4", m::EXPM1_P4),
    ("NX_EXPM1_P3", m::EXPM1_P3),
    ("NX_EXPM1_P2", m::EXPM1_P2),
    ("NX_EXPM1_P1", m::EXPM1_P1),
    ("NX_EXPM1_P0", m::EXPM1_P0),
    ("NX_LOG_R3", m::LOG_R3),
    ("NX_LOG_R2", m::LOG_R2),
    ("NX_LOG_R1", m::LOG_R1),
    ("NX_LOG_R0", m::LOG_R0),
    ("NX_ERF_S6", m::ERF_S6),
    ("NX_ERF_S5", m::ERF_S5),
    ("NX_ERF_S4", m::ERF_S4),
    ("NX_ERF_S3", m::ERF_S3),
    ("NX_ERF_S2", m::ERF_S2),
    ("NX_ERF_S1", m::ERF_S1),
    ("NX_ERF_S0", m::ERF_S0),
    ("NX_ERF_A10", m::ERF_A10),
    ("NX_ERF_A9", m::ERF_A9),
    ("NX_ERF_A8", m::ERF_A8),
    ("NX_ERF_A7", m::ERF_A7),
    ("NX_ERF_A6", m::ERF_A6),
    ("NX_ERF_A5", m::ERF_A5),
    ("NX_ERF_A4", m::ERF_A4),
    ("NX_ERF_A3", m::ERF_A3),
    ("NX_ERF_A2", m::ERF_A2),
    ("NX_ERF_A1", m::ERF_A1),
    ("NX_ERF_A0", m::ERF_A0),
    ("NX_ERF_B7", m::ERF_B7),
    ("NX_ERF_B6", m::ERF_B6),
    ("NX_ERF_B5", m::ERF_B5),
    ("NX_ERF_B4", m::ERF_B4),
    ("NX_ERF_B3", m::ERF_B3),
    ("NX_ERF_B2", m::ERF_B2),
    ("NX_ERF_B1", m::ERF_B1),
    ("NX_ERF_B0", m::ERF_B0),
    ("NX_SELU_L", m::SELU_L),
    ("NX_SELU_LA", m::SELU_LA),
    ("NX_GELU_K", m::GELU_K),
    ("NX_GELU_C", m::GELU_C),
    ("NX_FRAC_1_SQRT_2", m::FRAC_1_SQRT_2),
    ("NX_FRAC_1_SQRT_2PI", m::FRAC_1_SQRT_2PI),
];

/// The u32 constants (bit patterns and Philox's multipliers and key increments).
const U32_CONSTANTS: [(&str, u32); 8] = [
    ("NX_NAN_BITS", m::NAN.to_bits()),
    ("NX_INF_BITS", m::INF.to_bits()),
    ("NX_NEG_INF_BITS", m::NEG_INF.to_bits()),
    ("NX_SQRT_HALF_BITS", m::SQRT_HALF_BITS),
    ("NX_PHILOX_M0", philox::M0),
    ("NX_PHILOX_M1", philox::M1),
    ("NX_PHILOX_W0", philox::W0),
    ("NX_PHILOX_W1", philox::W1),
];

/// The header text (one `#define` per line).
pub fn generated() -> String {
    let mut s = String::from(
        "// Generated from the Rust definitions (backend/cuda/header.rs); do not edit.\n",
    );
    let mut define = |name: &str, value: String, from: &str| {
        s.push_str(&format!("#define {name} {value} /* {from} */\n"));
    };
    for a in Activation::ALL {
        let (code, name) = a.cuda_code();
        define(&format!("NX_ACT_{name}"), code.to_string(), "Activation");
    }
    for k in LossKind::ALL {
        let (code, name) = k.cuda_code();
        define(&format!("NX_LOSS_{name}"), code.to_string(), "LossKind");
    }
    for t in TargetKind::ALL {
        let (code, name) = t.cuda_code();
        define(&format!("NX_TARGET_{name}"), code.to_string(), "TargetKind");
    }
    for (name, index) in [
        ("NX_BLOCK_LR", StepBlock::LR),
        ("NX_BLOCK_SCALARS", StepBlock::SCALARS),
        ("NX_BLOCK_DROPOUT_STEP", StepBlock::DROPOUT_STEP),
        ("NX_BLOCK_EMA_KEEP", StepBlock::EMA_KEEP),
        ("NX_BLOCK_EMA_TAKE", StepBlock::EMA_TAKE),
    ] {
        define(name, index.to_string(), "StepBlock");
    }
    define("NX_CHUNK", format!("{}ull", m::CHUNK), "math::CHUNK");
    for (name, v) in F32_CONSTANTS {
        let value = format!("__int_as_float(0x{:08x})", v.to_bits());
        define(name, value, &format!("{v:e}"));
    }
    for (name, v) in U32_CONSTANTS {
        define(name, format!("0x{v:08x}u"), "u32");
    }
    s
}
