//! math.cuh against math.rs on millions of inputs, the CUDA allocator's reuse and counters,
//! several backends on one GPU, and allocation limits (split from cuda_parity.rs). Skip rules
//! of PARITY.md.

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::backend::cpu::CpuBackend;
use neuroxide::backend::cuda::{CudaBackend, MathFn};
use neuroxide::backend::{Activation, Backend};
use neuroxide::ops;
use neuroxide::ops::matmul::Matmul;
use neuroxide::{math, philox};
use parity_pair::{assert_same, diff, gpu, rng};

#[test]
fn math_cuh_matches_math_rs_on_millions_of_inputs() {
    let Some(mut gpu) = gpu() else { return };
    let mut r = rng("math");
    // Stratified over all 2^32 bit patterns (every sign, exponent, denormals, inf, NaN) plus
    // the thresholds where the implementations switch branches.
    let stride = 1u32 << 11;
    let mut xs: Vec<f32> = (0..(1u64 << 32) / u64::from(stride))
        .map(|i| f32::from_bits((i as u32) * stride + (r.next() as u32 % stride)))
        .collect();
    xs.extend(r.vec(1 << 20, -20.0, 20.0));
    xs.extend(r.vec(1 << 18, -1e-3, 1e-3));
    xs.extend_from_slice(&[
        0.0,
        -0.0,
        1.0,
        -1.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::from_bits(0x8000_0001),
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        88.72283,
        88.72284,
        -87.33654,
        -103.27893,
        -103.97208,
        -104.0,
        9.010913,
        -9.010913,
        20.0,
        -20.0,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        -0.99999994,
        -1.0000001,
    ]);
    let n = xs.len();
    let x = gpu.alloc(n).unwrap();
    let y = gpu.alloc(n).unwrap();
    gpu.upload(x, 0, &xs).unwrap();
    let fns: [(MathFn, neuroxide::math::UnaryFn); 8] = [
        (MathFn::Exp, math::exp),
        (MathFn::Expm1, math::expm1),
        (MathFn::Log, math::log),
        (MathFn::Log1p, math::log1p),
        (MathFn::Tanh, math::tanh),
        (MathFn::Sigmoid, math::sigmoid),
        (MathFn::Erf, math::erf),
        (MathFn::Uniform01, |v| philox::uniform01(v.to_bits())),
    ];
    let mut out = vec![0.0f32; n];
    let mut failures = Vec::new();
    for (f, host) in fns {
        gpu.eval_math(f, x, y, n).unwrap();
        gpu.download(y, 0, &mut out).unwrap();
        let want: Vec<f32> = xs.iter().map(|&v| host(v)).collect();
        let (count, max_ulp, first) = diff(&want, &out);
        println!("{f:?}: {n} inputs, {count} differ, max {max_ulp} ulp");
        if let Some(i) = first {
            failures.push(format!(
                "{f:?}: {count} differ (max {max_ulp} ulp), first x = {:e} ({:#010x}): rust {:e} cuda {:e}",
                xs[i],
                xs[i].to_bits(),
                want[i],
                out[i]
            ));
        }
    }
    // Philox on random counters and keys.
    let items = 1 << 18;
    let words: Vec<u32> = (0..6 * items).map(|_| r.next() as u32).collect();
    let input = gpu.alloc(6 * items).unwrap();
    let output = gpu.alloc(4 * items).unwrap();
    let as_f32: Vec<f32> = words.iter().map(|&w| f32::from_bits(w)).collect();
    gpu.upload(input, 0, &as_f32).unwrap();
    gpu.eval_philox(input, output, items).unwrap();
    let mut got = vec![0.0f32; 4 * items];
    gpu.download(output, 0, &mut got).unwrap();
    let mut bad = 0;
    for i in 0..items {
        let c = &words[6 * i..6 * i + 6];
        let want = philox::philox4x32_10([c[0], c[1], c[2], c[3]], [c[4], c[5]]);
        let have: Vec<u32> = got[4 * i..4 * i + 4].iter().map(|v| v.to_bits()).collect();
        bad += usize::from(have != want);
    }
    println!("philox4x32_10: {items} blocks, {bad} differ");
    if bad > 0 {
        failures.push(format!("philox4x32_10: {bad} of {items} blocks differ"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn allocator_reuses_blocks_and_counts_syncs() {
    let Some(mut gpu) = gpu() else { return };
    let s0 = gpu.stats();
    let a = gpu.alloc(1000).unwrap();
    let s1 = gpu.stats();
    gpu.free(a).unwrap();
    let b = gpu.alloc(900).unwrap(); // same size class: served from the cache
    let s2 = gpu.stats();
    assert_eq!(s2.device_allocs, s1.device_allocs, "{s1:?} -> {s2:?}");
    assert_eq!(s2.reused_allocs, s1.reused_allocs + 1);
    assert!(s1.device_allocs + s1.reused_allocs > s0.device_allocs + s0.reused_allocs);
    let mut v = vec![1.0f32; 900];
    gpu.download(b, 0, &mut v).unwrap();
    assert!(
        v.iter().all(|&x| x == 0.0),
        "alloc must zero-fill a reused block"
    );
    assert_eq!(gpu.stats().syncs, s2.syncs + 1);
    assert!(gpu.free(a).is_err(), "double free is an error");
    let dynamic: &dyn Backend = &gpu;
    assert_eq!(dynamic.stats(), gpu.stats());
}

#[test]
fn concurrent_backends_on_one_gpu_agree_with_the_cpu() {
    if gpu().is_none() {
        return;
    }
    let mut r = rng("concurrent");
    let (m, k, n) = (513, 300, 257);
    let a: Vec<f32> = r.vec(m * k, -1.0, 1.0);
    let b: Vec<f32> = r.vec(k * n, -1.0, 1.0);
    let run = |be: &mut dyn Backend, a: &[f32], b: &[f32]| -> Vec<f32> {
        let ia = be.alloc(a.len()).unwrap();
        let ib = be.alloc(b.len()).unwrap();
        let ic = be.alloc(m * n).unwrap();
        be.upload(ia, 0, a).unwrap();
        be.upload(ib, 0, b).unwrap();
        for _ in 0..20 {
            let mm = Matmul {
                m,
                n,
                k,
                a: ia,
                a_trans: false,
                b: ib,
                b_trans: false,
                c: ic,
                bias: None,
                pre_act: None,
                act: Activation::Relu,
            };
            ops::matmul::matmul(be, &mm).unwrap();
        }
        let mut out = vec![0.0; m * n];
        be.download(ic, 0, &mut out).unwrap();
        out
    };
    let want = run(&mut CpuBackend::new(2), &a, &b);
    let results: Vec<Vec<f32>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut g = CudaBackend::new(0).unwrap();
                    run(&mut g, &a, &b)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, got) in results.iter().enumerate() {
        assert_same(&format!("thread {t}"), &want, got);
    }
}

#[test]
fn a_buffer_larger_than_the_card_is_a_clear_error() {
    let Some(mut gpu) = gpu() else { return };
    // 2^38 f32 values = 1 TiB: more than any card has.
    let err = gpu
        .alloc(1 << 38)
        .expect_err("a 1 TiB buffer cannot be allocated");
    let msg = err.to_string();
    println!("{msg}");
    assert!(msg.contains("1.0 TiB"), "{msg}");
    assert!(msg.contains("more device memory than is free"), "{msg}");
    // The backend still works afterwards.
    let b = gpu.alloc(16).expect("a small buffer");
    gpu.upload(b, 0, &[1.0; 16]).expect("upload");
}
