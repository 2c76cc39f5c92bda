// Helpers shared by every kernel family (prepended after math.cuh and the constant prelude).

typedef unsigned long long u64;

#define NX_FULL_MASK 0xffffffffu
#define NX_NEG_INF __uint_as_float(NX_NEG_INF_BITS)

// Grid-stride loop over 64-bit element indices.
#define NX_GRID_STRIDE(i, n) \
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (u64)gridDim.x * blockDim.x)

// Warp-per-row loop: `row` walks the rows assigned to this warp; `lane` is the lane index.
#define NX_WARP_ROWS(row, lane, rows)                                                           \
    const unsigned int lane = threadIdx.x & 31;                                                 \
    for (u64 row = ((u64)blockIdx.x * blockDim.x + threadIdx.x) / 32; row < (rows);             \
         row += ((u64)gridDim.x * blockDim.x) / 32)

// Row max of a warp-owned row, walking j = 0, 1, ... in order with `if (v > mx) mx = v`
// (the CPU's loop, including its handling of NaN and of signed zeros). Every lane returns it.
__device__ __forceinline__ float nx_warp_row_max(const float *xr, u64 cols, unsigned int lane) {
    float mx = NX_NEG_INF;
    for (u64 c0 = 0; c0 < cols; c0 += 32) {
        const float v = c0 + lane < cols ? xr[c0 + lane] : 0.0f;
        const unsigned int cnt = cols - c0 < 32 ? (unsigned int)(cols - c0) : 32u;
        for (unsigned int q = 0; q < cnt; ++q) {
            const float w = __shfl_sync(NX_FULL_MASK, v, q);
            if (w > mx) {
                mx = w;
            }
        }
    }
    return mx;
}

// s = sum_j exp(x[j] - mx), j increasing, one accumulator from 0. The exps are computed in
// parallel, the additions in order (every lane performs the same chain).
__device__ __forceinline__ float nx_warp_row_sumexp(const float *xr, u64 cols, float mx,
                                                    unsigned int lane) {
    float s = 0.0f;
    for (u64 c0 = 0; c0 < cols; c0 += 32) {
        const float e = c0 + lane < cols ? nx_exp(xr[c0 + lane] - mx) : 0.0f;
        const unsigned int cnt = cols - c0 < 32 ? (unsigned int)(cols - c0) : 32u;
        for (unsigned int q = 0; q < cnt; ++q) {
            s += __shfl_sync(NX_FULL_MASK, e, q);
        }
    }
    return s;
}

// Dropout's random words: philox4x32_10(counter = [c0, c1, c2, c3], key = [k0, k1]) from
// math.cuh, unpacked into w[0..4] in word order (philox.rs returns [u32; 4] in the same order).
__device__ __forceinline__ void nx_philox_words(unsigned int c0, unsigned int c1, unsigned int c2,
                                                unsigned int c3, unsigned int k0, unsigned int k1,
                                                unsigned int w[4]) {
    const unsigned int counter[4] = {c0, c1, c2, c3};
    const unsigned int key[2] = {k0, k1};
    nx_philox4x32_10(counter, key, w);
}
