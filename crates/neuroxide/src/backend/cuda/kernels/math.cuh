// Neuroxide exact math: CUDA mirror of crates/neuroxide/src/math.rs and src/philox.rs.
//
// PARITY.md rules 3-5, 7. Every function below is the Rust code line for line: the same
// constants (generated from the Rust ones by bit pattern), the same operation order, fmaf exactly where Rust
// has f32::mul_add, __float_as_uint/__uint_as_float where Rust has to_bits/from_bits. Compile
// with NVRTC option --fmad=false (no contraction) and without --use_fast_math (precise division,
// no flush-to-zero). Every float literal carries the f suffix so no expression is promoted to
// double. NaN results are the constant 0x7FC00000 on both sides (never produced by arithmetic,
// because the GPU's canonical NaN 0x7FFFFFFF differs from the CPU's).
//
// No #include: the generated header (backend/cuda/header.rs) comes first in every translation
// unit; all helpers are prefixed nx_.

#ifndef NEUROXIDE_MATH_CUH
#define NEUROXIDE_MATH_CUH

// The constants (NX_LOG2E, NX_EXPM1_P*, NX_ERF_*, NX_NAN_BITS, NX_PHILOX_*, ...) are generated
// from math.rs / philox.rs by backend/cuda/header.rs and prepended before this file.

__device__ __forceinline__ bool nx_isnan(float x) { return x != x; }

// 2^k for k in [-149, 127].
__device__ __forceinline__ float nx_pow2i(int k) {
    if (k >= -126) {
        return __uint_as_float(((unsigned int)(k + 127)) << 23);
    } else {
        return __uint_as_float(1u << (k + 149));
    }
}

// v * 2^k for k in [-150, 128] with a single rounding.
__device__ __forceinline__ float nx_scale(float v, int k) {
    if (k > 127) {
        return v * nx_pow2i(127) * 2.0f;
    } else if (k < -126) {
        return v * nx_pow2i(k + 64) * nx_pow2i(-64);
    } else {
        return v * nx_pow2i(k);
    }
}

// x = k*ln2 + r + c.
__device__ __forceinline__ void nx_exp_reduce(float x, int* k_out, float* r_out, float* c_out) {
    float kf = (x * NX_LOG2E + NX_ROUND_SHIFT) - NX_ROUND_SHIFT;
    float r_hi = x - kf * NX_LN2_HI;
    float r = fmaf(-kf, NX_LN2_LO, r_hi);
    float c = fmaf(-kf, NX_LN2_LO, r_hi - r);
    *k_out = (int)kf;
    *r_out = r;
    *c_out = c;
}

// expm1(r + c) - r.
__device__ __forceinline__ float nx_expm1_tail(float r, float c) {
    float p = NX_EXPM1_P5;
    p = fmaf(p, r, NX_EXPM1_P4);
    p = fmaf(p, r, NX_EXPM1_P3);
    p = fmaf(p, r, NX_EXPM1_P2);
    p = fmaf(p, r, NX_EXPM1_P1);
    p = fmaf(p, r, NX_EXPM1_P0);
    float r2 = r * r;
    return fmaf(r2, p, fmaf(c, r, c));
}

// e^x as an unevaluated pair hi + lo, for finite x <= 88.8.
__device__ __forceinline__ void nx_exp_pair(float x, float* hi_out, float* lo_out) {
    if (x < NX_EXP_UNDERFLOW) {
        *hi_out = 0.0f;
        *lo_out = 0.0f;
        return;
    }
    int k;
    float r, c;
    nx_exp_reduce(x, &k, &r, &c);
    float lo = nx_expm1_tail(r, c);
    float s = 1.0f + r;
    float err = (1.0f - s) + r;
    float w = err + lo;
    float vh = s + w;
    float vl = (s - vh) + w;
    *hi_out = nx_scale(vh, k);
    *lo_out = nx_scale(vl, k);
}

__device__ __forceinline__ float nx_exp(float x) {
    if (nx_isnan(x)) {
        return __uint_as_float(NX_NAN_BITS);
    }
    if (x > NX_EXP_OVERFLOW) {
        return __uint_as_float(NX_INF_BITS);
    }
    float eh, el;
    nx_exp_pair(x, &eh, &el);
    return eh;
}

// e^x - 1 as an unevaluated pair hi + lo, for finite x in [-17.5, 88.8], x != 0.
__device__ __forceinline__ void nx_expm1_pair(float x, float* hi_out, float* lo_out) {
    int k;
    float r, c;
    nx_exp_reduce(x, &k, &r, &c);
    float lo = nx_expm1_tail(r, c);
    float t = 1.0f;
    float tl = 0.0f;
    if (k > 24) {
        tl = nx_pow2i(-k);
    } else if (k >= -1) {
        t = 1.0f - nx_pow2i(-k);
    }
    float s = t + r;
    float err = (t - s) + r;
    float w = (err + lo) - tl;
    float vh = s + w;
    float vl = (s - vh) + w;
    float yh = nx_scale(vh, k);
    float yl = nx_scale(vl, k);
    if (k < -1) {
        float zh = -1.0f + yh;
        float zl = ((-1.0f - zh) + yh) + yl;
        *hi_out = zh;
        *lo_out = zl;
    } else {
        *hi_out = yh;
        *lo_out = yl;
    }
}

__device__ __forceinline__ float nx_expm1(float x) {
    if (nx_isnan(x)) {
        return __uint_as_float(NX_NAN_BITS);
    }
    if (x > NX_EXP_OVERFLOW) {
        return __uint_as_float(NX_INF_BITS);
    }
    if (x < NX_EXPM1_MINUS_ONE) {
        return -1.0f;
    }
    if (x == 0.0f) {
        return x;
    }
    float th, tl;
    nx_expm1_pair(x, &th, &tl);
    return th;
}

// e*ln2 + log1p(f) + c.
__device__ __forceinline__ float nx_log_core(float f, float ef, float c) {
    float s = f / (2.0f + f);
    float z = s * s;
    float rz = NX_LOG_R3;
    rz = fmaf(rz, z, NX_LOG_R2);
    rz = fmaf(rz, z, NX_LOG_R1);
    rz = fmaf(rz, z, NX_LOG_R0);
    float corr = s * (f - z * rz);
    float hi = ef * NX_LN2_HI;
    float lo = fmaf(ef, NX_LN2_LO, c);
    float sh = hi + f;
    float se = (hi - sh) + f;
    return sh + (se - (corr - lo));
}

__device__ __forceinline__ float nx_log(float x) {
    if (nx_isnan(x)) {
        return __uint_as_float(NX_NAN_BITS);
    }
    if (x < 0.0f) {
        return __uint_as_float(NX_NAN_BITS);
    }
    if (x == 0.0f) {
        return __uint_as_float(NX_NEG_INF_BITS);
    }
    if (x == __uint_as_float(NX_INF_BITS)) {
        return x;
    }
    unsigned int ix = __float_as_uint(x);
    int e = 0;
    if (ix < 0x00800000u) {
        ix = __float_as_uint(x * 33554432.0f);
        e = -25;
    }
    ix += 0x3f800000u - NX_SQRT_HALF_BITS;
    e += (int)(ix >> 23) - 127;
    ix = (ix & 0x007fffffu) + NX_SQRT_HALF_BITS;
    float f = __uint_as_float(ix) - 1.0f;
    return nx_log_core(f, (float)e, 0.0f);
}

__device__ __forceinline__ float nx_log1p(float x) {
    if (nx_isnan(x)) {
        return __uint_as_float(NX_NAN_BITS);
    }
    if (x < -1.0f) {
        return __uint_as_float(NX_NAN_BITS);
    }
    if (x == -1.0f) {
        return __uint_as_float(NX_NEG_INF_BITS);
    }
    if (x == __uint_as_float(NX_INF_BITS)) {
        return x;
    }
    if (x == 0.0f) {
        return x;
    }
    if (-0.2929f < x && x < 0.4142f) {
        return nx_log_core(x, 0.0f, 0.0f);
    }
    float u = 1.0f + x;
    unsigned int ix = __float_as_uint(u);
    ix += 0x3f800000u - NX_SQRT_HALF_BITS;
    int e = (int)(ix >> 23) - 127;
    ix = (ix & 0x007fffffu) + NX_SQRT_HALF_BITS;
    float f = __uint_as_float(ix) - 1.0f;
    float c;
    if (x >= 1.0f) {
        c = 1.0f - (u - x);
    } else {
        c = x - (u - 1.0f);
    }
    return nx_log_core(f, (float)e, c / u);
}

__device__ __forceinline__ float nx_tanh(float x) {
    if (nx_isnan(x)) {
        return __uint_as_float(NX_NAN_BITS);
    }
    if (x == 0.0f) {
        return x;
    }
    unsigned int sign = __float_as_uint(x) & 0x80000000u;
    float ax = __uint_as_float(__float_as_uint(x) & 0x7fffffffu);
    float y = 1.0f;
    if (ax <= 9.1f) {
        float th, tl;
        nx_expm1_pair(ax + ax, &th, &tl);
        float d = th + 2.0f;
        float de;
        if (th > 2.0f) {
            de = ((th - d) + 2.0f) + tl;
        } else {
            de = ((2.0f - d) + th) + tl;
        }
        float q = th / d;
        float rr = fmaf(-q, d, th);
        rr += tl;
        rr = fmaf(-q, de, rr);
        y = q + rr / d;
    }
    return __uint_as_float(__float_as_uint(y) | sign);
}

__device__ __forceinline__ float nx_sigmoid(float x) {
    if (nx_isnan(x)) {
        return __uint_as_float(NX_NAN_BITS);
    }
    float ax = __uint_as_float(__float_as_uint(x) & 0x7fffffffu);
    float eh, el;
    nx_exp_pair(-ax, &eh, &el);
    float d = 1.0f + eh;
    float de = ((1.0f - d) + eh) + el;
    float nh = 1.0f;
    float nl = 0.0f;
    if (x < 0.0f) {
        nh = eh;
        nl = el;
    }
    float q = nh / d;
    float rr = fmaf(-q, d, nh);
    rr += nl;
    rr = fmaf(-q, de, rr);
    return q + rr / d;
}

__device__ __forceinline__ float nx_erf(float x) {
    if (nx_isnan(x)) {
        return __uint_as_float(NX_NAN_BITS);
    }
    unsigned int sign = __float_as_uint(x) & 0x80000000u;
    float ax = __uint_as_float(__float_as_uint(x) & 0x7fffffffu);
    if (ax < 0.84375f) {
        float z = x * x;
        float p = NX_ERF_S6;
        p = fmaf(p, z, NX_ERF_S5);
        p = fmaf(p, z, NX_ERF_S4);
        p = fmaf(p, z, NX_ERF_S3);
        p = fmaf(p, z, NX_ERF_S2);
        p = fmaf(p, z, NX_ERF_S1);
        p = fmaf(p, z, NX_ERF_S0);
        return fmaf(x, p, x);
    }
    if (ax >= 4.0f) {
        return __uint_as_float(0x3f800000u | sign);
    }
    float g;
    if (ax < 2.0f) {
        float t = ax - 1.5f;
        g = NX_ERF_A10;
        g = fmaf(g, t, NX_ERF_A9);
        g = fmaf(g, t, NX_ERF_A8);
        g = fmaf(g, t, NX_ERF_A7);
        g = fmaf(g, t, NX_ERF_A6);
        g = fmaf(g, t, NX_ERF_A5);
        g = fmaf(g, t, NX_ERF_A4);
        g = fmaf(g, t, NX_ERF_A3);
        g = fmaf(g, t, NX_ERF_A2);
        g = fmaf(g, t, NX_ERF_A1);
        g = fmaf(g, t, NX_ERF_A0);
    } else {
        float t = ax - 3.0f;
        g = NX_ERF_B7;
        g = fmaf(g, t, NX_ERF_B6);
        g = fmaf(g, t, NX_ERF_B5);
        g = fmaf(g, t, NX_ERF_B4);
        g = fmaf(g, t, NX_ERF_B3);
        g = fmaf(g, t, NX_ERF_B2);
        g = fmaf(g, t, NX_ERF_B1);
        g = fmaf(g, t, NX_ERF_B0);
    }
    float e = nx_exp(-(ax * ax));
    float y = 1.0f - e * g;
    return __uint_as_float(__float_as_uint(y) | sign);
}

// ---- Philox4x32-10 (Random123 philox4x32round; key bumped before rounds 2..10) ----

// out[0..4] = Philox4x32-10(counter[0..4], key[0..2]).
__device__ __forceinline__ void nx_philox4x32_10(const unsigned int counter[4],
                                                 const unsigned int key[2],
                                                 unsigned int out[4]) {
    unsigned int c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    unsigned int k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += NX_PHILOX_W0;
            k1 += NX_PHILOX_W1;
        }
        unsigned int hi0 = __umulhi(NX_PHILOX_M0, c0);
        unsigned int lo0 = NX_PHILOX_M0 * c0;
        unsigned int hi1 = __umulhi(NX_PHILOX_M1, c2);
        unsigned int lo1 = NX_PHILOX_M1 * c2;
        unsigned int n0 = hi1 ^ c1 ^ k0;
        unsigned int n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

// Uniform f32 in [0, 1): (u >> 8) * 2^-24, both steps exact.
__device__ __forceinline__ float nx_uniform01(unsigned int u) {
    return (float)(u >> 8) * (1.0f / 16777216.0f);
}

#endif  // NEUROXIDE_MATH_CUH
