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

// Weights staged by the tiled forward and input-gradient kernels: at most this many floats
// (32 KiB; ops/conv/mod.rs sends larger layers to the one-output-per-thread kernels).
#define NX_CONV_TILE_W 8192

// Forward, tiled: the outputs of nx_conv2d_forward, bit for bit (per output acc = 0; ci, i, j
// increasing over the taps inside the image, acc = fmaf(x, w, acc); z = acc + bias; act), but a
// thread owns TM output channels of one pixel: each x value it loads feeds TM accumulators,
// and the block's TM x (cin/groups * kh * kw) weights sit in shared memory as float4 rows.
// Grid: (blocks of blockDim consecutive pixels (n, oy, ox), group * channel tile).
template <int TM>
__device__ __forceinline__ void nx_conv2d_forward_tiled(const float *x, const float *wt,
                                                        const float *bias, float *y, float *pre,
                                                        int act, float alpha,
                                                        const NxConvGeom &g) {
    __shared__ float4 ws[NX_CONV_TILE_W / 4];
    const int cig = (int)(g.cin / g.groups), cog = (int)(g.cout / g.groups);
    const int kw = (int)g.kw, kk = (int)(g.kh * g.kw), taps = cig * kk;
    const int tiles = (cog + TM - 1) / TM, tile = (int)blockIdx.y % tiles;
    const int gr = (int)blockIdx.y / tiles, co0 = gr * cog + tile * TM;
    const int ncol = cog - tile * TM < TM ? cog - tile * TM : TM;
    float *wsf = (float *)ws;
    for (int e = threadIdx.x; e < taps * TM; e += blockDim.x) {
        const int m = e / taps, t = e % taps;
        wsf[t * TM + m] = m < ncol ? wt[(u64)(co0 + m) * taps + t] : 0.0f;
    }
    __syncthreads();
    const u64 ohw = g.oh * g.ow, pix = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (pix >= g.n * ohw) {
        return;
    }
    const u64 n = pix / ohw, p = pix % ohw, oy = p / g.ow, ox = p % g.ow;
    // 32-bit offsets (ops/conv/mod.rs sends only tensors of fewer than 2^31 values here).
    const int w = (int)g.w, hw = (int)(g.h * g.w), dh = (int)g.dh, dw = (int)g.dw;
    const int xg = ((int)n * (int)g.cin + gr * cig) * hw;
    const long long by = (long long)(oy * g.sh) - (long long)g.ph;
    const long long bx = (long long)(ox * g.sw) - (long long)g.pw;
    long long i0, i1, j0, j1;
    nx_tap_range(by, g.dh, g.h, g.kh, i0, i1);
    nx_tap_range(bx, g.dw, g.w, g.kw, j0, j1);
    float acc[TM];
#pragma unroll
    for (int m = 0; m < TM; ++m) {
        acc[m] = 0.0f;
    }
    for (int ci = 0; ci < cig; ++ci) {
        const int xc = xg + ci * hw;
        const float4 *wc = ws + ci * kk * (TM / 4);
        for (int i = (int)i0; i < (int)i1; ++i) {
            const int xr = xc + ((int)by + i * dh) * w + (int)bx;
            const float4 *wr = wc + i * kw * (TM / 4);
            for (int j = (int)j0; j < (int)j1; ++j) {
                const float xv = x[xr + j * dw];
#pragma unroll
                for (int q = 0; q < TM / 4; ++q) {
                    const float4 wv = wr[j * (TM / 4) + q];
                    acc[4 * q] = fmaf(xv, wv.x, acc[4 * q]);
                    acc[4 * q + 1] = fmaf(xv, wv.y, acc[4 * q + 1]);
                    acc[4 * q + 2] = fmaf(xv, wv.z, acc[4 * q + 2]);
                    acc[4 * q + 3] = fmaf(xv, wv.w, acc[4 * q + 3]);
                }
            }
        }
    }
#pragma unroll
    for (int m = 0; m < TM; ++m) {
        if (m < ncol) {
            const u64 co = (u64)(co0 + m), idx = (n * g.cout + co) * ohw + p;
            const float z = bias != nullptr ? acc[m] + bias[co] : acc[m];
            if (pre != nullptr) {
                pre[idx] = z;
            }
            y[idx] = nx_act_forward(act, alpha, z);
        }
    }
}

extern "C" __global__ void nx_conv2d_forward_tiled_m8(const float *x, const float *wt,
                                                      const float *bias, float *y, float *pre,
                                                      int act, float alpha, NX_CONV_GEOM_PARAMS) {
    nx_conv2d_forward_tiled<8>(x, wt, bias, y, pre, act, alpha,
                               nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7));
}
extern "C" __global__ void nx_conv2d_forward_tiled_m4(const float *x, const float *wt,
                                                      const float *bias, float *y, float *pre,
                                                      int act, float alpha, NX_CONV_GEOM_PARAMS) {
    nx_conv2d_forward_tiled<4>(x, wt, bias, y, pre, act, alpha,
                               nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7));
}

// Input gradient, tiled, for stride 1: the values of nx_conv2d_backward_input, bit for bit
// (per dx acc = 0; co in the group, then i, then j increasing over the outputs that read it,
// acc = fmaf(dy, w, acc)), but a thread owns TM input channels of one pixel: each dy value it
// loads feeds TM accumulators, the weights of the block's TM channels sit in shared memory.
// With stride 1 the taps that reached (iy, ix) are the ranges i in [i0, i1), j in [j0, j1)
// (output row iy + ph - i*dh in [0, oh)), so no tap lists are kept.
// Grid: (blocks of blockDim consecutive pixels (n, iy, ix), group * channel tile).
template <int TM>
__device__ __forceinline__ void nx_conv2d_backward_input_tiled(const float *dy, const float *wt,
                                                               float *dx, const NxConvGeom &g) {
    __shared__ float4 ws[NX_CONV_TILE_W / 4];
    const int cig = (int)(g.cin / g.groups), cog = (int)(g.cout / g.groups);
    const int kw = (int)g.kw, kk = (int)(g.kh * g.kw), taps = cog * kk;
    const int tiles = (cig + TM - 1) / TM, tile = (int)blockIdx.y % tiles;
    const int gr = (int)blockIdx.y / tiles, ci0 = tile * TM;
    const int ncil = cig - ci0 < TM ? cig - ci0 : TM;
    float *wsf = (float *)ws;
    for (int e = threadIdx.x; e < taps * TM; e += blockDim.x) {
        const int m = e / taps, q = e % taps, col = q / kk, t = q % kk;
        wsf[q * TM + m] = m < ncil ? wt[((u64)(gr * cog + col) * cig + ci0 + m) * kk + t] : 0.0f;
    }
    __syncthreads();
    const u64 hw = g.h * g.w, pix = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (pix >= g.n * hw) {
        return;
    }
    const u64 n = pix / hw, p = pix % hw, iy = p / g.w, ix = p % g.w;
    const int ny = (int)(iy + g.ph), nx = (int)(ix + g.pw);
    const int oh = (int)g.oh, ow = (int)g.ow, dh = (int)g.dh, dw = (int)g.dw;
    const int i0 = ny >= oh ? (ny - oh) / dh + 1 : 0, j0 = nx >= ow ? (nx - ow) / dw + 1 : 0;
    const int i1 = ny / dh + 1 < (int)g.kh ? ny / dh + 1 : (int)g.kh;
    const int j1 = nx / dw + 1 < kw ? nx / dw + 1 : kw;
    const int ohw = oh * ow;
    const int dyg = ((int)n * (int)g.cout + gr * cog) * ohw; // 32-bit, as in the forward
    float acc[TM];
#pragma unroll
    for (int m = 0; m < TM; ++m) {
        acc[m] = 0.0f;
    }
    for (int col = 0; col < cog; ++col) {
        const int dyc = dyg + col * ohw;
        const float4 *wc = ws + col * kk * (TM / 4);
        for (int i = i0; i < i1; ++i) {
            const int dyr = dyc + (ny - i * dh) * ow + nx;
            const float4 *wr = wc + i * kw * (TM / 4);
            for (int j = j0; j < j1; ++j) {
                const float d = dy[dyr - j * dw];
#pragma unroll
                for (int q = 0; q < TM / 4; ++q) {
                    const float4 wv = wr[j * (TM / 4) + q];
                    acc[4 * q] = fmaf(d, wv.x, acc[4 * q]);
                    acc[4 * q + 1] = fmaf(d, wv.y, acc[4 * q + 1]);
                    acc[4 * q + 2] = fmaf(d, wv.z, acc[4 * q + 2]);
                    acc[4 * q + 3] = fmaf(d, wv.w, acc[4 * q + 3]);
                }
            }
        }
    }
#pragma unroll
    for (int m = 0; m < TM; ++m) {
        if (m < ncil) {
            dx[(n * g.cin + (u64)(gr * cig + ci0 + m)) * hw + p] = acc[m];
        }
    }
}

extern "C" __global__ void nx_conv2d_backward_input_tiled_m8(const float *dy, const float *wt,
                                                             float *dx, NX_CONV_GEOM_PARAMS) {
    nx_conv2d_backward_input_tiled<8>(dy, wt, dx, nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7));
}
extern "C" __global__ void nx_conv2d_backward_input_tiled_m4(const float *dy, const float *wt,
                                                             float *dx, NX_CONV_GEOM_PARAMS) {
    nx_conv2d_backward_input_tiled<4>(dy, wt, dx, nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7));
}

// Weight gradient, pass 1, tiled: the same partials as nx_conv2d_dw_partial, bit for bit (each
// from acc = 0, r increasing over its chunk, fmaf(x_tap, dy, acc), padding taps skipped), but a
// block owns one chunk and up to COB output channels of one group, whose dy values it stages in
// shared memory once, and each thread owns 4 output channels x TN input channels of one tap
// (4 * TN accumulators): per r it tests the tap once, loads TN x values and one float4 of dy,
// and does 4 * TN fmaf. When dbp is given, the first task block also writes the bias
// gradient's partials of its channels from the staged dy (nx_conv2d_db_partial's values: acc = 0,
// acc + dy for r increasing). Grid: (chunk, group * co-block, task block); blockDim >= 32.
// COB (16 or 32: the smaller for layers with few channels, so more blocks fit an SM) output
// channels are staged per block, in rows of COB + 4 floats (16-byte aligned, conflict-free).
static_assert(NX_CHUNK == 256ull, "nx_conv2d_dw_tiled stages one chunk of 256 rows");

template <int TN, int COB>
__device__ __forceinline__ void nx_conv2d_dw_tiled(const float *x, const float *dy, float *partial,
                                                   float *dbp, const NxConvGeom &g) {
    constexpr int NX_DW_STRIDE = COB + 4;
    __shared__ float4 dys[256 * NX_DW_STRIDE / 4];
    // Per row r of the chunk: x offset of its (oy*sh - ph, ox*sw - pw) corner in image n
    // (n*cin*h*w + py*w + px), py, px, and the offset of dy[n, 0, oy, ox].
    __shared__ int4 rinfo[256];
    const int cig = (int)(g.cin / g.groups), cog = (int)(g.cout / g.groups);
    const int h = (int)g.h, w = (int)g.w, hw = h * w, ohw = (int)(g.oh * g.ow);
    const int kw = (int)g.kw, kk = (int)(g.kh * g.kw);
    const u64 rows = g.n * g.oh * g.ow;
    const u64 c = blockIdx.x, r0 = c * NX_CHUNK;
    const int nr = (int)(rows - r0 < NX_CHUNK ? rows - r0 : NX_CHUNK);
    const int coblocks = (cog + COB - 1) / COB;
    const int gr = (int)blockIdx.y / coblocks, cb = (int)blockIdx.y % coblocks;
    const int cobase = gr * cog + cb * COB;
    const int cob = cog - cb * COB < COB ? cog - cb * COB : COB;
    for (int r = threadIdx.x; r < nr; r += blockDim.x) {
        // 32-bit arithmetic: ops/conv/mod.rs sends only tensors of fewer than 2^31 values here.
        const unsigned rr = (unsigned)(r0 + r), ow = (unsigned)g.ow, oh = (unsigned)g.oh;
        const unsigned ox = rr % ow, q = rr / ow, oy = q % oh, n = q / oh;
        const int py = (int)(oy * (unsigned)g.sh) - (int)g.ph;
        const int px = (int)(ox * (unsigned)g.sw) - (int)g.pw;
        rinfo[r] = make_int4((int)(n * (unsigned)g.cin) * hw + py * w + px, py, px,
                             (int)(n * (unsigned)g.cout) * ohw + (int)(oy * ow + ox));
    }
    __syncthreads();
    // A warp stages 8 consecutive rows x 4 consecutive channels: 4 full sectors of dy, and
    // 32 distinct banks (row stride 36 floats).
    float *dysf = (float *)dys;
    const int cob4 = (cob + 3) & ~3;
    for (int e = threadIdx.x; e < cob4 * 256; e += blockDim.x) {
        const int q = e >> 2, r = q & 255, col = (q >> 8) * 4 + (e & 3);
        if (r < nr && col < cob) {
            dysf[r * NX_DW_STRIDE + col] = dy[rinfo[r].w + (cobase + col) * ohw];
        }
    }
    __syncthreads();
    if (dbp != nullptr && blockIdx.z == 0 && (int)threadIdx.x < cob) {
        float acc = 0.0f;
        for (int r = 0; r < nr; ++r) {
            acc = acc + dysf[r * NX_DW_STRIDE + threadIdx.x];
        }
        dbp[c * g.cout + cobase + threadIdx.x] = acc;
    }
    const int cots = (cob + 3) / 4, citiles = (cig + TN - 1) / TN;
    const int task = (int)blockIdx.z * (int)blockDim.x + (int)threadIdx.x;
    if (task >= kk * citiles * cots) {
        return;
    }
    // Lanes: output-channel quad fastest, then input-channel tile, then tap (so a warp mostly
    // shares one tap and its padding test).
    const int cot = task % cots, cit = (task / cots) % citiles, tap = task / (cots * citiles);
    const int i = tap / kw, j = tap % kw;
    const int offy = i * (int)g.dh, offx = j * (int)g.dw;
    const int ci0 = cit * TN;
    // x of input channel ci0 + k at the tap of row r: x[ri.x + xk[k]] (32-bit sum, one wide
    // multiply-add for the address). A channel past the group's end reads the last one instead
    // (its sums are never stored), so the loads need no test of their own.
    int xk[TN];
#pragma unroll
    for (int k = 0; k < TN; ++k) {
        const int ci = gr * cig + (ci0 + k < cig ? ci0 + k : cig - 1);
        xk[k] = ci * hw + offy * w + offx;
    }
    float acc[4][TN];
#pragma unroll
    for (int m = 0; m < 4; ++m) {
#pragma unroll
        for (int k = 0; k < TN; ++k) {
            acc[m][k] = 0.0f;
        }
    }
#pragma unroll 4
    for (int r = 0; r < nr; ++r) {
        const int4 ri = rinfo[r];
        if ((unsigned)(ri.y + offy) < (unsigned)h && (unsigned)(ri.z + offx) < (unsigned)w) {
            float xv[TN];
#pragma unroll
            for (int k = 0; k < TN; ++k) {
                xv[k] = x[ri.x + xk[k]];
            }
            const float4 d = dys[r * (NX_DW_STRIDE / 4) + cot];
#pragma unroll
            for (int k = 0; k < TN; ++k) {
                acc[0][k] = fmaf(xv[k], d.x, acc[0][k]);
                acc[1][k] = fmaf(xv[k], d.y, acc[1][k]);
                acc[2][k] = fmaf(xv[k], d.z, acc[2][k]);
                acc[3][k] = fmaf(xv[k], d.w, acc[3][k]);
            }
        }
    }
    const u64 nw = g.cout * (u64)cig * (u64)kk;
#pragma unroll
    for (int m = 0; m < 4; ++m) {
#pragma unroll
        for (int k = 0; k < TN; ++k) {
            const int col = cot * 4 + m, ci = ci0 + k;
            if (col < cob && ci < cig) {
                const u64 o = ((u64)(cobase + col) * cig + ci) * kk + tap;
                partial[c * nw + o] = acc[m][k];
            }
        }
    }
}

#define NX_DW_TILED(name, TN, COB)                                                              \
    extern "C" __global__ void name(const float *x, const float *dy, float *partial, float *dbp, \
                                    NX_CONV_GEOM_PARAMS) {                                      \
        nx_conv2d_dw_tiled<TN, COB>(x, dy, partial, dbp,                                        \
                                    nx_conv_geom(g0, g1, g2, g3, g4, g5, g6, g7));              \
    }
NX_DW_TILED(nx_conv2d_dw_tiled_n4_c32, 4, 32)
NX_DW_TILED(nx_conv2d_dw_tiled_n1_c32, 1, 32)
NX_DW_TILED(nx_conv2d_dw_tiled_n4_c16, 4, 16)
NX_DW_TILED(nx_conv2d_dw_tiled_n1_c16, 1, 16)

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
            for (unsigned k = warp; k < nc; k += warps) {
                tile[k * 33 + lane] =
                    o0 + lane < count ? partial[(c0 + k) * count + o0 + lane] : 0.0f;
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
