// nx_matmul_big_<BM>x<BN>_<ta><tb>: the register-tiled kernels for large problems, one template
// in four block-tile shapes (128x128, 128x96, 64x96, 64x64); same contract and same bits as
// every kernel of matmul.cu (compiled in the same unit). ops/matmul/mod.rs picks the shape that
// fills the GPU best (a wave model: several shapes exist because a tile count just above a
// multiple of the GPU's block slots wastes most of a wave).
//
// Reduction order of every output (i, j), whatever the tile shape: ONE f32 accumulator, 0 at the
// start, acc = fmaf(A[i,p], B[p,j], acc) for p = 0, 1, ..., k-1 in increasing order (the 16
// terms of a k-tile in order, tiles in order, the last tile stopping at k: zero-filled padding
// never enters, PARITY rule 2b); then the epilogue of matmul.cu. The tile shape only decides
// which thread owns which outputs.
//
// Layout: a 256-thread block computes a BM x BN tile of C as a 16 x 16 grid of threads; each
// thread owns a TM x TN register tile, TM = BM/16 rows and TN = BN/16 columns, read from shared
// memory as vectors of V = 4 floats (TM or TN of 8 or 4) or V = 2 (6): rows g*16*V + ty*V + e
// for group g < TM/V and e < V (likewise columns with tx). With 128 that is rows ty*4+{0..3}
// and 64+ty*4+{0..3}. Memory, none of which touches the arithmetic:
//  - k-tiles of 16, double-buffered shared memory (2 x 16 x (BM+4 + BN+4) floats: 33 KiB for
//    128x128, 29 KiB for 128x96, 25 KiB for 64x96, 17 KiB for 64x64), the next tile's global
//    loads in flight while the current one is multiplied;
//  - 16-byte global loads when the tile is interior and the operand's leading dimension is a
//    multiple of 4 (block-uniform test), guarded scalar loads otherwise;
//  - operands stored k-major ("col" layout: A transposed, B not) go to shared memory with one
//    16-byte store, no transposition; row-major ones with scalar stores free of bank conflicts;
//  - warps cover 4x8 (ty, tx) thread tiles, so a warp's inner-loop shared reads are 4 distinct
//    A vectors and 8 distinct B vectors (one wavefront each).
#define NX_BIG_BK 16
#define NX_BIG_THREADS 256
#define NX_BIG_PAD 4 // row stride R + 4 = 4 (mod 32) for R in {128, 96, 64}: see nx_big_slot

// Which float4 of an R x 16 operand tile thread tid moves as its q-th (R in {128, 96, 64}): tile
// row r, first k p; false when the tile has no q-th float4 for it (R = 96: 384 float4 for 512
// slots; the test is warp-uniform).
// KMAJOR (4 consecutive rows r..r+3 at one p): k-row p = idx/(R/4), rows from (idx%(R/4))*4; a
// warp reads contiguous rows of the operand and stores one 16-byte piece per thread.
// Row-major (4 consecutive k p..p+3 of one row r): a warp takes 16 rows and two k-chunks of them
// (32 contiguous bytes per row: whole sectors), warps cycling over the R/16 row groups, then the
// next two k-chunks; the transposing scalar stores S[p+c][r] of a warp fall on 32 distinct banks
// (row stride R+4 = 4 mod 32, so the two k-chunks 4 rows apart are 16 banks apart).
template <int R, bool KMAJOR>
__device__ __forceinline__ bool nx_big_slot(int tid, int q, int &r, int &p) {
    static_assert(R % 16 == 0 && (R + NX_BIG_PAD) % 32 == 4, "nx_big_slot's bank-free layout");
    const int idx = tid + q * NX_BIG_THREADS;
    if (KMAJOR) {
        p = idx / (R / 4);
        r = (idx % (R / 4)) * 4;
    } else {
        const int w = idx >> 5; // which 32-float4 piece: row group w % (R/16), k-chunks from w / (R/16)
        r = (w % (R / 16)) * 16 + (idx & 15);
        p = ((w / (R / 16)) * 2 + ((idx >> 4) & 1)) * 4;
    }
    return idx < R * NX_BIG_BK / 4;
}

// Float4 per thread per operand tile of R rows.
#define NX_BIG_VEC(R) (((R) * NX_BIG_BK / 4 + NX_BIG_THREADS - 1) / NX_BIG_THREADS)

// Loads one operand's R x 16 tile (rows r0.., k from kt) into registers. KMAJOR: the operand is
// stored k-major (element (r, p) at src[p * ld + r], ld = the row count); else row-major along
// k (src[r * ld + p], ld = k).
template <int R, bool KMAJOR>
__device__ __forceinline__ void nx_big_load(const float *__restrict__ src, int ld, int rows, int k,
                                            int r0, int kt, int tid,
                                            float4 (&reg)[NX_BIG_VEC(R)]) {
    // Vector path: the whole tile inside the operand and 16-byte aligned rows (block-uniform).
    const bool vec = (ld & 3) == 0 && ((size_t)src & 15) == 0 && r0 + R <= rows &&
                     kt + NX_BIG_BK <= k;
#pragma unroll
    for (int q = 0; q < NX_BIG_VEC(R); ++q) {
        int tr, tp; // this float4's tile row and first k
        if (!nx_big_slot<R, KMAJOR>(tid, q, tr, tp)) {
            continue;
        }
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

// Stores the registers of nx_big_load to shared memory as S[p][r] (row stride R + 4).
template <int R, bool KMAJOR>
__device__ __forceinline__ void nx_big_store(float *S, int tid, const float4 (&reg)[NX_BIG_VEC(R)]) {
    constexpr int LD = R + NX_BIG_PAD;
#pragma unroll
    for (int q = 0; q < NX_BIG_VEC(R); ++q) {
        int r, p;
        if (!nx_big_slot<R, KMAJOR>(tid, q, r, p)) {
            continue;
        }
        if (KMAJOR) {
            *reinterpret_cast<float4 *>(&S[p * LD + r]) = reg[q];
        } else {
            S[(p + 0) * LD + r] = reg[q].x;
            S[(p + 1) * LD + r] = reg[q].y;
            S[(p + 2) * LD + r] = reg[q].z;
            S[(p + 3) * LD + r] = reg[q].w;
        }
    }
}

// Vector width of a thread's T values along one tile edge: float4 for 8 or 4, float2 for 6.
template <int T> struct NxBigVec {
    static constexpr int V = T % 4 == 0 ? 4 : 2;
    static_assert(T % V == 0, "thread tile edge of 4, 6 or 8");
};

// Index in the tile edge of thread t's value e (0 <= e < T), the layout of the header comment.
template <int T> __device__ __forceinline__ int nx_big_pos(int t, int e) {
    constexpr int V = NxBigVec<T>::V;
    return (e / V) * 16 * V + t * V + e % V;
}

// Thread t's T values of one k-row of a shared tile.
template <int T> __device__ __forceinline__ void nx_big_frag(const float *row, int t, float (&v)[T]) {
    constexpr int V = NxBigVec<T>::V;
#pragma unroll
    for (int g = 0; g < T / V; ++g) {
        const float *s = row + g * 16 * V + t * V;
        if constexpr (V == 4) {
            const float4 x = *reinterpret_cast<const float4 *>(s);
            v[g * 4 + 0] = x.x;
            v[g * 4 + 1] = x.y;
            v[g * 4 + 2] = x.z;
            v[g * 4 + 3] = x.w;
        } else {
            const float2 x = *reinterpret_cast<const float2 *>(s);
            v[g * 2 + 0] = x.x;
            v[g * 2 + 1] = x.y;
        }
    }
}

// One k step of a thread's TM x TN register tile: acc[i][j] = fmaf(a[i], b[j], acc[i][j]).
template <int TM, int TN>
__device__ __forceinline__ void nx_big_step(const float *arow, const float *brow, int tx, int ty,
                                            float (&acc)[TM][TN]) {
    float av[TM], bv[TN];
    nx_big_frag<TM>(arow, ty, av);
    nx_big_frag<TN>(brow, tx, bv);
#pragma unroll
    for (int i = 0; i < TM; ++i) {
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
    }
}

template <int BM, int BN, bool AT, bool BT>
__device__ __forceinline__ void nx_matmul_big(int m, int n, int k, const float *__restrict__ A,
                                              const float *__restrict__ B, float *__restrict__ C,
                                              const float *__restrict__ bias,
                                              float *__restrict__ pre, int act, float alpha) {
    constexpr int TM = BM / 16;
    constexpr int TN = BN / 16;
    constexpr int LDA = BM + NX_BIG_PAD;
    constexpr int LDB = BN + NX_BIG_PAD;
    __shared__ __align__(16) float As[2][NX_BIG_BK * LDA];
    __shared__ __align__(16) float Bs[2][NX_BIG_BK * LDB];

    const int tid = threadIdx.x;
    const int warp = tid >> 5;
    const int lane = tid & 31;
    const int ty = (warp >> 1) * 4 + (lane >> 3); // 0..15
    const int tx = (warp & 1) * 8 + (lane & 7);   // 0..15
    const int bm = blockIdx.y * BM;
    const int bn = blockIdx.x * BN;
    // op(A) is m x k: k-major when transposed (stored k x m). op(B)^T is n x k: k-major when B
    // is not transposed (stored k x n).
    const int lda = AT ? m : k;
    const int ldb = BT ? k : n;

    float4 ra[NX_BIG_VEC(BM)];
    float4 rb[NX_BIG_VEC(BN)];
    auto load = [&](int kt) {
        nx_big_load<BM, AT>(A, lda, m, k, bm, kt, tid, ra);
        nx_big_load<BN, !BT>(B, ldb, n, k, bn, kt, tid, rb);
    };
    auto store = [&](int buf) {
        nx_big_store<BM, AT>(As[buf], tid, ra);
        nx_big_store<BN, !BT>(Bs[buf], tid, rb);
    };

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i) {
#pragma unroll
        for (int j = 0; j < TN; ++j) {
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
                nx_big_step<TM, TN>(&As[cur][p * LDA], &Bs[cur][p * LDB], tx, ty, acc);
            }
        } else {
            for (int p = 0; p < valid; ++p) { // rule 2b: padding never enters acc
                nx_big_step<TM, TN>(&As[cur][p * LDA], &Bs[cur][p * LDB], tx, ty, acc);
            }
        }
        if (t + 1 < ntiles) {
            store(cur ^ 1); // read last in iteration t-1, before its barrier
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int row = bm + nx_big_pos<TM>(ty, i);
        if (row < m) {
#pragma unroll
            for (int j = 0; j < TN; ++j) {
                const int col = bn + nx_big_pos<TN>(tx, j);
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

// MINB: the blocks per SM that ops/matmul/mod.rs's wave model assumes (TILINGS there): the
// launch bound caps the registers at 65536 / (256 * MINB) per thread so that many fit; the
// shared memory (at most 33 KiB a block) allows it for every shape.
#define NX_MATMUL_BIG_ENTRY(NAME, BM, BN, MINB, AT, BT)                                          \
    extern "C" __global__ void __launch_bounds__(NX_BIG_THREADS, MINB)                          \
        NAME(int m, int n, int k, const float *A, const float *B, float *C, const float *bias,  \
             float *pre, int act, float alpha) {                                                \
        nx_matmul_big<BM, BN, AT, BT>(m, n, k, A, B, C, bias, pre, act, alpha);                 \
    }
#define NX_MATMUL_BIG_SHAPE(BM, BN, MINB)                                                       \
    NX_MATMUL_BIG_ENTRY(nx_matmul_big_##BM##x##BN##_nn, BM, BN, MINB, false, false)              \
    NX_MATMUL_BIG_ENTRY(nx_matmul_big_##BM##x##BN##_nt, BM, BN, MINB, false, true)               \
    NX_MATMUL_BIG_ENTRY(nx_matmul_big_##BM##x##BN##_tn, BM, BN, MINB, true, false)               \
    NX_MATMUL_BIG_ENTRY(nx_matmul_big_##BM##x##BN##_tt, BM, BN, MINB, true, true)

NX_MATMUL_BIG_SHAPE(128, 128, 2)
NX_MATMUL_BIG_SHAPE(128, 96, 2)
NX_MATMUL_BIG_SHAPE(64, 96, 3)
NX_MATMUL_BIG_SHAPE(64, 64, 4)
