//! Deterministic f64 host math (PARITY.md rule 8a): `exp`, `ln`, `sin`, `cos`, `powi`, `powf`.
//!
//! Why this module exists: host-side numbers that decide bits — Box–Muller initialisation,
//! learning-rate schedules, Adam's bias corrections, the sinusoidal position table and RoPE's
//! angle table — must come out the same on every operating system and C library. `f64::ln`,
//! `f64::cos` and friends call the platform's libm (glibc, musl, the macOS and Windows CRTs),
//! which round differently in the last place. Everything here is a fixed sequence of IEEE-754
//! binary64 `+ - * /` (correctly rounded; Rust never contracts `a * b + c` into an fma on its
//! own), comparisons, truncating float→int conversions and bit manipulation, so the bits are a
//! function of the arguments alone. `tests/host_math.rs` pins them against std on millions of
//! arguments, and `tests/host_math_only.rs` fails when library code calls a libm function.
//!
//! Algorithms: the classic published ones (Sun's freely redistributable fdlibm, the lineage of
//! musl's and FreeBSD's libm), re-expressed here; their minimax coefficients are the fits, not an
//! implementation choice:
//! - `exp`: `x = k·ln2 + r`, `|r| ≤ ln2/2`, Cody–Waite `ln2 = LN2_HI + LN2_LO` (`k·LN2_HI` is
//!   exact), `e^r = 1 + r + r·c/(2 − c)` with `c = r − r²·P(r²)`, `P` of degree 5; scaled by 2^k
//!   with one rounding.
//! - `ln`: `x = 2^k·(1 + f)`, `1 + f ∈ [√½, √2)`, `s = f/(2 + f)`,
//!   `ln(1 + f) = f − s·(f − R(s²))`-type forms with `R` of degree 7 in `s²`; `k·ln2` added in two
//!   parts.
//! - `sin`/`cos`: `x = n·π/2 + y`, `|y| ≤ π/4`, Cody–Waite with π/2 in three 33-bit pieces
//!   (`n·piece` exact for |n| < 2^20), the later pieces used only when cancellation demands them;
//!   `y` is carried as `y0 + y1` into degree-13 (sine) and degree-14 (cosine) kernels.
//!   Documented range: `|x| ≤ SIN_COS_MAX` (2^20·π/2 ≈ 1.647e6, where `n·piece` stays exact);
//!   beyond it the result is NaN rather than a silently inaccurate number. (Every host use —
//!   angles in [0, 2π), position × frequency for sequences up to ~10^6 — is far inside.)
//!
//! Measured against std (glibc) in `tests/host_math.rs`: every result within 1 ulp of std's,
//! on ≥ 1M arguments per function (exact agreement on the vast majority; the counts are printed).
//! NaN results are always the canonical quiet NaN (`f64::NAN`'s bits).

// The coefficients keep the 21-digit decimal expansions they are published with (each names
// one f64 exactly); 1/ln2 stays a named constant of this file rather than std's LOG2_E.
#![allow(clippy::excessive_precision, clippy::approx_constant)]

/// Canonical quiet NaN (PARITY.md rule 8b).
const NAN: f64 = f64::from_bits(0x7ff8_0000_0000_0000);

/// High part of ln 2 (0x3FE62E42_FEE00000: trailing zeros so that `k·LN2_HI` is exact).
const LN2_HI: f64 = 6.93147180369123816490e-01;
/// ln 2 − LN2_HI (0x3DEA39EF_35793C76).
const LN2_LO: f64 = 1.90821492927058770002e-10;
/// 1/ln 2 (0x3FF71547_652B82FE).
const INV_LN2: f64 = 1.44269504088896338700e+00;
/// exp(x) overflows to +inf above this (ln of the largest double, rounded up).
const EXP_OVERFLOW: f64 = 7.09782712893383973096e+02;
/// exp(x) underflows to +0 below this (ln of half the smallest subnormal).
const EXP_UNDERFLOW: f64 = -7.45133219101941108420e+02;

// exp: P(t) ≈ (r·(e^r + 1)/(e^r − 1) − 2)/t over t = r² ∈ [0, (ln2/2)²] (Remez, error < 2^-59).
const EXP_P1: f64 = 1.66666666666666019037e-01;
const EXP_P2: f64 = -2.77777777770155933842e-03;
const EXP_P3: f64 = 6.61375632143793436117e-05;
const EXP_P4: f64 = -1.65339022054652515390e-06;
const EXP_P5: f64 = 4.13813679705723846039e-08;

// ln: R(z) ≈ (ln((1 + s)/(1 − s)) − 2s)/s, z = s² (Remez on [0, 0.1716], error < 2^-58.45).
const LN_LG1: f64 = 6.666666666666735130e-01;
const LN_LG2: f64 = 3.999999999940941908e-01;
const LN_LG3: f64 = 2.857142874366239149e-01;
const LN_LG4: f64 = 2.222219843214978396e-01;
const LN_LG5: f64 = 1.818357216161805012e-01;
const LN_LG6: f64 = 1.531383769920937332e-01;
const LN_LG7: f64 = 1.479819860511658591e-01;
/// 2^54: scales a subnormal argument of `ln` into the normal range exactly.
const TWO54: f64 = 1.80143985094819840000e+16;

// sin kernel on |y| ≤ π/4: sin(y) ≈ y + S1·y³ + … + S6·y^13 (error < 2^-58).
const SIN_S1: f64 = -1.66666666666666324348e-01;
const SIN_S2: f64 = 8.33333333332248946124e-03;
const SIN_S3: f64 = -1.98412698298579493134e-04;
const SIN_S4: f64 = 2.75573137070700676789e-06;
const SIN_S5: f64 = -2.50507602534068634195e-08;
const SIN_S6: f64 = 1.58969099521155010221e-10;

// cos kernel on |y| ≤ π/4: cos(y) ≈ 1 − y²/2 + C1·y⁴ + … + C6·y^14 (error < 2^-58).
const COS_C1: f64 = 4.16666666666666019037e-02;
const COS_C2: f64 = -1.38888888888741095749e-03;
const COS_C3: f64 = 2.48015872894767294178e-05;
const COS_C4: f64 = -2.75573143513906633035e-07;
const COS_C5: f64 = 2.08757232129817482790e-09;
const COS_C6: f64 = -1.13596475577881948265e-11;

/// 2/π (0x3FE45F30_6DC9C883).
const INV_PIO2: f64 = 6.36619772367581382433e-01;
/// π/2 in three 33-bit pieces with their tails: `PIO2_1 + PIO2_1T`, `PIO2_1 + PIO2_2 + PIO2_2T`,
/// `PIO2_1 + PIO2_2 + PIO2_3 + PIO2_3T` approximate π/2 to 85, 118 and 151 bits.
const PIO2_1: f64 = 1.57079632673412561417e+00;
const PIO2_1T: f64 = 6.07710050650619224932e-11;
const PIO2_2: f64 = 6.07710050630396597660e-11;
const PIO2_2T: f64 = 2.02226624879595063154e-21;
const PIO2_3: f64 = 2.02226624871116645580e-21;
const PIO2_3T: f64 = 8.47842766036889956997e-32;
/// 1.5·2^52: adding and subtracting it rounds a double of magnitude < 2^51 to an integer.
const ROUND_SHIFT: f64 = 6755399441055744.0;

/// The largest |x| that `sin` and `cos` accept (2^20·π/2 ≈ 1.647e6): below it the quadrant
/// count n < 2^20, so `n·PIO2_1` (a 33-bit piece) is exact. Beyond it they return NaN.
pub const SIN_COS_MAX: f64 = 1647099.3291652855;

/// High 32 bits of a double (sign, exponent, top 20 mantissa bits), as fdlibm reads it.
#[inline(always)]
fn high_word(x: f64) -> u32 {
    (x.to_bits() >> 32) as u32
}

/// `x` with its high 32 bits replaced.
#[inline(always)]
fn with_high_word(x: f64, hi: u32) -> f64 {
    f64::from_bits((x.to_bits() & 0xffff_ffff) | (u64::from(hi) << 32))
}

/// 2^k for k in [-1022, 1023], from its bit pattern.
#[inline(always)]
fn pow2i(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// y·2^k for |k| ≤ 1100 with at most one rounding (the last multiply, into the subnormals).
#[inline(always)]
fn scale(y: f64, k: i32) -> f64 {
    if k > 1023 {
        y * pow2i(1023) * pow2i(k - 1023)
    } else if k < -1022 {
        y * pow2i(k + 1000) * pow2i(-1000)
    } else {
        y * pow2i(k)
    }
}

/// e^x. exp(NaN) = NaN, exp(+inf) = +inf, exp(−inf) = +0, exp(±0) = 1; overflow to +inf above
/// 709.7827…, gradual underflow down to 2^-1074, +0 below −745.1332….
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return NAN;
    }
    if x > EXP_OVERFLOW {
        return f64::INFINITY;
    }
    if x < EXP_UNDERFLOW {
        return 0.0;
    }
    let ax = x.abs();
    if ax < 3.725290298461914e-9 {
        // |x| < 2^-28: e^x rounds to 1 + x.
        return 1.0 + x;
    }
    let k: i32 = if ax <= 0.5 * std::f64::consts::LN_2 {
        0
    } else if ax < 1.5 * std::f64::consts::LN_2 {
        if x > 0.0 {
            1
        } else {
            -1
        }
    } else {
        let half = if x > 0.0 { 0.5 } else { -0.5 };
        (INV_LN2 * x + half) as i32
    };
    let kf = f64::from(k);
    let hi = x - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let r = if k == 0 { x } else { hi - lo };
    let t = r * r;
    let c = r - t * (EXP_P1 + t * (EXP_P2 + t * (EXP_P3 + t * (EXP_P4 + t * EXP_P5))));
    if k == 0 {
        return 1.0 - ((r * c) / (c - 2.0) - r);
    }
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    scale(y, k)
}

/// Natural logarithm. ln(±0) = −inf, ln(x < 0) = NaN, ln(+inf) = +inf, ln(1) = +0; subnormal
/// arguments are scaled by 2^54 (exactly) first.
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x == f64::INFINITY {
        return x;
    }
    let mut x = x;
    let mut k: i32 = 0;
    let mut hx = high_word(x);
    if hx < 0x0010_0000 {
        k -= 54;
        x *= TWO54;
        hx = high_word(x);
    }
    k += (hx >> 20) as i32 - 1023;
    hx &= 0x000f_ffff;
    // i = 0x100000 when the mantissa is ≥ √2: then x/2 is used (k + 1).
    let i = (hx + 0x95f64) & 0x0010_0000;
    x = with_high_word(x, hx | (i ^ 0x3ff0_0000));
    k += (i >> 20) as i32;
    let f = x - 1.0;
    let dk = f64::from(k);
    if (0x000f_ffff & (2 + hx)) < 3 {
        // −2^-20 ≤ f < 2^-20: a short series suffices.
        if f == 0.0 {
            return if k == 0 {
                0.0
            } else {
                dk * LN2_HI + dk * LN2_LO
            };
        }
        let r = f * f * (0.5 - 0.333_333_333_333_333_33 * f);
        return if k == 0 {
            f - r
        } else {
            dk * LN2_HI - ((r - dk * LN2_LO) - f)
        };
    }
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LN_LG2 + w * (LN_LG4 + w * LN_LG6));
    let t2 = z * (LN_LG1 + w * (LN_LG3 + w * (LN_LG5 + w * LN_LG7)));
    let r = t2 + t1;
    // Far from 1 (mantissa outside [1.2, 1.42) roughly) the f²/2 split keeps the cancellation exact.
    let far = (hx as i32 - 0x6147a) | (0x6b851 - hx as i32);
    if far > 0 {
        let hfsq = 0.5 * f * f;
        if k == 0 {
            f - (hfsq - s * (hfsq + r))
        } else {
            dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)
        }
    } else if k == 0 {
        f - s * (f - r)
    } else {
        dk * LN2_HI - ((s * (f - r) - dk * LN2_LO) - f)
    }
}

/// sin(y0 + y1) for |y0 + y1| ≤ π/4 (y1 = 0 when `has_tail` is false).
#[inline(always)]
fn sin_kernel(y0: f64, y1: f64, has_tail: bool) -> f64 {
    if y0.abs() < 7.450580596923828e-9 {
        // |y0| < 2^-27: sin(y) rounds to y.
        return y0;
    }
    let z = y0 * y0;
    let v = z * y0;
    let r = SIN_S2 + z * (SIN_S3 + z * (SIN_S4 + z * (SIN_S5 + z * SIN_S6)));
    if has_tail {
        y0 - ((z * (0.5 * y1 - v * r) - y1) - v * SIN_S1)
    } else {
        y0 + v * (SIN_S1 + z * r)
    }
}

/// cos(y0 + y1) for |y0 + y1| ≤ π/4: `w = 1 − y²/2` plus the exact rounding error of `w`.
#[inline(always)]
fn cos_kernel(y0: f64, y1: f64) -> f64 {
    let z = y0 * y0;
    let w = z * z;
    let r = z * (COS_C1 + z * (COS_C2 + z * COS_C3)) + w * w * (COS_C4 + z * (COS_C5 + z * COS_C6));
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    w + (((1.0 - w) - hz) + (z * r - y0 * y1))
}

/// Biased exponent field of a double.
#[inline(always)]
fn exponent_bits(x: f64) -> i32 {
    ((x.to_bits() >> 52) & 0x7ff) as i32
}

/// Cody–Waite reduction `x = n·π/2 + y0 + y1` for |x| ≤ SIN_COS_MAX; returns (n mod 4, y0, y1).
/// The second and third pieces of π/2 are subtracted only when the first leaves too few bits
/// (the exponent drop of the remainder says how many cancelled).
fn reduce_pio2(x: f64) -> (u32, f64, f64) {
    let nf = (x * INV_PIO2 + ROUND_SHIFT) - ROUND_SHIFT;
    let n = nf as i32;
    let mut r = x - nf * PIO2_1;
    let mut w = nf * PIO2_1T;
    let mut y0 = r - w;
    let ex = exponent_bits(x);
    if ex - exponent_bits(y0) > 16 {
        let t = r;
        w = nf * PIO2_2;
        r = t - w;
        w = nf * PIO2_2T - ((t - r) - w);
        y0 = r - w;
        if ex - exponent_bits(y0) > 49 {
            let t = r;
            w = nf * PIO2_3;
            r = t - w;
            w = nf * PIO2_3T - ((t - r) - w);
            y0 = r - w;
        }
    }
    let y1 = (r - y0) - w;
    ((n & 3) as u32, y0, y1)
}

/// sin(x) for |x| ≤ [`SIN_COS_MAX`]; sin(±0) = ±0; NaN for NaN, ±inf and |x| > SIN_COS_MAX.
pub fn sin(x: f64) -> f64 {
    if x.is_nan() || x.abs() > SIN_COS_MAX {
        return NAN;
    }
    if x.abs() <= std::f64::consts::FRAC_PI_4 {
        return sin_kernel(x, 0.0, false);
    }
    let (n, y0, y1) = reduce_pio2(x);
    match n {
        0 => sin_kernel(y0, y1, true),
        1 => cos_kernel(y0, y1),
        2 => -sin_kernel(y0, y1, true),
        _ => -cos_kernel(y0, y1),
    }
}

/// cos(x) for |x| ≤ [`SIN_COS_MAX`]; cos(±0) = 1; NaN for NaN, ±inf and |x| > SIN_COS_MAX.
pub fn cos(x: f64) -> f64 {
    if x.is_nan() || x.abs() > SIN_COS_MAX {
        return NAN;
    }
    if x.abs() <= std::f64::consts::FRAC_PI_4 {
        return cos_kernel(x, 0.0);
    }
    let (n, y0, y1) = reduce_pio2(x);
    match n {
        0 => cos_kernel(y0, y1),
        1 => -sin_kernel(y0, y1, true),
        2 => -cos_kernel(y0, y1),
        _ => sin_kernel(y0, y1, true),
    }
}

/// x^n by binary exponentiation in a fixed order: the result multiplies in x^(2^j) for each set
/// bit j of |n| from the lowest, the squares are formed one by one; a negative n takes the
/// reciprocal at the end. ⌈log2 |n|⌉ + popcount(|n|) roundings; x^0 = 1 (also for NaN x, as IEEE
/// `pown` defines).
pub fn powi(x: f64, n: i32) -> f64 {
    let mut m = n.unsigned_abs();
    let mut base = x;
    let mut acc = 1.0;
    while m > 0 {
        if m & 1 == 1 {
            acc *= base;
        }
        m >>= 1;
        if m > 0 {
            base *= base;
        }
    }
    if n < 0 {
        1.0 / acc
    } else {
        acc
    }
}

/// x^y. For x > 0: `exp(y·ln x)`, whose relative error grows with the exponent `E = y·ln x`
/// (about (1 + 1.5·|E|) ulp: fine for schedules and frequency tables, which round to f32).
/// Integer y with |y| < 2^31 goes through [`powi`] (so negative bases work); x^0 = 1, 1^y = 1;
/// 0^y = +0 (y > 0) or +inf (y < 0); +inf^y = +inf or +0; a negative base with a non-integer
/// exponent, and NaN operands otherwise, give NaN.
pub fn powf(x: f64, y: f64) -> f64 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if x.is_nan() || y.is_nan() {
        return NAN;
    }
    if y.is_finite() && y == y.trunc() && y.abs() < 2147483648.0 {
        return powi(x, y as i32);
    }
    if x < 0.0 {
        return NAN;
    }
    if x == 0.0 {
        return if y > 0.0 { 0.0 } else { f64::INFINITY };
    }
    exp(y * ln(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_values() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(ln(1.0).to_bits(), 0);
        assert_eq!(ln(2.0), std::f64::consts::LN_2);
        assert_eq!(sin(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(cos(0.0), 1.0);
        assert_eq!(powi(3.0, 4), 81.0);
        assert_eq!(powi(2.0, -3), 0.125);
        assert_eq!(powf(-2.0, 3.0), -8.0);
    }
}
