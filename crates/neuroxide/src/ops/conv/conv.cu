// 2-D convolution (ops/conv/mod.rs): forward, input gradient (a gather), weight and bias
// gradients (chunked order of PARITY rule 2a, via nx_chunk_partial / nx_sum_partials). The
// reduction orders are those of mod.rs, term for term as the CPU kernels (cpu.rs, cpu_grad.rs)
// run them; a padding tap is skipped (`continue`), never multiplied by zero (rule 2b). No
// atomics: every thread owns its outputs (rule 6).

// The geometry, packed by Conv2dGeom::words as 8 words of two 32-bit halves.
struct NxConvGeom {
    u64 n, groups, cin, cout, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
};

#define NX_CONV_GEOM_PARAMS u64 g0, u64 g1, u64 g2, u64 g3, u64 g4, u64 g5, u64 g6, u64 g7
#define NX_LO(v) ((v) & 0xffffffffull)
#define NX_HI(v) ((v) >> 32)

__device__ __forceinline__ NxConvGeom nx_conv_geom(u64 g0, u64 g1, u64 g2, u64 g3, u64 g4, u64 g5,
                                                   u64 g6, u64 g7) {
    NxConvGeom g;
    g.n = NX_LO(g0);
    g.groups = NX_HI(g0);
    g.cin = NX_LO(g1);
    g.cout = NX_HI(g1);
    g.h = NX_LO(g2);
    g.w = NX_HI(g2);
    g.oh = NX_LO(g3);
    g.ow = NX_HI(g3);
    g.kh = NX_LO(g4);
    g.kw = NX_HI(g4);
    g.sh = NX_LO(g5);
    g.sw = NX_HI(g5);
    g.ph = NX_LO(g6);
    g.pw = NX_HI(g6);
    g.dh = NX_LO(g7);
    g.dw = NX_HI(g7);
    return g;
}

// Taps of one output or input pixel are listed once per thread when the kernel has at most this
// many (kh * kw) and a channel plane fits 32-bit offsets; larger kernels walk (i, j) directly.
// Both paths visit the same terms in the same order.
#define NX_CONV_MAX_TAPS 64

__device__ __forceinline__ bool nx_conv_tap_list_fits(const NxConvGeom &g) {
    return g.kh * g.kw <= NX_CONV_MAX_TAPS && g.h * g.w <= 0xffffffffull &&
           g.oh * g.ow <= 0xffffffffull;
}

// One thread per output y[n, co, oy, ox]: acc = 0; ci, i, j increasing, padding skipped,
// acc = fmaf(x, w, acc); z = acc + bias[co]; pre = z; y = act(z).
// Why the tap list: which (i, j) taps fall inside the image depends on (oy, ox) only, not on
// the input channel, so it is worked out once per output instead of once per channel.
extern "C" __global__ void nx_conv2d_forward(const float *x, const float *wt, const float *bias,
                                             float *y, float *pre, int act, float alpha,
                                             NX_CONV_GEOM_PARAMS) {
    const NxConvGeom g = nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7);
    const u64 cig = g.cin / g.groups, cog = g.cout / g.groups;
    const u64 total = g.n * g.cout * g.oh * g.ow;
    const u64 hw = g.h * g.w, kk = g.kh * g.kw;
    const bool listed = nx_conv_tap_list_fits(g);
    NX_GRID_STRIDE(idx, total) {
        const u64 ox = idx % g.ow;
        u64 t = idx / g.ow;
        const u64 oy = t % g.oh;
        t /= g.oh;
        const u64 co = t % g.cout;
        const u64 n = t / g.cout;
        const u64 gr = co / cog;
        const float *xg = x + (n * g.cin + gr * cig) * hw;
        const float *wc = wt + co * cig * kk;
        float acc = 0.0f;
        if (listed) {
            unsigned tap_x[NX_CONV_MAX_TAPS];
            unsigned tap_w[NX_CONV_MAX_TAPS];
            int taps = 0;
            for (u64 i = 0; i < g.kh; ++i) {
                const u64 py = oy * g.sh + i * g.dh;
                if (py < g.ph || py - g.ph >= g.h) {
                    continue;
                }
                for (u64 j = 0; j < g.kw; ++j) {
                    const u64 px = ox * g.sw + j * g.dw;
                    if (px < g.pw || px - g.pw >= g.w) {
                        continue;
                    }
                    tap_x[taps] = (unsigned)((py - g.ph) * g.w + (px - g.pw));
                    tap_w[taps] = (unsigned)(i * g.kw + j);
                    ++taps;
                }
            }
            for (u64 ci = 0; ci < cig; ++ci) {
                const float *xc = xg + ci * hw;
                const float *wcc = wc + ci * kk;
                for (int q = 0; q < taps; ++q) {
                    acc = fmaf(xc[tap_x[q]], wcc[tap_w[q]], acc);
                }
            }
        } else {
            for (u64 ci = 0; ci < cig; ++ci) {
                for (u64 i = 0; i < g.kh; ++i) {
                    const u64 py = oy * g.sh + i * g.dh;
                    if (py < g.ph || py - g.ph >= g.h) {
                        continue;
                    }
                    const float *xr = xg + (ci * g.h + (py - g.ph)) * g.w;
                    const float *wr = wc + (ci * g.kh + i) * g.kw;
                    for (u64 j = 0; j < g.kw; ++j) {
                        const u64 px = ox * g.sw + j * g.dw;
                        if (px < g.pw || px - g.pw >= g.w) {
                            continue;
                        }
                        acc = fmaf(xr[px - g.pw], wr[j], acc);
                    }
                }
            }
        }
        const float z = bias != nullptr ? acc + bias[co] : acc;
        if (pre != nullptr) {
            pre[idx] = z;
        }
        y[idx] = nx_act_forward(act, alpha, z);
    }
}

// The output pixel that read input row (or column) `in` through tap `i`, or -1: the tap maps
// output o to input o * s + i * d - p.
__device__ __forceinline__ long long nx_conv_source(u64 in, u64 i, u64 s, u64 d, u64 p, u64 out) {
    const u64 shifted = in + p;
    if (shifted < i * d || (shifted - i * d) % s != 0 || (shifted - i * d) / s >= out) {
        return -1;
    }
    return (long long)((shifted - i * d) / s);
}

// One thread per input gradient dx[n, c, iy, ix] (a gather): acc = 0; for co in the group,
// then i, then j, every output (oy, ox) that read (iy, ix): acc = fmaf(dy, w, acc).
// Which taps reached (iy, ix), and from which output, does not depend on co: listed once per
// thread (the divisions by the stride are then out of the co loop).
extern "C" __global__ void nx_conv2d_backward_input(const float *dy, const float *wt, float *dx,
                                                    NX_CONV_GEOM_PARAMS) {
    const NxConvGeom g = nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7);
    const u64 cig = g.cin / g.groups, cog = g.cout / g.groups;
    const u64 total = g.n * g.cin * g.h * g.w;
    const u64 ohw = g.oh * g.ow, kk = g.kh * g.kw;
    const bool listed = nx_conv_tap_list_fits(g);
    NX_GRID_STRIDE(idx, total) {
        const u64 ix = idx % g.w;
        u64 t = idx / g.w;
        const u64 iy = t % g.h;
        t /= g.h;
        const u64 c = t % g.cin;
        const u64 n = t / g.cin;
        const u64 gr = c / cig, ci = c % cig;
        float acc = 0.0f;
        if (listed) {
            unsigned tap_dy[NX_CONV_MAX_TAPS];
            unsigned tap_w[NX_CONV_MAX_TAPS];
            int taps = 0;
            for (u64 i = 0; i < g.kh; ++i) {
                const long long oy = nx_conv_source(iy, i, g.sh, g.dh, g.ph, g.oh);
                if (oy < 0) {
                    continue;
                }
                for (u64 j = 0; j < g.kw; ++j) {
                    const long long ox = nx_conv_source(ix, j, g.sw, g.dw, g.pw, g.ow);
                    if (ox < 0) {
                        continue;
                    }
                    tap_dy[taps] = (unsigned)((u64)oy * g.ow + (u64)ox);
                    tap_w[taps] = (unsigned)(i * g.kw + j);
                    ++taps;
                }
            }
            for (u64 col = 0; col < cog; ++col) {
                const u64 co = gr * cog + col;
                const float *dyc = dy + (n * g.cout + co) * ohw;
                const float *wc = wt + (co * cig + ci) * kk;
                for (int q = 0; q < taps; ++q) {
                    acc = fmaf(dyc[tap_dy[q]], wc[tap_w[q]], acc);
                }
            }
        } else {
            for (u64 col = 0; col < cog; ++col) {
                const u64 co = gr * cog + col;
                const float *dyc = dy + (n * g.cout + co) * ohw;
                const float *wc = wt + (co * cig + ci) * kk;
                for (u64 i = 0; i < g.kh; ++i) {
                    const long long oy = nx_conv_source(iy, i, g.sh, g.dh, g.ph, g.oh);
                    if (oy < 0) {
                        continue;
                    }
                    for (u64 j = 0; j < g.kw; ++j) {
                        const long long ox = nx_conv_source(ix, j, g.sw, g.dw, g.pw, g.ow);
                        if (ox < 0) {
                            continue;
                        }
                        acc = fmaf(dyc[(u64)oy * g.ow + (u64)ox], wc[i * g.kw + j], acc);
                    }
                }
            }
        }
        dx[idx] = acc;
    }
}

// Weight gradient, pass 1: one thread per (chunk c, weight o): partial[c * nw + o] = chunk c of
// sum_r fmaf(x_tap, dy[n, co, oy, ox], acc), r = (n*OH + oy)*OW + ox, padding taps skipped.
// The loop is nx_chunk_partial's (acc from 0, r increasing over the chunk) with (n, oy, ox)
// stepped alongside r instead of divided out of it for every term.
extern "C" __global__ void nx_conv2d_dw_partial(const float *x, const float *dy, float *partial,
                                                u64 chunks, NX_CONV_GEOM_PARAMS) {
    const NxConvGeom g = nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7);
    const u64 cig = g.cin / g.groups, cog = g.cout / g.groups;
    const u64 nw = g.cout * cig * g.kh * g.kw;
    const u64 rows = g.n * g.oh * g.ow;
    NX_GRID_STRIDE(idx, chunks * nw) {
        const u64 o = idx % nw, c = idx / nw;
        const u64 j = o % g.kw;
        u64 t = o / g.kw;
        const u64 i = t % g.kh;
        t /= g.kh;
        const u64 ci = t % cig, co = t / cig;
        const u64 cx = (co / cog) * cig + ci;
        const u64 r0 = c * NX_CHUNK;
        const u64 r1 = r0 + NX_CHUNK < rows ? r0 + NX_CHUNK : rows;
        u64 ox = r0 % g.ow;
        u64 q = r0 / g.ow;
        u64 oy = q % g.oh, n = q / g.oh;
        float acc = 0.0f;
        for (u64 r = r0; r < r1; ++r) {
            const u64 py = oy * g.sh + i * g.dh, px = ox * g.sw + j * g.dw;
            if (!(py < g.ph || py - g.ph >= g.h || px < g.pw || px - g.pw >= g.w)) {
                const float xv = x[((n * g.cin + cx) * g.h + (py - g.ph)) * g.w + (px - g.pw)];
                acc = fmaf(xv, dy[((n * g.cout + co) * g.oh + oy) * g.ow + ox], acc);
            }
            if (++ox == g.ow) {
                ox = 0;
                if (++oy == g.oh) {
                    oy = 0;
                    ++n;
                }
            }
        }
        partial[c * nw + o] = acc;
    }
}

// Bias gradient, pass 1: one thread per (chunk c, channel co): chunk c of sum_r dy[n, co, p]
// (nx_chunk_partial's loop with (n, p) stepped alongside r).
extern "C" __global__ void nx_conv2d_db_partial(const float *dy, float *partial, u64 chunks,
                                                NX_CONV_GEOM_PARAMS) {
    const NxConvGeom g = nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7);
    const u64 ohw = g.oh * g.ow;
    const u64 rows = g.n * ohw;
    NX_GRID_STRIDE(idx, chunks * g.cout) {
        const u64 co = idx % g.cout, c = idx / g.cout;
        const u64 r0 = c * NX_CHUNK;
        const u64 r1 = r0 + NX_CHUNK < rows ? r0 + NX_CHUNK : rows;
        u64 n = r0 / ohw, p = r0 % ohw;
        float acc = 0.0f;
        for (u64 r = r0; r < r1; ++r) {
            acc = acc + dy[(n * g.cout + co) * ohw + p];
            if (++p == ohw) {
                p = 0;
                ++n;
            }
        }
        partial[c * g.cout + co] = acc;
    }
}

// Pass 2 of both: out[o] = partial[o] + partial[count + o] + ... in chunk order.
extern "C" __global__ void nx_conv_sum_partials(const float *partial, float *out, u64 chunks,
                                                u64 count) {
    NX_GRID_STRIDE(o, count) { out[o] = nx_sum_partials(partial + o, chunks, count); }
}
