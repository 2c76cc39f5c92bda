//! Accuracy of `neuroxide::math` against float64 references (PARITY.md rule 5: ≤ 2 ulp).
//!
//! Error metric: |y − ref| / ulp_f32(ref), where ulp_f32(ref) is the spacing of f32 numbers at
//! the float64 reference (2^-149 in the subnormal range) and an infinite result counts as ±2^128
//! (so a correctly rounded overflow measures ≤ 0.5). NaN must match NaN exactly (canonical
//! 0x7FC00000 bits).
//!
//! Coverage per function: every 97th f32 bit pattern (44.3M values, both signs, all binades,
//! subnormals, inf, NaN), the first 2^20 patterns of each sign (subnormals and tiny values),
//! dense windows around thresholds and reduction boundaries, 2M uniform values in [−20, 20] and
//! 2M log-uniform values. References: std f64 exp/exp_m1/ln/ln_1p/tanh, sigmoid in f64, and a
//! positive-term f64 series for erf (implemented below, checked against known values).

use neuroxide::math;
use neuroxide::philox::philox4x32_10;

const CANONICAL_NAN: u32 = 0x7fc0_0000;

/// erf in f64 from the everywhere-convergent positive series
/// erf(x) = 2/√π · e^{−x²} · Σ_{n≥0} 2^n x^{2n+1} / (1·3·…·(2n+1)); no cancellation, so the
/// relative error stays near n·2^-53 (n ≤ ~110 terms for |x| < 6). |x| ≥ 6 gives ±1.
fn erf_ref(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    if ax >= 6.0 {
        return 1f64.copysign(x);
    }
    let x2 = ax * ax;
    let mut term = ax;
    let mut sum = ax;
    let mut n = 0f64;
    loop {
        n += 1.0;
        term *= 2.0 * x2 / (2.0 * n + 1.0);
        sum += term;
        if term <= sum * 1e-18 {
            break;
        }
    }
    let y = std::f64::consts::FRAC_2_SQRT_PI * (-x2).exp() * sum;
    y.copysign(x)
}

fn sigmoid_ref(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

type Pair = (&'static str, fn(f32) -> f32, fn(f64) -> f64);

fn pairs() -> [Pair; 7] {
    [
        ("exp", math::exp, f64::exp),
        ("expm1", math::expm1, f64::exp_m1),
        ("log", math::log, f64::ln),
        ("log1p", math::log1p, f64::ln_1p),
        ("tanh", math::tanh, f64::tanh),
        ("sigmoid", math::sigmoid, sigmoid_ref),
        ("erf", math::erf, erf_ref),
    ]
}

/// Error of `y` in ulps of the f32 grid at the float64 reference `r`.
fn ulp_err(y: f32, r: f64) -> f64 {
    if r.is_nan() || y.is_nan() {
        return if r.is_nan() && y.to_bits() == CANONICAL_NAN {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let two128 = 2f64.powi(128);
    if r.abs() >= two128 {
        // The correctly rounded f32 is ±inf.
        return if y.is_infinite() && (f64::from(y) > 0.0) == (r > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let yv = if y.is_infinite() {
        two128.copysign(f64::from(y))
    } else {
        f64::from(y)
    };
    let a = r.abs();
    let e = if a < 2f64.powi(-126) {
        -149
    } else {
        ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023 - 23
    };
    (yv - r).abs() / 2f64.powi(e)
}

#[derive(Clone, Copy)]
struct Worst {
    ulp: f64,
    x: f32,
    n: u64,
}

impl Worst {
    fn new() -> Self {
        Worst {
            ulp: 0.0,
            x: 0.0,
            n: 0,
        }
    }
    fn add(&mut self, x: f32, u: f64) {
        self.n += 1;
        if u > self.ulp || (u.is_nan() && !self.ulp.is_nan()) {
            self.ulp = u;
            self.x = x;
        }
    }
    fn merge(&mut self, o: Worst) {
        self.n += o.n;
        if o.ulp > self.ulp {
            self.ulp = o.ulp;
            self.x = o.x;
        }
    }
}

fn eval(p: &Pair, xs: impl Iterator<Item = f32>) -> Worst {
    let mut w = Worst::new();
    for x in xs {
        let y = (p.1)(x);
        let r = (p.2)(f64::from(x));
        w.add(x, ulp_err(y, r));
    }
    w
}

/// Runs `gen(part)` for parts 0..threads on scoped threads and merges the results.
fn par(p: &Pair, threads: u32, gen: &(dyn Fn(u32) -> Vec<f32> + Sync)) -> Worst {
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || eval(p, gen(t).into_iter())))
            .collect();
        let mut w = Worst::new();
        for h in hs {
            w.merge(h.join().expect("worker"));
        }
        w
    })
}

fn window(center: f32, half: u32) -> Vec<f32> {
    let b = center.to_bits();
    (b.saturating_sub(half)..=b.saturating_add(half))
        .map(f32::from_bits)
        .collect()
}

fn random_inputs(seed: u32, n: u32) -> Vec<f32> {
    let mut v = Vec::with_capacity(n as usize);
    let mut i = 0u32;
    while v.len() < n as usize {
        let w = philox4x32_10([i, 0, 0, 0], [seed, 0x5eed]);
        i += 1;
        // Uniform in [-20, 20).
        let u = (w[0] >> 8) as f32 * (1.0 / 16_777_216.0);
        v.push(-20.0 + 40.0 * u);
        // Log-uniform magnitude in [2^-30, 2^7), random sign.
        let m = (w[1] >> 8) as f32 * (1.0 / 16_777_216.0);
        let ex = -30 + (w[2] % 37) as i32;
        let mag = (1.0 + m) * 2f32.powi(ex);
        v.push(if w[3] & 1 == 1 { -mag } else { mag });
    }
    v
}

fn special_points(name: &str) -> Vec<f32> {
    let ln2 = std::f32::consts::LN_2;
    let mut c = vec![0.0f32, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0];
    for k in -150..=128 {
        // Reduction boundaries (k ± 1/2)·ln2 and k·ln2.
        c.push((k as f32 + 0.5) * ln2);
        c.push(k as f32 * ln2);
    }
    match name {
        "exp" | "expm1" | "sigmoid" => {
            c.extend([88.72284, -87.33655, -103.27893, -103.97208, -17.5])
        }
        "log" => c.extend([
            std::f32::consts::SQRT_2,
            std::f32::consts::FRAC_1_SQRT_2,
            1e-38,
            1e-45,
        ]),
        "log1p" => c.extend([-0.2929, 0.4142, -0.99999994, -0.9, 1e30, 3.0e38]),
        "tanh" => c.extend([9.1, -9.1, 0.1733, 0.55]),
        "erf" => c.extend([0.84375, -0.84375, 2.0, -2.0, 4.0, -4.0, 3.9]),
        _ => {}
    }
    c
}

#[test]
fn accuracy_all_functions() {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(2)
        .clamp(1, 8);
    let stride = 97u64;
    let mut report = String::new();
    let mut failed = false;
    for p in pairs().iter() {
        let t0 = std::time::Instant::now();
        let mut w = Worst::new();
        // 1. Strided sweep over all 2^32 bit patterns.
        let total = 1u64 << 32;
        let per = total.div_ceil(u64::from(threads));
        w.merge(par(p, threads, &|t| {
            let lo = u64::from(t) * per;
            let hi = (lo + per).min(total);
            let first = lo.div_ceil(stride) * stride;
            (first..hi)
                .step_by(stride as usize)
                .map(|b| f32::from_bits(b as u32))
                .collect()
        }));
        // 2. Tiny and subnormal inputs of both signs.
        w.merge(par(p, 2, &|t| {
            let base = if t == 0 { 0u32 } else { 0x8000_0000 };
            (base..base + (1 << 20)).map(f32::from_bits).collect()
        }));
        // 3. Dense windows around special points.
        let pts = special_points(p.0);
        w.merge(eval(p, pts.iter().flat_map(|&c| window(c, 2048))));
        // 4. Random uniform and log-uniform inputs.
        let seed = p.0.len() as u32 * 7919;
        w.merge(par(p, threads, &|t| {
            random_inputs(seed + t, 2_000_000 / threads)
        }));
        // 5. Function-specific exhaustive ranges.
        match p.0 {
            // All inputs whose exp is subnormal or near the overflow threshold.
            "exp" | "sigmoid" => {
                w.merge(par(p, threads, &|t| {
                    let (a, b) = (0xc2ae_0000u32, 0xc2d0_0000u32);
                    let step = (b - a) / threads;
                    (a + t * step..a + (t + 1) * step)
                        .map(f32::from_bits)
                        .collect()
                }));
                w.merge(eval(p, (0x42b0_0000u32..0x42b2_0000).map(f32::from_bits)));
            }
            // All inputs in [0.5, 2) (every f32 whose log has e ∈ {−1, 0, 1}).
            "log" => {
                w.merge(par(p, threads, &|t| {
                    let (a, b) = (0x3f00_0000u32, 0x4000_0000u32);
                    let step = (b - a) / threads;
                    (a + t * step..a + (t + 1) * step)
                        .map(f32::from_bits)
                        .collect()
                }));
            }
            _ => {}
        }
        let line = format!(
            "{:8} max {:.4} ulp at x = {:e} ({:#010x}); {} inputs, {:.1} s\n",
            p.0,
            w.ulp,
            w.x,
            w.x.to_bits(),
            w.n,
            t0.elapsed().as_secs_f64()
        );
        print!("{line}");
        report.push_str(&line);
        if w.ulp.is_nan() || w.ulp > 2.0 {
            failed = true;
        }
    }
    println!("{report}");
    assert!(!failed, "accuracy above 2 ulp:\n{report}");
}

fn bits(x: f32) -> u32 {
    x.to_bits()
}

#[test]
fn exp_edges() {
    assert_eq!(math::exp(0.0), 1.0);
    assert_eq!(math::exp(-0.0), 1.0);
    assert_eq!(math::exp(f32::INFINITY), f32::INFINITY);
    assert_eq!(bits(math::exp(f32::NEG_INFINITY)), 0);
    assert_eq!(bits(math::exp(f32::NAN)), CANONICAL_NAN);
    assert_eq!(math::exp(1.0), std::f32::consts::E);
    // Overflow threshold: 0x42B17217 is the last finite case (e^x = 0.9999927·MAX); 0x42B17218
    // (the f32 nearest 88.72284) overflows, e^x = (1 + 3.0e-7)·MAX > MAX + ½ulp.
    let last = f32::from_bits(0x42b1_7217);
    assert!(math::exp(last).is_finite());
    assert_eq!(math::exp(last), f64::from(last).exp() as f32);
    assert_eq!(math::exp(f32::from_bits(0x42b1_7218)), f32::INFINITY);
    assert_eq!(math::exp(88.7229), f32::INFINITY);
    assert_eq!(math::exp(1000.0), f32::INFINITY);
    // Gradual underflow.
    // e^-100 = 3.72e-44 = 26.56·2^-149, rounds to 27·2^-149.
    let e100 = math::exp(-100.0);
    assert_eq!(bits(e100), 27);
    assert_eq!(e100, (-100f64).exp() as f32);
    // e^-103.97 = 0.501·2^-149 rounds up to the smallest subnormal; e^-103.98 rounds to 0.
    assert_eq!(bits(math::exp(-103.97)), 1);
    assert_eq!(bits(math::exp(-103.98)), 0);
    assert_eq!(bits(math::exp(-104.0)), 0);
    assert_eq!(bits(math::exp(-1000.0)), 0);
}

#[test]
fn expm1_edges() {
    assert_eq!(bits(math::expm1(0.0)), 0);
    assert_eq!(bits(math::expm1(-0.0)), 0x8000_0000);
    assert_eq!(math::expm1(1e-30), 1e-30);
    assert_eq!(math::expm1(-1e-30), -1e-30);
    assert_eq!(math::expm1(f32::from_bits(1)), f32::from_bits(1));
    assert_eq!(
        math::expm1(f32::from_bits(0x8000_0001)),
        f32::from_bits(0x8000_0001)
    );
    assert_eq!(math::expm1(1e-7), (1e-7f64).exp_m1() as f32);
    assert_eq!(math::expm1(f32::INFINITY), f32::INFINITY);
    assert_eq!(math::expm1(f32::NEG_INFINITY), -1.0);
    assert_eq!(math::expm1(-20.0), -1.0);
    assert_eq!(math::expm1(100.0), f32::INFINITY);
    assert_eq!(bits(math::expm1(f32::NAN)), CANONICAL_NAN);
    assert_eq!(math::expm1(f32::from_bits(0x42b1_7218)), f32::INFINITY);
    assert!(math::expm1(f32::from_bits(0x42b1_7217)).is_finite());
}

#[test]
fn log_edges() {
    assert_eq!(math::log(0.0), f32::NEG_INFINITY);
    assert_eq!(math::log(-0.0), f32::NEG_INFINITY);
    assert_eq!(bits(math::log(-1.0)), CANONICAL_NAN);
    assert_eq!(bits(math::log(-1e-45)), CANONICAL_NAN);
    assert_eq!(bits(math::log(f32::NEG_INFINITY)), CANONICAL_NAN);
    assert_eq!(bits(math::log(f32::NAN)), CANONICAL_NAN);
    assert_eq!(math::log(f32::INFINITY), f32::INFINITY);
    assert_eq!(bits(math::log(1.0)), 0);
    assert_eq!(math::log(std::f32::consts::E), 1.0);
    assert_eq!(math::log(2.0), std::f32::consts::LN_2);
    // Smallest subnormal: ln(2^-149) = -103.27893.
    assert_eq!(math::log(f32::from_bits(1)), -103.27893);
    assert_eq!(math::log(f32::MAX), 88.72284);
}

#[test]
fn log1p_edges() {
    assert_eq!(bits(math::log1p(0.0)), 0);
    assert_eq!(bits(math::log1p(-0.0)), 0x8000_0000);
    assert_eq!(math::log1p(-1.0), f32::NEG_INFINITY);
    assert_eq!(bits(math::log1p(-1.0000001)), CANONICAL_NAN);
    assert_eq!(bits(math::log1p(f32::NEG_INFINITY)), CANONICAL_NAN);
    assert_eq!(bits(math::log1p(f32::NAN)), CANONICAL_NAN);
    assert_eq!(math::log1p(f32::INFINITY), f32::INFINITY);
    assert_eq!(math::log1p(1e-30), 1e-30);
    assert_eq!(math::log1p(f32::from_bits(1)), f32::from_bits(1));
    assert_eq!(
        math::log1p(f32::from_bits(0x8000_0001)),
        f32::from_bits(0x8000_0001)
    );
    assert_eq!(math::log1p(1.0), std::f32::consts::LN_2);
    assert_eq!(math::log1p(f32::MAX), 88.72284);
}

#[test]
fn tanh_edges() {
    assert_eq!(bits(math::tanh(0.0)), 0);
    assert_eq!(bits(math::tanh(-0.0)), 0x8000_0000);
    assert_eq!(math::tanh(f32::INFINITY), 1.0);
    assert_eq!(math::tanh(f32::NEG_INFINITY), -1.0);
    assert_eq!(math::tanh(10.0), 1.0);
    assert_eq!(math::tanh(-50.0), -1.0);
    assert_eq!(math::tanh(f32::MAX), 1.0);
    assert_eq!(math::tanh(1e-30), 1e-30);
    assert_eq!(math::tanh(f32::from_bits(1)), f32::from_bits(1));
    assert_eq!(
        math::tanh(f32::from_bits(0x8000_0001)),
        f32::from_bits(0x8000_0001)
    );
    assert_eq!(bits(math::tanh(f32::NAN)), CANONICAL_NAN);
    for x in [0.3f32, 1.0, 2.5, 8.0] {
        assert_eq!(math::tanh(-x), -math::tanh(x));
    }
}

#[test]
fn sigmoid_edges() {
    assert_eq!(math::sigmoid(0.0), 0.5);
    assert_eq!(math::sigmoid(-0.0), 0.5);
    assert_eq!(math::sigmoid(f32::INFINITY), 1.0);
    assert_eq!(bits(math::sigmoid(f32::NEG_INFINITY)), 0);
    assert_eq!(math::sigmoid(f32::MAX), 1.0);
    assert_eq!(bits(math::sigmoid(-f32::MAX)), 0);
    assert_eq!(math::sigmoid(200.0), 1.0);
    assert_eq!(math::sigmoid(16.0), 0.9999999);
    // Very negative x follows e^x into the subnormals (no NaN, no flush).
    assert_eq!(math::sigmoid(-100.0), math::exp(-100.0));
    assert_eq!(bits(math::sigmoid(-103.97)), 1);
    assert_eq!(bits(math::sigmoid(f32::NAN)), CANONICAL_NAN);
}

#[test]
fn erf_edges() {
    assert_eq!(bits(math::erf(0.0)), 0);
    assert_eq!(bits(math::erf(-0.0)), 0x8000_0000);
    assert_eq!(math::erf(f32::INFINITY), 1.0);
    assert_eq!(math::erf(f32::NEG_INFINITY), -1.0);
    assert_eq!(math::erf(4.0), 1.0);
    assert_eq!(math::erf(-10.0), -1.0);
    assert_eq!(bits(math::erf(f32::NAN)), CANONICAL_NAN);
    // Subnormal: erf(x) = 2x/√π rounded once (2^-149 · 1.128 rounds to 2^-149; 10·2^-149 → 11).
    assert_eq!(bits(math::erf(f32::from_bits(1))), 1);
    assert_eq!(bits(math::erf(f32::from_bits(10))), 11);
    assert_eq!(math::erf(1.0), 0.8427008);
    assert_eq!(math::erf(-0.5), -0.5204999);
}

#[test]
fn erf_reference_matches_known_values() {
    // Values of erf from Abramowitz & Stegun / high-precision tables.
    let cases = [
        (0.1f64, 0.1124629160182849),
        (0.5, 0.5204998778130465),
        (1.0, 0.8427007929497149),
        (2.0, 0.9953222650189527),
        (3.0, 0.9999779095030014),
        (4.0, 0.9999999845827421),
    ];
    for (x, want) in cases {
        let got = erf_ref(x);
        assert!(
            (got - want).abs() <= 4.0 * f64::EPSILON * want,
            "erf_ref({x}) = {got}, want {want}"
        );
    }
}

#[test]
fn all_functions_lists_cuda_names() {
    let names: Vec<_> = math::all_functions().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "nx_exp",
            "nx_expm1",
            "nx_log",
            "nx_log1p",
            "nx_tanh",
            "nx_sigmoid",
            "nx_erf"
        ]
    );
    for (_, f) in math::all_functions() {
        assert!(f(0.25).is_finite());
    }
    assert_eq!(math::all_functions()[0].1(1.0), math::exp(1.0));
}

/// `tanh8` / `tanh_lane` (the vectorisable tanh of GELU-tanh's backward) give `tanh`'s bits:
/// a stride through all f32 bit patterns plus the edge cases.
#[test]
fn tanh8_is_tanh_bit_for_bit() {
    use neuroxide::math::{tanh, tanh8};
    let mut xs: Vec<f32> = vec![
        0.0,
        -0.0,
        1e-45,
        -1e-45,
        1e-38,
        9.1,
        -9.1,
        9.100001,
        8.0,
        12.0,
        0.5,
        17.0,
        30.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN_POSITIVE,
    ];
    xs.extend(
        (0..(1u64 << 32))
            .step_by(257)
            .map(|b| f32::from_bits(b as u32)),
    );
    xs.extend((0..1_000_000).map(|i| (i as f32 - 500_000.0) * 2e-5));
    for c in xs.chunks(8) {
        let mut lanes = [0.0f32; 8];
        lanes[..c.len()].copy_from_slice(c);
        let got = tanh8(lanes);
        for (l, &x) in lanes.iter().enumerate() {
            assert_eq!(
                got[l].to_bits(),
                tanh(x).to_bits(),
                "tanh8({x:e}) (bits {:#x})",
                x.to_bits()
            );
        }
    }
}

/// The CPU backward kernels with a path of their own — GELU-tanh (blocks of 64 through
/// `tanh_lane`) and ReLU (a select over zipped slices) — give the scalar formula's bits (NaN
/// results are NaN), signed zeros, infinities and NaNs among the inputs and the gradients.
#[test]
fn activation_backward_kernels_match_the_scalar_formula() {
    use neuroxide::backend::cpu::CpuBackend;
    use neuroxide::ops::elementwise::{self, activation, ActivationBackward};
    use neuroxide::{Activation, Backend};
    let n = 100_003;
    let x: Vec<f32> = (0..n)
        .map(|i| match i % 13 {
            0 => f32::from_bits((i as u32).wrapping_mul(2_654_435_761)),
            1 => -0.0,
            _ => (i as f32 * 0.618).sin() * 12.0,
        })
        .collect();
    let dy: Vec<f32> = (0..n)
        .map(|i| match i % 17 {
            0 => -0.0,
            1 => f32::NEG_INFINITY,
            2 => f32::NAN,
            3 => f32::from_bits(1), // the smallest denormal
            _ => (i as f32 * 0.37).cos(),
        })
        .collect();
    let mut be = CpuBackend::new(2);
    let (bx, by, bdy, bdx) = (
        be.alloc(n).unwrap(),
        be.alloc(n).unwrap(),
        be.alloc(n).unwrap(),
        be.alloc(n).unwrap(),
    );
    be.upload(bx, 0, &x).unwrap();
    be.upload(bdy, 0, &dy).unwrap();
    for act in [Activation::GeluTanh, Activation::Relu] {
        elementwise::activation_backward(
            &mut be,
            &ActivationBackward {
                act,
                x: bx,
                y: by,
                dy: bdy,
                dx: bdx,
                n,
            },
        )
        .unwrap();
        let mut got = vec![0.0; n];
        be.download(bdx, 0, &mut got).unwrap();
        for i in 0..n {
            let want = activation::backward(act, x[i], 0.0, dy[i]);
            // NaN payloads are not part of the contract (the compiler may commute a NaN operand).
            if want.is_nan() {
                assert!(got[i].is_nan(), "{act:?}: x = {:e}", x[i]);
                continue;
            }
            assert_eq!(
                got[i].to_bits(),
                want.to_bits(),
                "{act:?}: x = {:e}, dy = {:e}",
                x[i],
                dy[i]
            );
        }
    }
}
