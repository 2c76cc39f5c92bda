// Tiled 2-D convolution kernels (ops/conv/mod.rs picks them when a layer fits, else the general
// kernels of conv.cu run; this file is compiled after conv.cu, in the same unit, and uses its
// NxConvGeom, nx_conv_geom and nx_tap_range). Each computes the very values of its general twin:
// every output keeps its own accumulator and the same sequence of fmaf / additions in the same
// order (the orders of mod.rs); only which thread computes which outputs, and where operands are
// read from (shared memory, registers), changes. No atomics (rule 6); padding taps are skipped,
// never multiplied by zero (rule 2b).

// Weights staged by the tiled forward and input-gradient kernels: at most this many floats
// (32 KiB; ops/conv/mod.rs sends larger layers to the one-output-per-thread kernels).
#define NX_CONV_TILE_W 8192

// One source value times the TM weights of one tap (TM / 4 float4 rows of shared memory):
// acc[m] = fmaf(v, w[m], acc[m]) for m < TM, each accumulator's own next term.
template <int TM>
__device__ __forceinline__ void nx_fma_tm(float (&acc)[TM], float v, const float4 *w) {
#pragma unroll
    for (int q = 0; q < TM / 4; ++q) {
        const float4 wv = w[q];
        acc[4 * q] = fmaf(v, wv.x, acc[4 * q]);
        acc[4 * q + 1] = fmaf(v, wv.y, acc[4 * q + 1]);
        acc[4 * q + 2] = fmaf(v, wv.z, acc[4 * q + 2]);
        acc[4 * q + 3] = fmaf(v, wv.w, acc[4 * q + 3]);
    }
}

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
    // 32-bit offsets (ops/conv/mod.rs sends only tensors of fewer than 2^30 values here).
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
                nx_fma_tm<TM>(acc, xv, wr + j * (TM / 4));
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
                nx_fma_tm<TM>(acc, d, wr + j * (TM / 4));
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

// One row's terms of a thread's 4 x TN weights: acc[m][k] = fmaf(x[k], dy[m], acc[m][k]).
template <int TN>
__device__ __forceinline__ void nx_dw_fma(float (&acc)[4][TN], const float (&xv)[TN], float4 d) {
#pragma unroll
    for (int k = 0; k < TN; ++k) {
        acc[0][k] = fmaf(xv[k], d.x, acc[0][k]);
        acc[1][k] = fmaf(xv[k], d.y, acc[1][k]);
        acc[2][k] = fmaf(xv[k], d.z, acc[2][k]);
        acc[3][k] = fmaf(xv[k], d.w, acc[3][k]);
    }
}

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
        // 32-bit arithmetic: ops/conv/mod.rs sends only tensors of fewer than 2^30 values here.
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
    const int dstep = NX_DW_STRIDE / 4;
    if constexpr (TN == 1) {
        // Few instructions per row, so latency decides: software-pipelined, the x value of row
        // r + 1 is loaded before row r's fmaf run (a padding tap loads x[xk[0] - xk[0]], inside
        // the tensor, and never uses it; the fmaf run only for taps inside the image, rule 2b).
        const int4 r0i = rinfo[0];
        bool in_next =
            (unsigned)(r0i.y + offy) < (unsigned)h && (unsigned)(r0i.z + offx) < (unsigned)w;
        float x_next = x[(in_next ? r0i.x : -xk[0]) + xk[0]];
        for (int r = 0; r < nr; ++r) {
            const bool in = in_next;
            const float xv[1] = {x_next};
            if (r + 1 < nr) {
                const int4 ri = rinfo[r + 1];
                in_next =
                    (unsigned)(ri.y + offy) < (unsigned)h && (unsigned)(ri.z + offx) < (unsigned)w;
                x_next = x[(in_next ? ri.x : -xk[0]) + xk[0]];
            }
            if (in) {
                nx_dw_fma<TN>(acc, xv, dys[r * dstep + cot]);
            }
        }
    } else {
        // Enough instructions per row (4 loads, 16 fmaf) to keep the SM issuing: plain loop.
#pragma unroll 4
        for (int r = 0; r < nr; ++r) {
            const int4 ri = rinfo[r];
            if ((unsigned)(ri.y + offy) < (unsigned)h && (unsigned)(ri.z + offx) < (unsigned)w) {
                float xv[TN];
#pragma unroll
                for (int k = 0; k < TN; ++k) {
                    xv[k] = x[ri.x + xk[k]];
                }
                nx_dw_fma<TN>(acc, xv, dys[r * dstep + cot]);
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
