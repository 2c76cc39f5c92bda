// 2-D pooling (ops/pool/mod.rs): max pooling with its argmax, average pooling, and their
// backward passes as gathers (one thread per input gradient, no atomics: PARITY rule 6). Orders
// and NaN/tie rules are those of mod.rs, step for step as cpu.rs runs them; padding taps are
// skipped (rule 2b).

struct NxPoolGeom {
    u64 n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
};

#define NX_POOL_GEOM_PARAMS u64 g0, u64 g1, u64 g2, u64 g3, u64 g4, u64 g5

__device__ __forceinline__ NxPoolGeom nx_pool_geom(u64 g0, u64 g1, u64 g2, u64 g3, u64 g4,
                                                   u64 g5) {
    NxPoolGeom g;
    g.n = g0 & 0xffffffffull;
    g.c = g0 >> 32;
    g.h = g1 & 0xffffffffull;
    g.w = g1 >> 32;
    g.oh = g2 & 0xffffffffull;
    g.ow = g2 >> 32;
    g.kh = g3 & 0xffffffffull;
    g.kw = g3 >> 32;
    g.sh = g4 & 0xffffffffull;
    g.sw = g4 >> 32;
    g.ph = g5 & 0xffffffffull;
    g.pw = g5 >> 32;
    return g;
}

// Valid window taps lo..hi along one axis (pool/mod.rs window_range).
__device__ __forceinline__ void nx_window_range(u64 o, u64 win, u64 s, u64 pad, u64 n, u64 *lo,
                                                u64 *hi) {
    const u64 start = o * s;
    u64 l = pad > start ? pad - start : 0;
    l = l < win ? l : win;
    u64 h = n + pad > start ? n + pad - start : 0;
    h = h < win ? h : win;
    *lo = l;
    *hi = h > l ? h : l;
}

// Outputs lo..hi along one axis whose windows contain input i:
// o*s - pad <= i <= o*s - pad + win - 1.
__device__ __forceinline__ void nx_covering_range(u64 i, u64 win, u64 s, u64 pad, u64 n_out,
                                                  u64 *lo, u64 *hi) {
    const u64 top = i + pad;
    const u64 a = top + 1 > win ? top + 1 - win : 0;
    const u64 l = (a + s - 1) / s;
    u64 h = top / s + 1;
    h = h < n_out ? h : n_out;
    *lo = l;
    *hi = h > l ? h : l;
}

__device__ __forceinline__ float nx_pool_count(const NxPoolGeom &g, u64 oy, u64 ox) {
    u64 i0, i1, j0, j1;
    nx_window_range(oy, g.kh, g.sh, g.ph, g.h, &i0, &i1);
    nx_window_range(ox, g.kw, g.sw, g.pw, g.w, &j0, &j1);
    return (float)((i1 - i0) * (j1 - j0));
}

extern "C" __global__ void nx_max_pool2d_forward(const float *x, float *y, float *arg,
                                                 NX_POOL_GEOM_PARAMS) {
    const NxPoolGeom g = nx_pool_geom(g0, g1, g2, g3, g4, g5);
    NX_GRID_STRIDE(idx, g.n * g.c * g.oh * g.ow) {
        const u64 ox = idx % g.ow, oy = (idx / g.ow) % g.oh, p = idx / (g.ow * g.oh);
        const float *xp = x + p * g.h * g.w;
        u64 i0, i1, j0, j1;
        nx_window_range(oy, g.kh, g.sh, g.ph, g.h, &i0, &i1);
        nx_window_range(ox, g.kw, g.sw, g.pw, g.w, &j0, &j1);
        bool have = false;
        float m = 0.0f;
        float a = -1.0f;
        for (u64 i = i0; i < i1; ++i) {
            const u64 row = (oy * g.sh + i - g.ph) * g.w;
            for (u64 j = j0; j < j1; ++j) {
                const u64 at = row + ox * g.sw + j - g.pw;
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

extern "C" __global__ void nx_max_pool2d_backward(const float *dy, const float *arg, float *dx,
                                                  NX_POOL_GEOM_PARAMS) {
    const NxPoolGeom g = nx_pool_geom(g0, g1, g2, g3, g4, g5);
    NX_GRID_STRIDE(idx, g.n * g.c * g.h * g.w) {
        const u64 ix = idx % g.w, iy = (idx / g.w) % g.h, p = idx / (g.w * g.h);
        const float *dyp = dy + p * g.oh * g.ow;
        const float *ap = arg + p * g.oh * g.ow;
        u64 o0, o1, q0, q1;
        nx_covering_range(iy, g.kh, g.sh, g.ph, g.oh, &o0, &o1);
        nx_covering_range(ix, g.kw, g.sw, g.pw, g.ow, &q0, &q1);
        const float me = (float)(iy * g.w + ix);
        float acc = 0.0f;
        for (u64 oy = o0; oy < o1; ++oy) {
            for (u64 ox = q0; ox < q1; ++ox) {
                if (ap[oy * g.ow + ox] == me) {
                    acc = acc + dyp[oy * g.ow + ox];
                }
            }
        }
        dx[idx] = acc;
    }
}

extern "C" __global__ void nx_avg_pool2d_forward(const float *x, float *y, NX_POOL_GEOM_PARAMS) {
    const NxPoolGeom g = nx_pool_geom(g0, g1, g2, g3, g4, g5);
    NX_GRID_STRIDE(idx, g.n * g.c * g.oh * g.ow) {
        const u64 ox = idx % g.ow, oy = (idx / g.ow) % g.oh, p = idx / (g.ow * g.oh);
        const float *xp = x + p * g.h * g.w;
        u64 i0, i1, j0, j1;
        nx_window_range(oy, g.kh, g.sh, g.ph, g.h, &i0, &i1);
        nx_window_range(ox, g.kw, g.sw, g.pw, g.w, &j0, &j1);
        const float s = nx_chunked(g.kh * g.kw, [&](float acc, u64 t) {
            const u64 i = t / g.kw, j = t % g.kw;
            if (i < i0 || i >= i1 || j < j0 || j >= j1) {
                return acc;
            }
            return acc + xp[(oy * g.sh + i - g.ph) * g.w + ox * g.sw + j - g.pw];
        });
        const float n = nx_pool_count(g, oy, ox);
        y[idx] = n > 0.0f ? s / n : 0.0f;
    }
}

extern "C" __global__ void nx_avg_pool2d_backward(const float *dy, float *dx, NX_POOL_GEOM_PARAMS) {
    const NxPoolGeom g = nx_pool_geom(g0, g1, g2, g3, g4, g5);
    NX_GRID_STRIDE(idx, g.n * g.c * g.h * g.w) {
        const u64 ix = idx % g.w, iy = (idx / g.w) % g.h, p = idx / (g.w * g.h);
        const float *dyp = dy + p * g.oh * g.ow;
        u64 o0, o1, q0, q1;
        nx_covering_range(iy, g.kh, g.sh, g.ph, g.oh, &o0, &o1);
        nx_covering_range(ix, g.kw, g.sw, g.pw, g.ow, &q0, &q1);
        float acc = 0.0f;
        for (u64 oy = o0; oy < o1; ++oy) {
            for (u64 ox = q0; ox < q1; ++ox) {
                acc = acc + dyp[oy * g.ow + ox] / nx_pool_count(g, oy, ox);
            }
        }
        dx[idx] = acc;
    }
}
