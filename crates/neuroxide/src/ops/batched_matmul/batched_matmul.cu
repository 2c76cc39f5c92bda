// Strided batched matmul (ops/batched_matmul/mod.rs): C[b] = act(op(A[b]) . op(B[b]) + bias[b]).
//
// Every output (b, i, j) has ONE f32 accumulator that starts at 0 and walks p = 0, 1, ..., k-1
// with acc = fmaf(A[i,p], B[p,j], acc): the exact matmul's order. A 256-thread block computes a
// 64x64 tile of C for one batch entry (grid.z walks the batch); each thread owns a 4x4 register
// tile (rows ty + 16q, columns tx + 16q). k is staged through shared memory 16 values at a time;
// the zero fill past k in the last tile is never multiplied in (PARITY rule 2b): the tile's loop
// stops at k.

#define NX_BMM_T 64
#define NX_BMM_K 16

template <bool AT, bool BT>
__device__ __forceinline__ void nx_bmm(int m, int n, int k, u64 batch, const float *__restrict__ A,
                                       u64 sa, const float *__restrict__ B, u64 sb,
                                       float *__restrict__ C, const float *__restrict__ bias,
                                       u64 sbias, float *__restrict__ pre, int act, float alpha) {
    __shared__ float As[NX_BMM_K][NX_BMM_T + 1];
    __shared__ float Bs[NX_BMM_K][NX_BMM_T + 1];
    const int tid = threadIdx.x;
    const int tx = tid & 15;
    const int ty = tid >> 4;
    const int bm = blockIdx.y * NX_BMM_T;
    const int bn = blockIdx.x * NX_BMM_T;
    for (u64 b = blockIdx.z; b < batch; b += gridDim.z) {
        const float *Ab = A + b * sa;
        const float *Bb = B + b * sb;
        float acc[4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                acc[i][j] = 0.0f;
            }
        }
        for (int kt = 0; kt < k; kt += NX_BMM_K) {
            // Loads run along each operand's contiguous axis.
#pragma unroll
            for (int e = tid; e < NX_BMM_T * NX_BMM_K; e += 256) {
                const int ar = AT ? e % NX_BMM_T : e / NX_BMM_K;
                const int ap = AT ? e / NX_BMM_T : e % NX_BMM_K;
                const int i = bm + ar;
                const int p = kt + ap;
                float av = 0.0f;
                if (i < m && p < k) {
                    av = AT ? Ab[(size_t)p * m + i] : Ab[(size_t)i * k + p];
                }
                As[ap][ar] = av;
                const int bc = BT ? e / NX_BMM_K : e % NX_BMM_T;
                const int bp = BT ? e % NX_BMM_K : e / NX_BMM_T;
                const int j = bn + bc;
                const int q = kt + bp;
                float bv = 0.0f;
                if (j < n && q < k) {
                    bv = BT ? Bb[(size_t)j * k + q] : Bb[(size_t)q * n + j];
                }
                Bs[bp][bc] = bv;
            }
            __syncthreads();
            const int valid = k - kt < NX_BMM_K ? k - kt : NX_BMM_K;
            for (int p = 0; p < valid; ++p) {
                float av[4];
                float bv[4];
#pragma unroll
                for (int q = 0; q < 4; ++q) {
                    av[q] = As[p][ty + 16 * q];
                    bv[q] = Bs[p][tx + 16 * q];
                }
#pragma unroll
                for (int i = 0; i < 4; ++i) {
#pragma unroll
                    for (int j = 0; j < 4; ++j) {
                        acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
                    }
                }
            }
            __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int row = bm + ty + 16 * i;
            if (row >= m) {
                continue;
            }
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int col = bn + tx + 16 * j;
                if (col < n) {
                    const float z = bias != nullptr ? acc[i][j] + bias[b * sbias + col] : acc[i][j];
                    const size_t o = ((size_t)b * m + row) * n + col;
                    if (pre != nullptr) {
                        pre[o] = z;
                    }
                    C[o] = nx_act_forward(act, alpha, z);
                }
            }
        }
    }
}

#define NX_BMM_KERNEL(name, at, bt)                                                               \
    extern "C" __global__ void __launch_bounds__(256)                                             \
        name(int m, int n, int k, u64 batch, const float *A, u64 sa, const float *B, u64 sb,      \
             float *C, const float *bias, u64 sbias, float *pre, int act, float alpha) {          \
        nx_bmm<at, bt>(m, n, k, batch, A, sa, B, sb, C, bias, sbias, pre, act, alpha);            \
    }

NX_BMM_KERNEL(nx_batched_matmul_nn, false, false)
NX_BMM_KERNEL(nx_batched_matmul_nt, false, true)
NX_BMM_KERNEL(nx_batched_matmul_tn, true, false)
NX_BMM_KERNEL(nx_batched_matmul_tt, true, true)
