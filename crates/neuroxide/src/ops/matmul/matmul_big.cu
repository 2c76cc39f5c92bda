// nx_matmul_big_<ta><tb>: the large-shape kernel, same contract and same bits as nx_matmul_<ta><tb>
// (matmul.cu, compiled in the same unit). Reduction order of every output (i, j): ONE f32
// accumulator, 0 at the start, acc = fmaf(A[i,p], B[p,j], acc) for p = 0, 1, ..., k-1 in
// increasing order (the 16 terms of a k-tile in order, tiles in order, the last tile stopping
// at k: zero-filled padding never enters, PARITY rule 2b); then the epilogue of matmul.cu.
//
// Layout: a 256-thread block computes a 128x128 tile of C; each thread owns an 8x8 register tile
// (rows ty*4+{0..3} and 64+ty*4+{0..3}, likewise columns with tx). Differences from the classic
// kernel, none of which touches the arithmetic:
//  - k-tiles of 16 (half the barriers and pipeline bubbles per FMA), double-buffered shared
//    memory (2 x 2 x 16 x 132 floats = 33 KiB), next tile's global loads in flight meanwhile;
//  - 16-byte global loads when the tile is interior and the operand's leading dimension is a
//    multiple of 4 (block-uniform test), guarded scalar loads otherwise;
//  - operands stored k-major ("col" layout: A transposed, B not) go to shared memory with one
//    16-byte store, no transposition; row-major ones with scalar stores free of bank conflicts;
//  - warps cover 4x8 (ty, tx) thread tiles, so a warp's inner-loop shared reads are 4 distinct
//    A float4 and 8 distinct B float4 (one wavefront each) instead of 2 and 16.
#define NX_BIG_BK 16
#define NX_BIG_PAD 4
#define NX_BIG_LD (NX_BM + NX_BIG_PAD)
#define NX_BIG_VEC (NX_BM * NX_BIG_BK / 4 / 256) // float4 per thread per operand and tile

// Which float4 of a 128 x 16 operand tile thread tid moves as its q-th: tile row r, first k p.
// KMAJOR (4 consecutive rows r..r+3 at one p): k-row p = idx/32, rows from (idx%32)*4; a warp
// reads 512 contiguous bytes and stores one 16-byte row piece per thread.
// Row-major (4 consecutive k p..p+3 of one row r): a warp takes 16 rows and two k-chunks of
// them (32 contiguous bytes per row: whole sectors), so the transposing scalar stores
// S[p+c][r] of a warp fall on 32 distinct banks (row stride 132 = 4 mod 32).
static_assert(NX_BIG_VEC == 2, "nx_big_slot's row-major mapping covers 2 float4 per thread");
template <bool KMAJOR>
__device__ __forceinline__ void nx_big_slot(int tid, int q, int &r, int &p) {
    if (KMAJOR) {
        const int idx = tid + q * 256;
        p = idx >> 5;
        r = (idx & 31) * 4;
    } else {
        r = (tid >> 5) * 16 + (tid & 15);
        p = (q * 2 + ((tid >> 4) & 1)) * 4;
    }
}

// Loads one operand's 128 x 16 tile (rows r0.., k from kt) into registers and stores it to
// shared memory as S[p][r]. KMAJOR: the operand is stored k-major (element (r, p) at
// src[p * ld + r], ld = the row count); else row-major along k (src[r * ld + p], ld = k).
template <bool KMAJOR>
__device__ __forceinline__ void nx_big_load(const float *__restrict__ src, int ld, int rows, int k,
                                            int r0, int kt, int tid, float4 (&reg)[NX_BIG_VEC]) {
    // Vector path: the whole tile inside the operand and 16-byte aligned rows (block-uniform).
    const bool vec = (ld & 3) == 0 && ((size_t)src & 15) == 0 && r0 + NX_BM <= rows &&
                     kt + NX_BIG_BK <= k;
#pragma unroll
    for (int q = 0; q < NX_BIG_VEC; ++q) {
        int tr, tp; // this float4's tile row and first k
        nx_big_slot<KMAJOR>(tid, q, tr, tp);
        const int r = r0 + tr;
        const int p = kt + tp;
        if (vec) {
            const size_t o = KMAJOR ? (size_t)p * ld + r : (size_t)r * ld + p;
            reg[q] = *reinterpret_cast<const float4 *>(src + o);
        } else {
            float v[4];
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                const int rr = KMAJOR ? r + c : r;
                const int pp = KMAJOR ? p : p + c;
                v[c] = (rr < rows && pp < k) ? src[KMAJOR ? (size_t)pp * ld + rr : (size_t)rr * ld + pp]
                                             : 0.0f;
            }
            reg[q] = make_float4(v[0], v[1], v[2], v[3]);
        }
    }
}

template <bool KMAJOR>
__device__ __forceinline__ void nx_big_store(float (*S)[NX_BIG_LD], int tid,
                                             const float4 (&reg)[NX_BIG_VEC]) {
#pragma unroll
    for (int q = 0; q < NX_BIG_VEC; ++q) {
        int r, p;
        nx_big_slot<KMAJOR>(tid, q, r, p);
        if (KMAJOR) {
            *reinterpret_cast<float4 *>(&S[p][r]) = reg[q];
        } else {
            S[p + 0][r] = reg[q].x;
            S[p + 1][r] = reg[q].y;
            S[p + 2][r] = reg[q].z;
            S[p + 3][r] = reg[q].w;
        }
    }
}

template <bool AT, bool BT>
__device__ __forceinline__ void nx_matmul_big(int m, int n, int k, const float *__restrict__ A,
                                              const float *__restrict__ B, float *__restrict__ C,
                                              const float *__restrict__ bias,
                                              float *__restrict__ pre, int act, float alpha) {
    __shared__ __align__(16) float As[2][NX_BIG_BK][NX_BIG_LD];
    __shared__ __align__(16) float Bs[2][NX_BIG_BK][NX_BIG_LD];

    const int tid = threadIdx.x;
    const int warp = tid >> 5;
    const int lane = tid & 31;
    const int ty = (warp >> 1) * 4 + (lane >> 3); // 0..15
    const int tx = (warp & 1) * 8 + (lane & 7);   // 0..15
    const int bm = blockIdx.y * NX_BM;
    const int bn = blockIdx.x * NX_BN;
    // op(A) is m x k: k-major when transposed (stored k x m). op(B)^T is n x k: k-major when B
    // is not transposed (stored k x n).
    const int lda = AT ? m : k;
    const int ldb = BT ? k : n;

    float4 ra[NX_BIG_VEC];
    float4 rb[NX_BIG_VEC];
    auto load = [&](int kt) {
        nx_big_load<AT>(A, lda, m, k, bm, kt, tid, ra);
        nx_big_load<!BT>(B, ldb, n, k, bn, kt, tid, rb);
    };
    auto store = [&](int buf) {
        nx_big_store<AT>(As[buf], tid, ra);
        nx_big_store<!BT>(Bs[buf], tid, rb);
    };

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            acc[i][j] = 0.0f;
        }
    }

    const int ntiles = (k + NX_BIG_BK - 1) / NX_BIG_BK;
    if (ntiles > 0) {
        load(0);
        store(0);
    }
    __syncthreads();
    for (int t = 0; t < ntiles; ++t) {
        const int cur = t & 1;
        if (t + 1 < ntiles) {
            load((t + 1) * NX_BIG_BK); // in flight while tile t is multiplied
        }
        const int valid = k - t * NX_BIG_BK; // terms of this tile inside [0, k)
        if (valid >= NX_BIG_BK) {
#pragma unroll
            for (int p = 0; p < NX_BIG_BK; ++p) {
                nx_tile_step(As[cur][p], Bs[cur][p], tx, ty, acc);
            }
        } else {
            for (int p = 0; p < valid; ++p) { // rule 2b: padding never enters acc
                nx_tile_step(As[cur][p], Bs[cur][p], tx, ty, acc);
            }
        }
        if (t + 1 < ntiles) {
            store(cur ^ 1); // read last in iteration t-1, before its barrier
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int row = bm + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
        if (row < m) {
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const int col = bn + (j < 4 ? tx * 4 + j : 64 + tx * 4 + (j - 4));
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

NX_MATMUL_ENTRY(nx_matmul_big_nn, nx_matmul_big, false, false, 256)
NX_MATMUL_ENTRY(nx_matmul_big_nt, nx_matmul_big, false, true, 256)
NX_MATMUL_ENTRY(nx_matmul_big_tn, nx_matmul_big, true, false, 256)
NX_MATMUL_ENTRY(nx_matmul_big_tt, nx_matmul_big, true, true, 256)
