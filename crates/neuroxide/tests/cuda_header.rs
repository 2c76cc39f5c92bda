//! The CUDA header generated from the Rust definitions (`backend::cuda::header`): every variant
//! of every coded enum has its `#define`, with the code the host passes; every generated name is
//! defined exactly once in each translation unit (no hand-written copy left in a `.cu`/`.cuh`);
//! the shared constants carry the Rust constants' bit patterns. Needs no GPU and no NVRTC.

use neuroxide::backend::cuda::{compile, header};
use neuroxide::{Activation, LossKind, TargetKind};

/// One value of every activation. No wildcard in the match: a new variant does not compile
/// until it is listed here (and then this test checks `Activation::ALL` and the header).
fn every_activation() -> Vec<Activation> {
    use Activation::*;
    let all = vec![
        Linear,
        Relu,
        LeakyRelu(0.5),
        Elu(0.5),
        Selu,
        Sigmoid,
        Tanh,
        GeluTanh,
        GeluErf,
        Silu,
        Softplus,
    ];
    for a in &all {
        match a {
            Linear | Relu | LeakyRelu(_) | Elu(_) | Selu | Sigmoid | Tanh | GeluTanh | GeluErf
            | Silu | Softplus => {}
        }
    }
    all
}

/// One value of every loss (exhaustive match as above).
fn every_loss() -> Vec<LossKind> {
    use LossKind::*;
    let all = vec![
        Mse,
        Mae,
        Huber(1.5),
        Bce,
        BceWithLogits,
        CrossEntropy,
        Nll,
        KlDiv,
    ];
    for k in &all {
        match k {
            Mse | Mae | Huber(_) | Bce | BceWithLogits | CrossEntropy | Nll | KlDiv => {}
        }
    }
    all
}

/// Every target kind (exhaustive match as above).
fn every_target_kind() -> Vec<TargetKind> {
    let all = vec![TargetKind::Dense, TargetKind::ClassIndex];
    for t in &all {
        match t {
            TargetKind::Dense | TargetKind::ClassIndex => {}
        }
    }
    all
}

/// The value of `#define NAME value` in `text`, if defined.
fn define_value(text: &str, name: &str) -> Option<String> {
    let key = format!("#define {name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|rest| rest.split_whitespace().next().map(str::to_string))
}

fn check_codes(header: &str, prefix: &str, codes: &[(i32, &str)], listed: &[(i32, &str)]) {
    for &(code, name) in codes {
        let full = format!("{prefix}{name}");
        assert_eq!(
            define_value(header, &full).as_deref(),
            Some(code.to_string().as_str()),
            "{full} must be #defined as {code}"
        );
        assert!(
            listed.contains(&(code, name)),
            "{full} is missing from the enum's ALL list (the header is rendered from ALL)"
        );
    }
    let mut seen: Vec<i32> = codes.iter().map(|c| c.0).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen.len(),
        codes.len(),
        "{prefix}*: two variants share a code"
    );
    let defines = header
        .lines()
        .filter(|l| l.starts_with(&format!("#define {prefix}")))
        .count();
    assert_eq!(defines, codes.len(), "{prefix}*: one #define per variant");
}

#[test]
fn every_enum_variant_has_its_generated_code() {
    let h = header::generated();
    let acts: Vec<_> = every_activation()
        .into_iter()
        .map(|a| a.cuda_code())
        .collect();
    let listed: Vec<_> = Activation::ALL.iter().map(|a| a.cuda_code()).collect();
    check_codes(&h, "NX_ACT_", &acts, &listed);
    let losses: Vec<_> = every_loss().into_iter().map(|k| k.cuda_code()).collect();
    let listed: Vec<_> = LossKind::ALL.iter().map(|k| k.cuda_code()).collect();
    check_codes(&h, "NX_LOSS_", &losses, &listed);
    let targets: Vec<_> = every_target_kind()
        .into_iter()
        .map(|t| t.cuda_code())
        .collect();
    let listed: Vec<_> = TargetKind::ALL.iter().map(|t| t.cuda_code()).collect();
    check_codes(&h, "NX_TARGET_", &targets, &listed);
    // The host passes the same codes the header names (parameters ride alongside).
    assert_eq!(Activation::LeakyRelu(0.25).kernel_args(), (2, 0.25));
    assert_eq!(Activation::Elu(1.5).kernel_args(), (3, 1.5));
    assert_eq!(Activation::Selu.kernel_args(), (4, 0.0));
    assert_eq!(LossKind::Huber(0.75).kernel_args(), (2, 0.75));
    assert_eq!(LossKind::KlDiv.kernel_args(), (7, 0.0));
}

#[test]
fn shared_constants_carry_the_rust_bits() {
    let h = header::generated();
    let bits = |v: f32| format!("__int_as_float(0x{:08x})", v.to_bits());
    use neuroxide::math;
    for (name, v) in [
        ("NX_SELU_L", math::SELU_L),
        ("NX_SELU_LA", math::SELU_LA),
        ("NX_GELU_K", math::GELU_K),
        ("NX_GELU_C", math::GELU_C),
        ("NX_FRAC_1_SQRT_2", math::FRAC_1_SQRT_2),
        ("NX_FRAC_1_SQRT_2PI", math::FRAC_1_SQRT_2PI),
    ] {
        assert_eq!(define_value(&h, name), Some(bits(v)), "{name}");
    }
    // Spot checks of math.rs's private constants against their documented bit patterns.
    assert_eq!(
        define_value(&h, "NX_LOG2E").as_deref(),
        Some("__int_as_float(0x3fb8aa3b)")
    );
    assert_eq!(
        define_value(&h, "NX_LN2_HI").as_deref(),
        Some("__int_as_float(0x3f317200)")
    );
    assert_eq!(
        define_value(&h, "NX_ERF_A10").as_deref(),
        Some("__int_as_float(0x3808259e)")
    );
    assert_eq!(
        define_value(&h, "NX_ERF_B0").as_deref(),
        Some("__int_as_float(0x3e374c11)")
    );
    assert_eq!(
        define_value(&h, "NX_NAN_BITS").as_deref(),
        Some("0x7fc00000u")
    );
    assert_eq!(
        define_value(&h, "NX_PHILOX_M0").as_deref(),
        Some("0xd2511f53u")
    );
    assert_eq!(
        define_value(&h, "NX_PHILOX_W1").as_deref(),
        Some("0xbb67ae85u")
    );
    let chunk = format!("{}ull", neuroxide::ops::reduce::CHUNK);
    assert_eq!(define_value(&h, "NX_CHUNK"), Some(chunk));
    assert_eq!(
        define_value(&h, "NX_BLOCK_DROPOUT_STEP").as_deref(),
        Some("6")
    );
}

#[test]
fn every_generated_name_is_defined_once_per_translation_unit() {
    let h = header::generated();
    let names: Vec<&str> = h
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() > 60, "only {} generated names", names.len());
    for &fam in compile::FAMILIES
        .iter()
        .chain(neuroxide::ops::CUDA_FAMILIES)
    {
        let src = compile::full_source(fam);
        for name in &names {
            let count = src
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("#define {name} ")))
                .count();
            assert_eq!(count, 1, "{}: {name} defined {count} times", fam.file);
        }
    }
}
