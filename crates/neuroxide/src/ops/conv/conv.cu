// 2-D convolution (ops/conv/mod.rs): forward, input gradient (a gather), weight and bias
// gradients (chunked order of PARITY rule 2a, via nx_chunk_partial / nx_sum_partials). The
// reduction orders are those of mod.rs, term for term as the CPU kernels (cpu.rs, cpu_grad.rs)
// run them; a padding tap is skipped (`continue`), never multiplied by zero (rule 2b). No
// atomics: every thread owns its outputs (rule 6).
//
// These are the general kernels (one output per thread, any geometry). conv_tiled.cu, compiled
// in the same unit after this file, holds the tiled kernels that ops/conv/mod.rs prefers when a
// layer fits them: the same values bit for bit, with several outputs per thread and the shared
// operand staged in shared memory.

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

// The taps t in [0, k) whose position base + t * d lies in [0, size) (base may be negative):
// one contiguous range [lo, hi), because the position grows with t. Visiting t = lo .. hi-1
// visits exactly the taps the direct walk keeps, in its order, without a test per tap.
__device__ __forceinline__ void nx_tap_range(long long base, long long d, long long size,
                                             long long k, long long &lo, long long &hi) {
    lo = base >= 0 ? 0 : (-base + d - 1) / d;
    hi = size - base <= 0 ? 0 : (size - base - 1) / d + 1;
    hi = hi < k ? hi : k;
    lo = lo < hi ? lo : hi;
}

// One thread per output y[n, co, oy, ox]: acc = 0; ci, i, j increasing, padding skipped,
// acc = fmaf(x, w, acc); z = acc + bias[co]; pre = z; y = act(z).
// The taps inside the image form a rectangle [i0, i1) x [j0, j1) that depends on (oy, ox)
// only: worked out once per output, not tested per channel and tap.
extern "C" __global__ void nx_conv2d_forward(const float *x, const float *wt, const float *bias,
                                             float *y, float *pre, int act, float alpha,
                                             NX_CONV_GEOM_PARAMS) {
    const NxConvGeom g = nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7);
    const u64 cig = g.cin / g.groups, cog = g.cout / g.groups;
    const u64 total = g.n * g.cout * g.oh * g.ow;
    const u64 hw = g.h * g.w, kk = g.kh * g.kw;
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
        const long long by = (long long)(oy * g.sh) - (long long)g.ph;
        const long long bx = (long long)(ox * g.sw) - (long long)g.pw;
        long long i0, i1, j0, j1;
        nx_tap_range(by, g.dh, g.h, g.kh, i0, i1);
        nx_tap_range(bx, g.dw, g.w, g.kw, j0, j1);
        float acc = 0.0f;
        for (u64 ci = 0; ci < cig; ++ci) {
            const float *xc = xg + ci * hw;
            const float *wcc = wc + ci * kk;
            for (long long i = i0; i < i1; ++i) {
                const long long row = (by + i * (long long)g.dh) * (long long)g.w + bx;
                const float *wr = wcc + i * (long long)g.kw;
                for (long long j = j0; j < j1; ++j) {
                    acc = fmaf(xc[row + j * (long long)g.dw], wr[j], acc);
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

// The largest kernel extent (ops/conv/mod.rs checks kh, kw in 1..=32).
#define NX_CONV_MAX_EXTENT 32

// One thread per input gradient dx[n, c, iy, ix] (a gather): acc = 0; for co in the group,
// then i, then j, every output (oy, ox) that read (iy, ix): acc = fmaf(dy, w, acc).
// Tap (i, j) reached (iy, ix) iff tap row i and tap column j each did, and which ones did
// does not depend on co: the rows (i, oy) and columns (j, ox) are listed once per thread, in
// increasing i and j, so the divisions by the stride stay out of the co loop.
extern "C" __global__ void nx_conv2d_backward_input(const float *dy, const float *wt, float *dx,
                                                    NX_CONV_GEOM_PARAMS) {
    const NxConvGeom g = nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7);
    const u64 cig = g.cin / g.groups, cog = g.cout / g.groups;
    const u64 total = g.n * g.cin * g.h * g.w;
    const u64 ohw = g.oh * g.ow, kk = g.kh * g.kw;
    NX_GRID_STRIDE(idx, total) {
        const u64 ix = idx % g.w;
        u64 t = idx / g.w;
        const u64 iy = t % g.h;
        t /= g.h;
        const u64 c = t % g.cin;
        const u64 n = t / g.cin;
        const u64 gr = c / cig, ci = c % cig;
        // Row i reads input row oy * sh + i * dh - ph: it reached iy from oy when that is iy.
        unsigned row_dy[NX_CONV_MAX_EXTENT], row_w[NX_CONV_MAX_EXTENT];
        unsigned col_dy[NX_CONV_MAX_EXTENT], col_w[NX_CONV_MAX_EXTENT];
        int rows = 0, cols = 0;
        for (u64 i = 0; i < g.kh && i < NX_CONV_MAX_EXTENT; ++i) {
            const u64 ny = iy + g.ph;
            if (ny < i * g.dh || (ny - i * g.dh) % g.sh != 0 || (ny - i * g.dh) / g.sh >= g.oh) {
                continue;
            }
            row_dy[rows] = (unsigned)((ny - i * g.dh) / g.sh);
            row_w[rows] = (unsigned)i;
            ++rows;
        }
        for (u64 j = 0; j < g.kw && j < NX_CONV_MAX_EXTENT; ++j) {
            const u64 nx = ix + g.pw;
            if (nx < j * g.dw || (nx - j * g.dw) % g.sw != 0 || (nx - j * g.dw) / g.sw >= g.ow) {
                continue;
            }
            col_dy[cols] = (unsigned)((nx - j * g.dw) / g.sw);
            col_w[cols] = (unsigned)j;
            ++cols;
        }
        float acc = 0.0f;
        for (u64 col = 0; col < cog; ++col) {
            const u64 co = gr * cog + col;
            const float *dyc = dy + (n * g.cout + co) * ohw;
            const float *wc = wt + (co * cig + ci) * kk;
            for (int a = 0; a < rows; ++a) {
                const float *dyr = dyc + (u64)row_dy[a] * g.ow;
                const float *wr = wc + (u64)row_w[a] * g.kw;
                for (int b = 0; b < cols; ++b) {
                    acc = fmaf(dyr[col_dy[b]], wr[col_w[b]], acc);
                }
            }
        }
        dx[idx] = acc;
    }
}

// Weight gradient, pass 1: one thread per (chunk c, weight o): partial[c * nw + o] = chunk c of
// sum_r fmaf(x_tap, dy[n, co, oy, ox], acc), r = (n*OH + oy)*OW + ox, padding taps skipped.
// The loop is nx_chunk_partial's (acc from 0, r increasing over the chunk) with the tap's
// input position (py, px), the image's x plane and the dy element stepped alongside r
// instead of recomputed from it for every term.
extern "C" __global__ void nx_conv2d_dw_partial(const float *x, const float *dy, float *partial,
                                                u64 chunks, NX_CONV_GEOM_PARAMS) {
    const NxConvGeom g = nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7);
    const u64 cig = g.cin / g.groups, cog = g.cout / g.groups;
    const u64 nw = g.cout * cig * g.kh * g.kw;
    const u64 rows = g.n * g.oh * g.ow;
    const u64 hw = g.h * g.w, ohw = g.oh * g.ow;
    const long long h = (long long)g.h, w = (long long)g.w;
    const long long sh = (long long)g.sh, sw = (long long)g.sw;
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
        const u64 q = r0 / g.ow;
        u64 oy = q % g.oh;
        const u64 n = q / g.oh;
        const long long offy = (long long)(i * g.dh) - (long long)g.ph;
        const long long offx = (long long)(j * g.dw) - (long long)g.pw;
        long long py = (long long)oy * sh + offy, px = (long long)ox * sw + offx;
        const float *xp = x + (n * g.cin + cx) * hw;
        const float *dyp = dy + (n * g.cout + co) * ohw + oy * g.ow + ox;
        float acc = 0.0f;
        for (u64 r = r0; r < r1; ++r) {
            if (py >= 0 && py < h && px >= 0 && px < w) {
                acc = fmaf(xp[py * w + px], *dyp, acc);
            }
            ++dyp;
            if (++ox == g.ow) {
                ox = 0;
                px = offx;
                if (++oy == g.oh) { // next image: its x plane and its dy plane of channel co
                    oy = 0;
                    py = offy;
                    xp += g.cin * hw;
                    dyp += (g.cout - 1) * ohw;
                } else {
                    py += sh;
                }
            } else {
                px += sw;
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

// Pass 2 of both: out[o] = partial[o] + partial[count + o] + ... in chunk order (the chain of
// nx_sum_partials / nx_sum_partials_from). A block owns 32 consecutive o; all its threads
// stage 256 chunks' partials of them in shared memory (many loads in flight), then one warp
// continues the 32 chains, lane l for output o0 + l. Blocks stride over the groups of 32.
#define NX_SUM_TILE 256
extern "C" __global__ void nx_conv_sum_partials(const float *partial, float *out, u64 chunks,
                                                u64 count) {
    __shared__ float tile[NX_SUM_TILE * 33];
    const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (u64 o0 = (u64)blockIdx.x * 32; o0 < count; o0 += (u64)gridDim.x * 32) {
        float total = 0.0f;
        for (u64 c0 = 0; c0 < chunks; c0 += NX_SUM_TILE) {
            const unsigned nc = (unsigned)(chunks - c0 < NX_SUM_TILE ? chunks - c0 : NX_SUM_TILE);
            // Eight loads in flight per lane before their stores: a loop of one load and
            // one store at a time waited a memory latency per row (H200, batch 512: 37 → 26
            // µs per launch, conv1's 144 weights on only 5 blocks).
            for (unsigned k0 = warp; k0 < nc; k0 += 8 * warps) {
                float v[8];
#pragma unroll
                for (unsigned u = 0; u < 8; ++u) {
                    const unsigned k = k0 + u * warps;
                    v[u] = k < nc && o0 + lane < count ? partial[(c0 + k) * count + o0 + lane]
                                                       : 0.0f;
                }
#pragma unroll
                for (unsigned u = 0; u < 8; ++u) {
                    const unsigned k = k0 + u * warps;
                    if (k < nc) {
                        tile[k * 33 + lane] = v[u];
                    }
                }
            }
            __syncthreads();
            if (warp == 0) {
                const float *col = tile + lane;
                total = c0 == 0 ? nx_sum_partials(col, nc, 33)
                                : nx_sum_partials_from(total, col, nc, 33);
            }
            __syncthreads();
        }
        if (warp == 0 && o0 + lane < count) {
            out[o0 + lane] = total;
        }
    }
}
