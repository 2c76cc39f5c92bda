//! Exact transcendental functions in f32 (PARITY.md rule 5).
//!
//! Why this module exists: the CPU and CUDA backends must produce bit-identical results, so no
//! kernel may call a platform `expf`/`logf` (glibc, musl, the CUDA math library and Rust's libm
//! all round differently). Every function here is a fixed sequence of IEEE-754 binary32
//! operations: `+ - * /` (correctly rounded), `f32::mul_add` exactly where written (CUDA: `fmaf`),
//! comparisons and bit manipulation. There is no f64 arithmetic, no call into std's
//! transcendental functions and no lookup table. `backend/cuda/kernels/math.cuh` is the same
//! code line for line (same constants, same operation order); it is compiled by NVRTC with
//! `--fmad=false`, so neither side contracts `a * b + c` on its own.
//!
//! Shared building blocks:
//! - Range reduction for exp/expm1: `x = k·ln2 + r`, `|r| ≤ ln2/2 (+ rounding slack)`, with
//!   `k = round(x·log2e)` (round-to-nearest-even through the 1.5·2^23 shifter), Cody–Waite
//!   `ln2 = LN2_HI + LN2_LO` where `k·LN2_HI` and `x − k·LN2_HI` are exact, and the rounding
//!   residual `c` of `r` carried into the low-order part.
//! - `expm1(r) = r + r²·P(r)`, `P` a degree-5 minimax polynomial (Horner with fma).
//! - Final sums use Fast2Sum (`s = a + b; err = (a − s) + b`, exact when `|a| ≥ |b|`), so each
//!   result has a single dominant rounding.
//! - Scaling by 2^k is done with power-of-two multiplies that are exact except for the one
//!   final multiply that may round into the subnormal range (gradual underflow, no FTZ).
//! - log/log1p: `x = 2^e·m`, `m ∈ [√½, √2)`, `f = m − 1`, `s = f/(2+f)`,
//!   `log1p(f) = f − s·(f − s²·R(s²))` with `R` a degree-3 minimax polynomial for
//!   `(2·atanh(s) − 2s)/s³`; `e·ln2 + f` is added with Fast2Sum.
//!
//! NaN results are always the canonical quiet NaN `0x7FC0_0000` (returned as a constant, never
//! produced by arithmetic), so CPU and GPU agree on NaN bits too.
//!
//! Measured accuracy against a float64 reference (tests/math_accuracy.rs: every 97th f32 bit
//! pattern, dense sweeps around 0, the subnormal range, thresholds and reduction boundaries,
//! plus 2M random values per function; ~50M inputs per function). Max error in ulps of the f32
//! result (`cargo test --release --test math_accuracy -- --nocapture`):
//!
//! | function | max ulp | worst input        |
//! |----------|---------|--------------------|
//! | exp      | 0.758   | −87.69806 (result just below the subnormal boundary, double rounding) |
//! | expm1    | 0.858   | 0.34661043         |
//! | log      | 0.954   | 0.7065256          |
//! | log1p    | 0.861   | −0.29294795        |
//! | tanh     | 0.725   | 0.17331517         |
//! | sigmoid  | 0.758   | −87.69806          |
//! | erf      | 0.946   | 0.8464634          |
//!
//! Host-side f64 math that decides bits (initialisation, schedules, bias corrections, position
//! and rotation tables; PARITY.md rule 8a) is in [`host`].

pub mod host;

/// Canonical quiet NaN returned by every function for NaN or out-of-domain input.
pub(crate) const NAN: f32 = f32::from_bits(0x7fc0_0000);
pub(crate) const INF: f32 = f32::from_bits(0x7f80_0000);
pub(crate) const NEG_INF: f32 = f32::from_bits(0xff80_0000);

/// log2(e) rounded to f32 (0x3FB8AA3B).
#[allow(clippy::approx_constant)]
pub(crate) const LOG2E: f32 = 1.442695;
/// High part of ln 2 with 15 significant bits (0x3F317200): `k·LN2_HI` is exact for |k| ≤ 2^8.
pub(crate) const LN2_HI: f32 = 0.69314575;
/// ln 2 − LN2_HI rounded to f32 (0x35BFBE8E).
pub(crate) const LN2_LO: f32 = 1.4286068e-6;
/// 1.5·2^23: adding and subtracting it rounds a float of magnitude < 2^22 to an integer.
pub(crate) const ROUND_SHIFT: f32 = 12582912.0;
/// exp(x) = +inf for x above this (ln(f32::MAX) ≈ 88.7228; k = 128 is handled up to here).
pub(crate) const EXP_OVERFLOW: f32 = 88.8;
/// exp(x) = +0 for x below this (e^-104 < 2^-150, half the smallest subnormal).
pub(crate) const EXP_UNDERFLOW: f32 = -104.0;
/// expm1(x) = −1 for x below this (e^-17.5 < 2^-25, half an ulp of 1 from below).
pub(crate) const EXPM1_MINUS_ONE: f32 = -17.5;

// P(r) ≈ (expm1(r) − r)/r² on |r| ≤ 0.3466 (minimax, f32 coefficient error 2^-27.9 absolute).
pub(crate) const EXPM1_P5: f32 = 0.00019890991; // 0x39509279
pub(crate) const EXPM1_P4: f32 = 0.001393365; // 0x3AB6A192
pub(crate) const EXPM1_P3: f32 = 0.0083333105; // 0x3C088870
pub(crate) const EXPM1_P2: f32 = 0.041666467; // 0x3D2AAA75
pub(crate) const EXPM1_P1: f32 = 0.16666667; // 0x3E2AAAAB
pub(crate) const EXPM1_P0: f32 = 0.5; // 0x3F000000

// R(z) ≈ (2·atanh(s) − 2s)/s³, z = s² ∈ [0, 0.0295] (minimax, error 2^-25.4 absolute).
pub(crate) const LOG_R3: f32 = 0.23330496; // 0x3E6EE77F
pub(crate) const LOG_R2: f32 = 0.2855082; // 0x3E922E21
pub(crate) const LOG_R1: f32 = 0.40000123; // 0x3ECCCCF6
pub(crate) const LOG_R0: f32 = 0.6666667; // 0x3F2AAAAB

/// `m` of `x = 2^e·m` is kept in [√½, √2): bit pattern of √½ rounded to f32.
pub(crate) const SQRT_HALF_BITS: u32 = 0x3f35_04f3;

// erf(x)/x − 1 as a polynomial in z = x², z ∈ [0, 0.84375²] (error 2^-27.2 absolute).
pub(crate) const ERF_S6: f32 = 8.889625e-5; // 0x38BA6DD0
pub(crate) const ERF_S5: f32 = -0.0008255121; // 0xBA58672E
pub(crate) const ERF_S4: f32 = 0.00521012; // 0x3BAAB9A8
pub(crate) const ERF_S3: f32 = -0.026862768; // 0xBCDC0F4F
pub(crate) const ERF_S2: f32 = 0.112837516; // 0x3DE7175B
pub(crate) const ERF_S1: f32 = -0.37612638; // 0xBEC093A3
pub(crate) const ERF_S0: f32 = 0.12837917; // 0x3E0375D4

// erfcx(x) = e^{x²}·erfc(x) on [0.84375, 2) as a polynomial in t = x − 1.5 (relative 2^-27.7).
pub(crate) const ERF_A10: f32 = 3.245996e-5; // 0x3808259E
pub(crate) const ERF_A9: f32 = -7.667317e-5; // 0xB8A0CB98
pub(crate) const ERF_A8: f32 = 0.000217531; // 0x39641908
pub(crate) const ERF_A7: f32 = -0.00066116534; // 0xBA2D520E
pub(crate) const ERF_A6: f32 = 0.0018874487; // 0x3AF76445
pub(crate) const ERF_A5: f32 = -0.0051460164; // 0xBBA89FEA
pub(crate) const ERF_A4: f32 = 0.013377216; // 0x3C5B2C1C
pub(crate) const ERF_A3: f32 = -0.032930903; // 0xBD06E28E
pub(crate) const ERF_A2: f32 = 0.07615104; // 0x3D9BF514
pub(crate) const ERF_A1: f32 = -0.16362292; // 0xBE278CC4
pub(crate) const ERF_A0: f32 = 0.32158542; // 0x3EA4A6D8

// erfcx(x) on [2, 4) as a polynomial in t = x − 3 (relative 2^-21.8; erfc/erf ≤ 0.005 here).
pub(crate) const ERF_B7: f32 = -2.3650324e-5; // 0xB7C664AF
pub(crate) const ERF_B6: f32 = 9.469386e-5; // 0x38C69661
pub(crate) const ERF_B5: f32 = -0.000322424; // 0xB9A90B04
pub(crate) const ERF_B4: f32 = 0.0012159084; // 0x3A9F5F1E
pub(crate) const ERF_B3: f32 = -0.0044797743; // 0xBB92CB12
pub(crate) const ERF_B2: f32 = 0.015885811; // 0x3C8222F6
pub(crate) const ERF_B1: f32 = -0.05437225; // 0xBD5EB570
pub(crate) const ERF_B0: f32 = 0.17900111; // 0x3E374C11

/// Terms per chunk of the chunked reduction order (PARITY rule 2a, `ops::reduce`). A constant
/// of the contract: it never depends on the device, the launch shape or the thread count.
pub const CHUNK: usize = 256;

/// SELU's λ and α, rounded to f32; `SELU_LA = λ·α` rounded once (the activations of
/// `ops::elementwise::activation`; here because the CUDA prelude is generated from them).
pub const SELU_L: f32 = 1.050_701;
pub const SELU_A: f32 = 1.673_263_2;
pub const SELU_LA: f32 = SELU_L * SELU_A;
/// √(2/π) and the cubic coefficient of GELU's tanh form.
pub const GELU_K: f32 = 0.797_884_6;
pub const GELU_C: f32 = 0.044_715;
/// 1/√2 and 1/√(2π) for GELU's erf form.
pub const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
pub const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// 2^k as an f32 for k in [-149, 127], built from its bit pattern (subnormal below -126).
#[inline(always)]
fn pow2i(k: i32) -> f32 {
    if k >= -126 {
        f32::from_bits(((k + 127) as u32) << 23)
    } else {
        f32::from_bits(1u32 << (k + 149))
    }
}

/// v·2^k for k in [-150, 128] with a single rounding: the first multiply is exact (normal
/// range), only the last may round (into the subnormal range or to infinity).
#[inline(always)]
fn scale(v: f32, k: i32) -> f32 {
    if k > 127 {
        v * pow2i(127) * 2.0
    } else if k < -126 {
        v * pow2i(k + 64) * pow2i(-64)
    } else {
        v * pow2i(k)
    }
}

/// Range reduction `x = k·ln2 + r + c`: returns (k, r, c) where `c` is the rounding residual of
/// `r`. Valid for |x| ≤ 104.
#[inline(always)]
fn exp_reduce(x: f32) -> (i32, f32, f32) {
    let kf = (x * LOG2E + ROUND_SHIFT) - ROUND_SHIFT;
    let r_hi = x - kf * LN2_HI;
    let r = (-kf).mul_add(LN2_LO, r_hi);
    let c = (-kf).mul_add(LN2_LO, r_hi - r);
    (kf as i32, r, c)
}

/// `expm1(r + c) − r ≈ r²·P(r) + c·(1 + r)` for |r| ≤ 0.347 and tiny c.
#[inline(always)]
fn expm1_tail(r: f32, c: f32) -> f32 {
    let mut p = EXPM1_P5;
    p = p.mul_add(r, EXPM1_P4);
    p = p.mul_add(r, EXPM1_P3);
    p = p.mul_add(r, EXPM1_P2);
    p = p.mul_add(r, EXPM1_P1);
    p = p.mul_add(r, EXPM1_P0);
    let r2 = r * r;
    r2.mul_add(p, c.mul_add(r, c))
}

/// e^x as an unevaluated pair `hi + lo` (`hi` is the rounded result, `lo` ≈ e^x − hi carries
/// ~2^-30 relative extra precision) for finite x ≤ 88.8. Used by exp and sigmoid.
#[inline(always)]
fn exp_pair(x: f32) -> (f32, f32) {
    if x < EXP_UNDERFLOW {
        return (0.0, 0.0);
    }
    let (k, r, c) = exp_reduce(x);
    let lo = expm1_tail(r, c);
    let s = 1.0 + r;
    let err = (1.0 - s) + r;
    let w = err + lo;
    let vh = s + w;
    let vl = (s - vh) + w;
    (scale(vh, k), scale(vl, k))
}

/// e^x. Max error measured: 0.758 ulp (module table).
///
/// `exp(x) = 2^k·(1 + r + tail)`, summed with Fast2Sum, scaled with one rounding.
/// Overflow: +inf for x ≥ 88.72283936 (0x42B17218; correctly rounded, since e^x there exceeds
/// f32::MAX + ½ulp); 88.72283173 (0x42B17217) is the largest finite case. Underflow is gradual:
/// exp(-100) = 27·2^-149 ≈ 3.78e-44, exp(-103.97) = 2^-149 (smallest subnormal),
/// exp(x < -103.972) = 0.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return NAN;
    }
    if x > EXP_OVERFLOW {
        return INF;
    }
    exp_pair(x).0
}

/// e^x − 1 as an unevaluated pair `hi + lo` for finite x ∈ [−17.5, 88.8], x ≠ 0.
///
/// `expm1(x) = 2^k·((1 − 2^-k) + r + tail)` for −1 ≤ k ≤ 24, where `1 − 2^-k` is exact and is
/// added to r with Fast2Sum, so cancellation never costs precision; for k > 24 the `−2^-k` goes
/// into the low-order part; for k ≤ −2 (x < −1.04), `−1 + 2^k·e^r` is a Fast2Sum as well.
#[inline(always)]
fn expm1_pair(x: f32) -> (f32, f32) {
    let (k, r, c) = exp_reduce(x);
    let lo = expm1_tail(r, c);
    let mut t = 1.0;
    let mut tl = 0.0;
    if k > 24 {
        tl = pow2i(-k);
    } else if k >= -1 {
        t = 1.0 - pow2i(-k);
    }
    let s = t + r;
    let err = (t - s) + r;
    let w = (err + lo) - tl;
    let vh = s + w;
    let vl = (s - vh) + w;
    let yh = scale(vh, k);
    let yl = scale(vl, k);
    if k < -1 {
        let zh = -1.0 + yh;
        let zl = ((-1.0 - zh) + yh) + yl;
        (zh, zl)
    } else {
        (yh, yl)
    }
}

/// e^x − 1, accurate near 0 (returns x itself for tiny and subnormal x, keeps −0).
/// Max error measured: 0.858 ulp. Overflows exactly like `exp`; −1 below −17.5.
#[inline(always)]
pub fn expm1(x: f32) -> f32 {
    if x.is_nan() {
        return NAN;
    }
    if x > EXP_OVERFLOW {
        return INF;
    }
    if x < EXPM1_MINUS_ONE {
        return -1.0;
    }
    if x == 0.0 {
        return x;
    }
    expm1_pair(x).0
}

/// `e·ln2 + log1p(f) + c` for f ∈ [√½ − 1, √2 − 1], integer-valued `ef` and a tiny correction
/// `c`, with `log1p(f) = f − s·(f − s²·R(s²))`, `s = f/(2 + f)`.
#[inline(always)]
fn log_core(f: f32, ef: f32, c: f32) -> f32 {
    let s = f / (2.0 + f);
    let z = s * s;
    let mut rz = LOG_R3;
    rz = rz.mul_add(z, LOG_R2);
    rz = rz.mul_add(z, LOG_R1);
    rz = rz.mul_add(z, LOG_R0);
    let corr = s * (f - z * rz);
    let hi = ef * LN2_HI;
    let lo = ef.mul_add(LN2_LO, c);
    let sh = hi + f;
    let se = (hi - sh) + f;
    sh + (se - (corr - lo))
}

/// Natural logarithm (max error measured 0.954 ulp). log(±0) = −inf, log(x < 0) = NaN,
/// log(+inf) = +inf, log(1) = +0; subnormal inputs are normalised exactly (×2^25) first.
#[inline(always)]
pub fn log(x: f32) -> f32 {
    if x.is_nan() {
        return NAN;
    }
    if x < 0.0 {
        return NAN;
    }
    if x == 0.0 {
        return NEG_INF;
    }
    if x == INF {
        return x;
    }
    let mut ix = x.to_bits();
    let mut e: i32 = 0;
    if ix < 0x0080_0000 {
        ix = (x * 33554432.0).to_bits();
        e = -25;
    }
    ix += 0x3f80_0000 - SQRT_HALF_BITS;
    e += (ix >> 23) as i32 - 127;
    ix = (ix & 0x007f_ffff) + SQRT_HALF_BITS;
    let f = f32::from_bits(ix) - 1.0;
    log_core(f, e as f32, 0.0)
}

/// ln(1 + x) (max error measured 0.861 ulp), accurate near 0 (returns x for tiny x, keeps −0).
/// log1p(−1) = −inf, log1p(x < −1) = NaN.
///
/// For x ∈ (−0.2929, 0.4142) the log core runs on x itself. Otherwise u = fl(1 + x) is
/// decomposed like `log`, and the exact rounding error of `1 + x` (computed with Sterbenz-exact
/// subtractions) is added as `c/u`.
#[inline(always)]
pub fn log1p(x: f32) -> f32 {
    if x.is_nan() {
        return NAN;
    }
    if x < -1.0 {
        return NAN;
    }
    if x == -1.0 {
        return NEG_INF;
    }
    if x == INF {
        return x;
    }
    if x == 0.0 {
        return x;
    }
    if -0.2929 < x && x < 0.4142 {
        return log_core(x, 0.0, 0.0);
    }
    let u = 1.0 + x;
    let mut ix = u.to_bits();
    ix += 0x3f80_0000 - SQRT_HALF_BITS;
    let e = (ix >> 23) as i32 - 127;
    ix = (ix & 0x007f_ffff) + SQRT_HALF_BITS;
    let f = f32::from_bits(ix) - 1.0;
    let c = if x >= 1.0 {
        1.0 - (u - x)
    } else {
        x - (u - 1.0)
    };
    log_core(f, e as f32, c / u)
}

/// Hyperbolic tangent (max error measured 0.725 ulp): `tanh(|x|) = t/(t + 2)`,
/// `t = expm1(2|x|)` taken as the pair
/// `th + tl`, sign restored by bits.
///
/// The denominator is kept as an exact pair `d + de` (Fast2Sum) and the quotient gets one
/// fma-based correction step `q + (th − q·d + tl − q·de)/d`, so the division is nearly correctly
/// rounded and expm1's own rounding does not reach the result. |x| > 9.1 saturates to ±1
/// (1 − tanh < 2^-25 there); tanh(±0) = ±0.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    if x.is_nan() {
        return NAN;
    }
    if x == 0.0 {
        return x;
    }
    let sign = x.to_bits() & 0x8000_0000;
    let ax = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    let mut y = 1.0;
    if ax <= 9.1 {
        let (th, tl) = expm1_pair(ax + ax);
        let d = th + 2.0;
        let de = if th > 2.0 {
            ((th - d) + 2.0) + tl
        } else {
            ((2.0 - d) + th) + tl
        };
        let q = th / d;
        let mut rr = (-q).mul_add(d, th);
        rr += tl;
        rr = (-q).mul_add(de, rr);
        y = q + rr / d;
    }
    f32::from_bits(y.to_bits() | sign)
}

/// [`tanh`] of 8 values, bit-identical to it: the same operations in the same order, with
/// selects instead of branches so a compiler can vectorise the lanes (GELU-tanh's backward).
///
/// On the path `|x| ≤ 9.1` the argument of `expm1_pair` is `z = 2|x| ∈ [0, 18.2]`, so its
/// exponent `k` lies in `[0, 26]`: `pow2i(±k)` is the normal-range bit pattern, `scale(v, k)`
/// is `v · 2^k`, and the `k < −1` branch never runs. Lanes off that path compute on a clamped
/// argument and are replaced by `tanh`'s own results (±1, ±0, NaN).
#[inline(always)]
pub fn tanh8(x: [f32; 8]) -> [f32; 8] {
    let mut out = [0.0f32; 8];
    for (o, &xv) in out.iter_mut().zip(&x) {
        *o = tanh_lane(xv);
    }
    out
}

/// One lane of [`tanh8`]: [`tanh`] without branches (selects only), so loops over it vectorise.
#[inline(always)]
pub fn tanh_lane(xv: f32) -> f32 {
    {
        let sign = xv.to_bits() & 0x8000_0000;
        let ax = f32::from_bits(xv.to_bits() & 0x7fff_ffff);
        let inside = ax <= 9.1;
        let a = if inside { ax } else { 1.0 };
        let z = a + a;
        // exp_reduce(z)
        let shifted = z * LOG2E + ROUND_SHIFT;
        let kf = shifted - ROUND_SHIFT;
        let r_hi = z - kf * LN2_HI;
        let r = (-kf).mul_add(LN2_LO, r_hi);
        let c = (-kf).mul_add(LN2_LO, r_hi - r);
        // `kf as i32`: `shifted` lies in [1.5·2^23, 1.5·2^23 + 27) (one binade, ulp 1), so k is
        // the difference of the bit patterns (no float→int conversion, which does not vectorise).
        let k = shifted.to_bits().wrapping_sub(ROUND_SHIFT.to_bits()) as i32;
        // expm1_pair(z) for k in [0, 26]
        let lo = expm1_tail(r, c);
        let p = f32::from_bits(((127 - k) as u32) << 23);
        let t = if k > 24 { 1.0 } else { 1.0 - p };
        let tl = if k > 24 { p } else { 0.0 };
        let s = t + r;
        let err = (t - s) + r;
        let w = (err + lo) - tl;
        let vh = s + w;
        let vl = (s - vh) + w;
        let pk = f32::from_bits(((k + 127) as u32) << 23);
        let (th, tlo) = (vh * pk, vl * pk);
        // tanh's body
        let d = th + 2.0;
        let de = if th > 2.0 {
            ((th - d) + 2.0) + tlo
        } else {
            ((2.0 - d) + th) + tlo
        };
        let q = th / d;
        let mut rr = (-q).mul_add(d, th);
        rr += tlo;
        rr = (-q).mul_add(de, rr);
        let y = if inside { q + rr / d } else { 1.0 };
        let res = f32::from_bits(y.to_bits() | sign);
        if xv.is_nan() {
            NAN
        } else if xv == 0.0 {
            xv
        } else {
            res
        }
    }
}

/// Logistic sigmoid 1/(1 + e^−x) (max error measured 0.758 ulp).
///
/// Formula (no inf/inf, no cancellation): `eh + el = exp(−|x|) ∈ [0, 1]` as a pair,
/// `d + de = 1 + eh + el` (Fast2Sum), numerator `n = 1` for x ≥ 0 (including −0) and
/// `n = eh + el` for x < 0, then `q = nh/d` with one fma correction step
/// `q + (nh − q·d + nl − q·de)/d`. sigmoid(+inf) = 1, sigmoid(−inf) = 0, and for very negative x
/// the result follows e^x into the subnormals.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    if x.is_nan() {
        return NAN;
    }
    let ax = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    let (eh, el) = exp_pair(-ax);
    let d = 1.0 + eh;
    let de = ((1.0 - d) + eh) + el;
    let mut nh = 1.0;
    let mut nl = 0.0;
    if x < 0.0 {
        nh = eh;
        nl = el;
    }
    let q = nh / d;
    let mut rr = (-q).mul_add(d, nh);
    rr += nl;
    rr = (-q).mul_add(de, rr);
    q + rr / d
}

/// Error function (max error measured 0.946 ulp).
///
/// - |x| < 0.84375: `erf(x) = x + x·S(x²)` (one fma; exact-ish for subnormal x, keeps −0).
/// - 0.84375 ≤ |x| < 4: `erf(|x|) = 1 − e^{−x²}·G(|x|)`, G ≈ erfcx on [0.84375, 2) and [2, 4)
///   (polynomials in |x| − 1.5 and |x| − 3). erfc/erf ≤ 0.31 here, so the rounding of x² and
///   of erfc shrink by that factor in the result.
/// - |x| ≥ 4 (incl. inf): ±1 (erfc(3.92) < 2^-25).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    if x.is_nan() {
        return NAN;
    }
    let sign = x.to_bits() & 0x8000_0000;
    let ax = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    if ax < 0.84375 {
        let z = x * x;
        let mut p = ERF_S6;
        p = p.mul_add(z, ERF_S5);
        p = p.mul_add(z, ERF_S4);
        p = p.mul_add(z, ERF_S3);
        p = p.mul_add(z, ERF_S2);
        p = p.mul_add(z, ERF_S1);
        p = p.mul_add(z, ERF_S0);
        return x.mul_add(p, x);
    }
    if ax >= 4.0 {
        return f32::from_bits(0x3f80_0000 | sign);
    }
    let mut g;
    if ax < 2.0 {
        let t = ax - 1.5;
        g = ERF_A10;
        g = g.mul_add(t, ERF_A9);
        g = g.mul_add(t, ERF_A8);
        g = g.mul_add(t, ERF_A7);
        g = g.mul_add(t, ERF_A6);
        g = g.mul_add(t, ERF_A5);
        g = g.mul_add(t, ERF_A4);
        g = g.mul_add(t, ERF_A3);
        g = g.mul_add(t, ERF_A2);
        g = g.mul_add(t, ERF_A1);
        g = g.mul_add(t, ERF_A0);
    } else {
        let t = ax - 3.0;
        g = ERF_B7;
        g = g.mul_add(t, ERF_B6);
        g = g.mul_add(t, ERF_B5);
        g = g.mul_add(t, ERF_B4);
        g = g.mul_add(t, ERF_B3);
        g = g.mul_add(t, ERF_B2);
        g = g.mul_add(t, ERF_B1);
        g = g.mul_add(t, ERF_B0);
    }
    let e = exp(-(ax * ax));
    let y = 1.0 - e * g;
    f32::from_bits(y.to_bits() | sign)
}

/// A unary f32 function of this module.
pub type UnaryFn = fn(f32) -> f32;

/// The seven unary functions under the names of their CUDA mirrors in `math.cuh`, so the CUDA
/// parity test can loop over them.
pub fn all_functions() -> [(&'static str, UnaryFn); 7] {
    [
        ("nx_exp", exp),
        ("nx_expm1", expm1),
        ("nx_log", log),
        ("nx_log1p", log1p),
        ("nx_tanh", tanh),
        ("nx_sigmoid", sigmoid),
        ("nx_erf", erf),
    ]
}
