// Exact matmul: C = act(op(A) . op(B) + bias), optional pre-activation copy (ops::matmul::Matmul).
//
// Every output (i, j) has ONE f32 accumulator that starts at 0 and walks p = 0, 1, ..., k-1 in
// increasing order with acc = fmaf(A[i,p], B[p,j], acc): the CPU's order exactly. Parallelism is
// only across outputs; tiling over k carries each accumulator from one tile to the next.
// Out-of-range parts of the last k-tile are zero-filled in shared memory but never enter an
// accumulator (PARITY rule 2b): the last tile's loop stops at k. Adding fmaf(0, 0, acc) would
// not be neutral: an accumulator can be -0 (a negative product that underflows rounds to -0),
// and -0 + +0 = +0, a sign the CPU, which stops at k, keeps.
//
// nx_matmul_big_<BM>x<BN>_<ta><tb> (matmul_big.cu, appended to this unit): the register-tiled
// kernels for large problems in four block-tile shapes; they share nx_epilogue_act below.
// nx_matmul_mid_<ta><tb>: 32x32 register tiles for problems with a few dozen such tiles.
// nx_matmul_small_<ta><tb>: one output per thread, 16x16 blocks, for problems too small to fill
// the GPU with larger tiles. Same arithmetic, same bits.

// Activation of the epilogue: the common cases inline, the rest through one out-of-line call
// (keeps the unrolled epilogue small).
__device__ __noinline__ float nx_act_forward_call(int act, float a, float x) {
    return nx_act_forward(act, a, x);
}
__device__ __forceinline__ float nx_epilogue_act(int act, float a, float z) {
    if (act == NX_ACT_LINEAR) {
        return z;
    }
    if (act == NX_ACT_RELU) {
        return z > 0.0f ? z : 0.0f;
    }
    return nx_act_forward_call(act, a, z);
}

// One output per thread, 16x16 outputs per block, k-tiles of 32: every operand is read with
// consecutive threads on consecutive addresses whatever the transposes, and the next k-tile is
// fetched into registers while the current one is multiplied (the loop is bound by memory
// latency: few outputs, one long sequential chain each).
#define NX_ONE_BK 32
template <bool AT, bool BT>
__device__ __forceinline__ void nx_matmul_one(int m, int n, int k, const float *__restrict__ A,
                                              const float *__restrict__ B, float *__restrict__ C,
                                              const float *__restrict__ bias,
                                              float *__restrict__ pre, int act, float alpha) {
    __shared__ float As[16][NX_ONE_BK + 1]; // As[row][p]
    __shared__ float Bs[NX_ONE_BK][17];     // Bs[p][col]
    const int tx = threadIdx.x & 15;
    const int ty = threadIdx.x >> 4;
    const int bm = blockIdx.y * 16;
    const int bn = blockIdx.x * 16;
    const int row = bm + ty;
    const int col = bn + tx;
    float ra[2], rb[2];
    // Thread (ty, tx) fetches two A and two B values of the tile starting at kt.
    auto load = [&](int kt) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            if (!AT) { // A[i*k + p]: p along tx
                const int i = bm + ty, p = kt + tx + 16 * h;
                ra[h] = (i < m && p < k) ? A[(size_t)i * k + p] : 0.0f;
            } else { // A[p*m + i]: i along tx
                const int i = bm + tx, p = kt + ty + 16 * h;
                ra[h] = (i < m && p < k) ? A[(size_t)p * m + i] : 0.0f;
            }
            if (!BT) { // B[p*n + j]: j along tx
                const int p = kt + ty + 16 * h, j = bn + tx;
                rb[h] = (p < k && j < n) ? B[(size_t)p * n + j] : 0.0f;
            } else { // B[j*k + p]: p along tx
                const int j = bn + ty, p = kt + tx + 16 * h;
                rb[h] = (p < k && j < n) ? B[(size_t)j * k + p] : 0.0f;
            }
        }
    };
    auto store = [&]() {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            if (!AT) {
                As[ty][tx + 16 * h] = ra[h];
            } else {
                As[tx][ty + 16 * h] = ra[h];
            }
            if (!BT) {
                Bs[ty + 16 * h][tx] = rb[h];
            } else {
                Bs[tx + 16 * h][ty] = rb[h];
            }
        }
    };
    float acc = 0.0f;
    const int ntiles = (k + NX_ONE_BK - 1) / NX_ONE_BK;
    if (ntiles > 0) {
        load(0);
    }
    for (int t = 0; t < ntiles; ++t) {
        store();
        __syncthreads();
        if (t + 1 < ntiles) {
            load((t + 1) * NX_ONE_BK); // in flight while this tile is multiplied
        }
        const int valid = k - t * NX_ONE_BK; // terms of this tile inside [0, k)
        if (valid >= NX_ONE_BK) {
#pragma unroll
            for (int p = 0; p < NX_ONE_BK; ++p) {
                acc = fmaf(As[ty][p], Bs[p][tx], acc);
            }
        } else {
            for (int p = 0; p < valid; ++p) { // rule 2b: padding never enters acc
                acc = fmaf(As[ty][p], Bs[p][tx], acc);
            }
        }
        __syncthreads();
    }
    if (row < m && col < n) {
        const float z = bias != nullptr ? acc + bias[col] : acc;
        const size_t o = (size_t)row * n + col;
        if (pre != nullptr) {
            pre[o] = z;
        }
        C[o] = nx_act_forward(act, alpha, z);
    }
}

// nx_matmul_mid_<ta><tb>: for problems with too few 128x128 tiles to fill the GPU but more
// outputs than one-per-thread blocks serve well. A 128-thread block computes a 32x32 tile of C;
// each thread owns a 2x4 register tile (rows ty*2+{0,1}, columns tx*4+{0..3}), so per k step it
// makes two vector reads from shared memory for 8 FFMAs (the small kernel reads 2 values per
// FFMA and is bound by shared-memory bandwidth). k-tiles of 32 are loaded with coalesced global reads whatever
// the transposes, and the next tile is fetched into registers while the current one is
// multiplied. Same arithmetic as every other variant: one accumulator per output, p increasing,
// the last tile stopping at k (rule 2b).
#define NX_MID_BM 32
#define NX_MID_BN 32
#define NX_MID_BK 32
#define NX_MID_THREADS 128
#define NX_MID_LOADS (NX_MID_BM * NX_MID_BK / NX_MID_THREADS)

template <bool AT, bool BT>
__device__ __forceinline__ void nx_matmul_mid(int m, int n, int k, const float *__restrict__ A,
                                              const float *__restrict__ B, float *__restrict__ C,
                                              const float *__restrict__ bias,
                                              float *__restrict__ pre, int act, float alpha) {
    // Padded rows: the transposing stores spread over banks (at most 2- and 4-way), and the
    // rows stay 8- and 16-byte aligned for the vector reads of the inner loop.
    __shared__ __align__(16) float As[NX_MID_BK][NX_MID_BM + 2];
    __shared__ __align__(16) float Bs[NX_MID_BK][NX_MID_BN + 4];
    const int tid = threadIdx.x;
    const int tx = tid & 7;  // column group: columns tx*4 .. tx*4+3
    const int ty = tid >> 3; // row pair: rows ty*2, ty*2+1
    const int bm = blockIdx.y * NX_MID_BM;
    const int bn = blockIdx.x * NX_MID_BN;
    float ra[NX_MID_LOADS];
    float rb[NX_MID_LOADS];
    // Element q of this thread's share of a tile: consecutive threads read consecutive
    // addresses of the operand's storage order.
    auto load = [&](int kt) {
#pragma unroll
        for (int q = 0; q < NX_MID_LOADS; ++q) {
            const int idx = tid + q * NX_MID_THREADS;
            if (!AT) { // A[i*k + p]: p fastest
                const int i = bm + idx / NX_MID_BK, p = kt + idx % NX_MID_BK;
                ra[q] = (i < m && p < k) ? A[(size_t)i * k + p] : 0.0f;
            } else { // A[p*m + i]: i fastest
                const int p = kt + idx / NX_MID_BM, i = bm + idx % NX_MID_BM;
                ra[q] = (i < m && p < k) ? A[(size_t)p * m + i] : 0.0f;
            }
            if (!BT) { // B[p*n + j]: j fastest
                const int p = kt + idx / NX_MID_BN, j = bn + idx % NX_MID_BN;
                rb[q] = (p < k && j < n) ? B[(size_t)p * n + j] : 0.0f;
            } else { // B[j*k + p]: p fastest
                const int j = bn + idx / NX_MID_BK, p = kt + idx % NX_MID_BK;
                rb[q] = (p < k && j < n) ? B[(size_t)j * k + p] : 0.0f;
            }
        }
    };
    auto store = [&]() {
#pragma unroll
        for (int q = 0; q < NX_MID_LOADS; ++q) {
            const int idx = tid + q * NX_MID_THREADS;
            if (!AT) {
                As[idx % NX_MID_BK][idx / NX_MID_BK] = ra[q];
            } else {
                As[idx / NX_MID_BM][idx % NX_MID_BM] = ra[q];
            }
            if (!BT) {
                Bs[idx / NX_MID_BN][idx % NX_MID_BN] = rb[q];
            } else {
                Bs[idx % NX_MID_BK][idx / NX_MID_BK] = rb[q];
            }
        }
    };
    float acc[2][4];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            acc[i][j] = 0.0f;
        }
    }
    auto step = [&](int p) {
        const float2 a = *reinterpret_cast<const float2 *>(&As[p][ty * 2]);
        const float4 b4 = *reinterpret_cast<const float4 *>(&Bs[p][tx * 4]);
        const float a0 = a.x, a1 = a.y;
        const float b[4] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            acc[0][j] = fmaf(a0, b[j], acc[0][j]);
            acc[1][j] = fmaf(a1, b[j], acc[1][j]);
        }
    };
    const int ntiles = (k + NX_MID_BK - 1) / NX_MID_BK;
    if (ntiles > 0) {
        load(0);
    }
    for (int t = 0; t < ntiles; ++t) {
        store();
        __syncthreads();
        if (t + 1 < ntiles) {
            load((t + 1) * NX_MID_BK); // in flight while this tile is multiplied
        }
        const int valid = k - t * NX_MID_BK; // terms of this tile inside [0, k)
        if (valid >= NX_MID_BK) {
#pragma unroll
            for (int p = 0; p < NX_MID_BK; ++p) {
                step(p);
            }
        } else {
            for (int p = 0; p < valid; ++p) { // rule 2b: padding never enters acc
                step(p);
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int row = bm + ty * 2 + i;
        if (row < m) {
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int col = bn + tx * 4 + j;
                if (col < n) {
                    const float z = bias != nullptr ? acc[i][j] + bias[col] : acc[i][j];
                    const size_t o = (size_t)row * n + col;
                    if (pre != nullptr) {
                        pre[o] = z;
                    }
                    C[o] = nx_epilogue_act(act, alpha, z);
                }
            }
        }
    }
}

#define NX_MATMUL_ENTRY(NAME, FN, AT, BT, BOUNDS)                                               \
    extern "C" __global__ void __launch_bounds__(BOUNDS)                                        \
        NAME(int m, int n, int k, const float *A, const float *B, float *C, const float *bias,  \
             float *pre, int act, float alpha) {                                                \
        FN<AT, BT>(m, n, k, A, B, C, bias, pre, act, alpha);                                    \
    }

NX_MATMUL_ENTRY(nx_matmul_small_nn, nx_matmul_one, false, false, 256)
NX_MATMUL_ENTRY(nx_matmul_small_nt, nx_matmul_one, false, true, 256)
NX_MATMUL_ENTRY(nx_matmul_small_tn, nx_matmul_one, true, false, 256)
NX_MATMUL_ENTRY(nx_matmul_small_tt, nx_matmul_one, true, true, 256)
NX_MATMUL_ENTRY(nx_matmul_mid_nn, nx_matmul_mid, false, false, NX_MID_THREADS)
NX_MATMUL_ENTRY(nx_matmul_mid_nt, nx_matmul_mid, false, true, NX_MID_THREADS)
NX_MATMUL_ENTRY(nx_matmul_mid_tn, nx_matmul_mid, true, false, NX_MID_THREADS)
NX_MATMUL_ENTRY(nx_matmul_mid_tt, nx_matmul_mid, true, true, NX_MID_THREADS)
