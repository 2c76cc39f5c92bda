// 2-D pooling (ops/pool/mod.rs): max pooling with its argmax, average pooling, and their
// backward passes as gathers (one thread per input gradient, no atomics: PARITY rule 6). Orders
// and NaN/tie rules are those of mod.rs, step for step as cpu.rs runs them; padding taps are
// skipped (rule 2b).
//
// Index arithmetic: every kernel body is a template over its index type. A launch whose
// element counts fit in 31 bits (every layer of the MNIST CNN, up to batches of tens of
// thousands) runs the 32-bit body: the divisions and remainders that map a thread to its pixel
// are several times cheaper than 64-bit ones (measured on an H200 at batch 512: max-pool
// backward 67 → 47 µs per launch, forward 31 → 22 µs, ≈ 5 µs of each being profiler timing).
// Integer results are the same in either type, so the bits are too.

template <typename I> struct NxPoolGeom {
    I n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
};

#define NX_POOL_GEOM_PARAMS u64 g0, u64 g1, u64 g2, u64 g3, u64 g4, u64 g5
#define NX_POOL_GEOM_ARGS g0, g1, g2, g3, g4, g5

template <typename I>
__device__ __forceinline__ NxPoolGeom<I> nx_pool_geom(u64 g0, u64 g1, u64 g2, u64 g3, u64 g4,
                                                      u64 g5) {
    NxPoolGeom<I> g;
    g.n = (I)(g0 & 0xffffffffull);
    g.c = (I)(g0 >> 32);
    g.h = (I)(g1 & 0xffffffffull);
    g.w = (I)(g1 >> 32);
    g.oh = (I)(g2 & 0xffffffffull);
    g.ow = (I)(g2 >> 32);
    g.kh = (I)(g3 & 0xffffffffull);
    g.kw = (I)(g3 >> 32);
    g.sh = (I)(g4 & 0xffffffffull);
    g.sw = (I)(g4 >> 32);
    g.ph = (I)(g5 & 0xffffffffull);
    g.pw = (I)(g5 >> 32);
    return g;
}

// Whether the input and output element counts (and every index derived from them) fit in 31
// bits, so the 32-bit bodies cannot overflow (the grid stride stays below 2^31 too).
__device__ __forceinline__ bool nx_pool_fits_u32(u64 g0, u64 g1, u64 g2) {
    const u64 planes = (g0 & 0xffffffffull) * (g0 >> 32);
    const u64 in = planes * (g1 & 0xffffffffull) * (g1 >> 32);
    const u64 out = planes * (g2 & 0xffffffffull) * (g2 >> 32);
    const u64 threads = (u64)gridDim.x * blockDim.x;
    return in < (1ull << 31) && out < (1ull << 31) && threads < (1ull << 31);
}

// Grid-stride loop over `n` elements with index type I.
#define NX_POOL_STRIDE(I, i, n)                                                                 \
    for (I i = (I)(blockIdx.x * blockDim.x + threadIdx.x); i < (n); i += (I)(gridDim.x * blockDim.x))

// Valid window taps lo..hi along one axis (pool/mod.rs window_range).
template <typename I>
__device__ __forceinline__ void nx_window_range(I o, I win, I s, I pad, I n, I *lo, I *hi) {
    const I start = o * s;
    I l = pad > start ? pad - start : 0;
    l = l < win ? l : win;
    I h = n + pad > start ? n + pad - start : 0;
    h = h < win ? h : win;
    *lo = l;
    *hi = h > l ? h : l;
}

// Outputs lo..hi along one axis whose windows contain input i:
// o*s - pad <= i <= o*s - pad + win - 1.
template <typename I>
__device__ __forceinline__ void nx_covering_range(I i, I win, I s, I pad, I n_out, I *lo, I *hi) {
    const I top = i + pad;
    const I a = top + 1 > win ? top + 1 - win : 0;
    const I l = (a + s - 1) / s;
    I h = top / s + 1;
    h = h < n_out ? h : n_out;
    *lo = l;
    *hi = h > l ? h : l;
}

template <typename I>
__device__ __forceinline__ float nx_pool_count(const NxPoolGeom<I> &g, I oy, I ox) {
    I i0, i1, j0, j1;
    nx_window_range<I>(oy, g.kh, g.sh, g.ph, g.h, &i0, &i1);
    nx_window_range<I>(ox, g.kw, g.sw, g.pw, g.w, &j0, &j1);
    return (float)((i1 - i0) * (j1 - j0));
}

template <typename I>
__device__ __forceinline__ void nx_max_pool2d_forward_t(const float *x, float *y, float *arg,
                                                        NX_POOL_GEOM_PARAMS) {
    const NxPoolGeom<I> g = nx_pool_geom<I>(NX_POOL_GEOM_ARGS);
    NX_POOL_STRIDE(I, idx, g.n * g.c * g.oh * g.ow) {
        const I ox = idx % g.ow, oy = (idx / g.ow) % g.oh, p = idx / (g.ow * g.oh);
        const float *xp = x + (u64)p * g.h * g.w;
        I i0, i1, j0, j1;
        nx_window_range<I>(oy, g.kh, g.sh, g.ph, g.h, &i0, &i1);
        nx_window_range<I>(ox, g.kw, g.sw, g.pw, g.w, &j0, &j1);
        bool have = false;
        float m = 0.0f;
        float a = -1.0f;
        for (I i = i0; i < i1; ++i) {
            const I row = (oy * g.sh + i - g.ph) * g.w;
            for (I j = j0; j < j1; ++j) {
                const I at = row + ox * g.sw + j - g.pw;
                const float v = xp[at];
                if (!have || v > m || (isnan(v) && !isnan(m))) {
                    m = v;
                    a = (float)at;
                    have = true;
                }
            }
        }
        y[idx] = m;
        arg[idx] = a;
    }
}

extern "C" __global__ void nx_max_pool2d_forward(const float *x, float *y, float *arg,
                                                 NX_POOL_GEOM_PARAMS) {
    if (nx_pool_fits_u32(g0, g1, g2)) {
        nx_max_pool2d_forward_t<unsigned int>(x, y, arg, NX_POOL_GEOM_ARGS);
    } else {
        nx_max_pool2d_forward_t<u64>(x, y, arg, NX_POOL_GEOM_ARGS);
    }
}

template <typename I>
__device__ __forceinline__ void nx_max_pool2d_backward_t(const float *dy, const float *arg,
                                                         float *dx, NX_POOL_GEOM_PARAMS) {
    const NxPoolGeom<I> g = nx_pool_geom<I>(NX_POOL_GEOM_ARGS);
    NX_POOL_STRIDE(I, idx, g.n * g.c * g.h * g.w) {
        const I ix = idx % g.w, iy = (idx / g.w) % g.h, p = idx / (g.w * g.h);
        const float *dyp = dy + (u64)p * g.oh * g.ow;
        const float *ap = arg + (u64)p * g.oh * g.ow;
        I o0, o1, q0, q1;
        nx_covering_range<I>(iy, g.kh, g.sh, g.ph, g.oh, &o0, &o1);
        nx_covering_range<I>(ix, g.kw, g.sw, g.pw, g.ow, &q0, &q1);
        const float me = (float)(iy * g.w + ix);
        float acc = 0.0f;
        for (I oy = o0; oy < o1; ++oy) {
            for (I ox = q0; ox < q1; ++ox) {
                if (ap[oy * g.ow + ox] == me) {
                    acc = acc + dyp[oy * g.ow + ox];
                }
            }
        }
        dx[idx] = acc;
    }
}

extern "C" __global__ void nx_max_pool2d_backward(const float *dy, const float *arg, float *dx,
                                                  NX_POOL_GEOM_PARAMS) {
    if (nx_pool_fits_u32(g0, g1, g2)) {
        nx_max_pool2d_backward_t<unsigned int>(dy, arg, dx, NX_POOL_GEOM_ARGS);
    } else {
        nx_max_pool2d_backward_t<u64>(dy, arg, dx, NX_POOL_GEOM_ARGS);
    }
}

// Max-pool backward for 2x2 windows, stride 2, no padding and even input sizes, so that every
// input lies in exactly one window (the MNIST CNN's pools): one thread per pooled output writes
// the four inputs of its window, each `0.0f + dy` when it is the window's argmax, else 0.0f —
// the value nx_max_pool2d_backward's one-term gather computes (acc = 0.0f; acc = acc + dy), -0
// included. Why: the gather maps each input to its window with divisions by the stride and
// reads the window's argmax and gradient four times; here one thread reads them once and writes
// two 8-byte pairs.
template <typename I>
__device__ __forceinline__ void nx_max_pool2d_backward_2x2_t(const float *dy, const float *arg,
                                                             float *dx, u64 planes, u64 oh,
                                                             u64 ow) {
    const I plane = (I)(oh * ow), w = (I)(2 * ow);
    NX_POOL_STRIDE(I, o, (I)planes * plane) {
        const I p = o / plane, r = o - p * plane;
        const I oy = r / (I)ow, ox = r - oy * (I)ow;
        const float a = arg[o], g = dy[o];
        float *dxp = dx + (u64)p * 4 * plane;
#pragma unroll
        for (I i = 0; i < 2; ++i) {
            const I at = (2 * oy + i) * w + 2 * ox;
            float2 v;
            v.x = a == (float)at ? 0.0f + g : 0.0f;
            v.y = a == (float)(at + 1) ? 0.0f + g : 0.0f;
            *reinterpret_cast<float2 *>(dxp + at) = v;
        }
    }
}

extern "C" __global__ void nx_max_pool2d_backward_2x2(const float *dy, const float *arg,
                                                      float *dx, u64 planes, u64 oh, u64 ow) {
    const u64 threads = (u64)gridDim.x * blockDim.x;
    if (planes * oh * ow * 4 < (1ull << 31) && threads < (1ull << 31)) {
        nx_max_pool2d_backward_2x2_t<unsigned int>(dy, arg, dx, planes, oh, ow);
    } else {
        nx_max_pool2d_backward_2x2_t<u64>(dy, arg, dx, planes, oh, ow);
    }
}

template <typename I>
__device__ __forceinline__ void nx_avg_pool2d_forward_t(const float *x, float *y,
                                                        NX_POOL_GEOM_PARAMS) {
    const NxPoolGeom<I> g = nx_pool_geom<I>(NX_POOL_GEOM_ARGS);
    NX_POOL_STRIDE(I, idx, g.n * g.c * g.oh * g.ow) {
        const I ox = idx % g.ow, oy = (idx / g.ow) % g.oh, p = idx / (g.ow * g.oh);
        const float *xp = x + (u64)p * g.h * g.w;
        I i0, i1, j0, j1;
        nx_window_range<I>(oy, g.kh, g.sh, g.ph, g.h, &i0, &i1);
        nx_window_range<I>(ox, g.kw, g.sw, g.pw, g.w, &j0, &j1);
        const float s = nx_chunked((u64)g.kh * g.kw, [&](float acc, u64 t64) {
            const I t = (I)t64;
            const I i = t / g.kw, j = t % g.kw;
            if (i < i0 || i >= i1 || j < j0 || j >= j1) {
                return acc;
            }
            return acc + xp[(oy * g.sh + i - g.ph) * g.w + ox * g.sw + j - g.pw];
        });
        const float n = nx_pool_count<I>(g, oy, ox);
        y[idx] = n > 0.0f ? s / n : 0.0f;
    }
}

extern "C" __global__ void nx_avg_pool2d_forward(const float *x, float *y, NX_POOL_GEOM_PARAMS) {
    if (nx_pool_fits_u32(g0, g1, g2)) {
        nx_avg_pool2d_forward_t<unsigned int>(x, y, NX_POOL_GEOM_ARGS);
    } else {
        nx_avg_pool2d_forward_t<u64>(x, y, NX_POOL_GEOM_ARGS);
    }
}

template <typename I>
__device__ __forceinline__ void nx_avg_pool2d_backward_t(const float *dy, float *dx,
                                                         NX_POOL_GEOM_PARAMS) {
    const NxPoolGeom<I> g = nx_pool_geom<I>(NX_POOL_GEOM_ARGS);
    NX_POOL_STRIDE(I, idx, g.n * g.c * g.h * g.w) {
        const I ix = idx % g.w, iy = (idx / g.w) % g.h, p = idx / (g.w * g.h);
        const float *dyp = dy + (u64)p * g.oh * g.ow;
        I o0, o1, q0, q1;
        nx_covering_range<I>(iy, g.kh, g.sh, g.ph, g.oh, &o0, &o1);
        nx_covering_range<I>(ix, g.kw, g.sw, g.pw, g.ow, &q0, &q1);
        float acc = 0.0f;
        for (I oy = o0; oy < o1; ++oy) {
            for (I ox = q0; ox < q1; ++ox) {
                acc = acc + dyp[oy * g.ow + ox] / nx_pool_count<I>(g, oy, ox);
            }
        }
        dx[idx] = acc;
    }
}

extern "C" __global__ void nx_avg_pool2d_backward(const float *dy, float *dx, NX_POOL_GEOM_PARAMS) {
    if (nx_pool_fits_u32(g0, g1, g2)) {
        nx_avg_pool2d_backward_t<unsigned int>(dy, dx, NX_POOL_GEOM_ARGS);
    } else {
        nx_avg_pool2d_backward_t<u64>(dy, dx, NX_POOL_GEOM_ARGS);
    }
}
