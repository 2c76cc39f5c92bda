// The chunked reduction order of PARITY.md rule 2a: the device twin of `ops::reduce::chunked`
// (ops/reduce/mod.rs), prepended to every kernel family so any op can use it.
//
// Split [0, n) into chunks of NX_CHUNK terms (the last may be shorter); each chunk's partial is
// its terms folded in index order from 0.0f (`step(acc, i)` is `acc + x` or `fmaf(a, b, acc)`);
// the total is partial 0, then partials 1, 2, ... added in chunk order. NX_CHUNK is a constant
// of the contract, never a function of the launch.


__device__ __forceinline__ u64 nx_chunks(u64 n) { return (n + NX_CHUNK - 1) / NX_CHUNK; }

// Partial of chunk `c` of an n-term reduction.
template <typename Step>
__device__ __forceinline__ float nx_chunk_partial(u64 n, u64 c, Step step) {
    const u64 end = (c + 1) * NX_CHUNK < n ? (c + 1) * NX_CHUNK : n;
    float acc = 0.0f;
    // Unrolled so the loads of later terms are issued before the earlier additions finish
    // (the additions themselves stay in index order).
#pragma unroll 16
    for (u64 i = c * NX_CHUNK; i < end; ++i) {
        acc = step(acc, i);
    }
    return acc;
}

// Continues a total in chunk order: total + p[0], + p[stride], ... over `count` partials.
// The loads go 8 at a time ahead of their additions (which stay in order), so a long column
// (thousands of chunks, on few threads) waits one memory latency per 8 partials.
__device__ __forceinline__ float nx_sum_partials_from(float total, const float *p, u64 count,
                                                      u64 stride) {
    u64 c = 0;
    for (; c + 8 <= count; c += 8) {
        float v[8];
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            v[k] = p[(c + k) * stride];
        }
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            total = total + v[k];
        }
    }
    for (; c < count; ++c) {
        total = total + p[c * stride];
    }
    return total;
}

// Total of `count` chunk partials stored `stride` apart: p[0], then + p[1], + p[2], ...
__device__ __forceinline__ float nx_sum_partials(const float *p, u64 count, u64 stride) {
    return count > 0 ? nx_sum_partials_from(p[0], p + stride, count - 1, stride) : 0.0f;
}

// The whole reduction on one thread (for short reductions inside a larger kernel).
template <typename Step>
__device__ __forceinline__ float nx_chunked(u64 n, Step step) {
    const u64 chunks = nx_chunks(n);
    float total = 0.0f;
    for (u64 c = 0; c < chunks; ++c) {
        const float p = nx_chunk_partial(n, c, step);
        total = c == 0 ? p : total + p;
    }
    return total;
}

// The chunked order on one warp: lane l computes the term pair of index c0 + l in parallel
// (`pair(i, a, b)`), then every lane folds the pairs in index order (`fold(acc, a, b)` is
// `acc + a` or `fmaf(a, b, acc)`), restarting the partial at each multiple of NX_CHUNK. Every
// lane returns the total. For row reductions of a warp-owned row (LayerNorm, attention).
template <typename Pair, typename Fold>
__device__ __forceinline__ float nx_warp_chunked(u64 n, unsigned int lane, Pair pair, Fold fold) {
    float total = 0.0f;
    float acc = 0.0f;
    for (u64 c0 = 0; c0 < n; c0 += 32) {
        float a = 0.0f;
        float b = 0.0f;
        if (c0 + lane < n) {
            pair(c0 + lane, a, b);
        }
        const unsigned int cnt = n - c0 < 32 ? (unsigned int)(n - c0) : 32u;
        for (unsigned int q = 0; q < cnt; ++q) {
            const u64 i = c0 + q;
            if (i > 0 && i % NX_CHUNK == 0) {
                total = i == NX_CHUNK ? acc : total + acc;
                acc = 0.0f;
            }
            const float aq = __shfl_sync(0xffffffffu, a, q);
            const float bq = __shfl_sync(0xffffffffu, b, q);
            acc = fold(acc, aq, bq);
        }
    }
    return n <= NX_CHUNK ? acc : total + acc;
}

// nx_warp_chunked with a filter: index i enters the fold only when `keep(i)` (evaluated on the
// lane that owns i); a skipped index adds nothing, not a zero (PARITY rule 2b). Chunk
// boundaries stay at multiples of NX_CHUNK of the index, as on the CPU.
template <typename Keep, typename Pair, typename Fold>
__device__ __forceinline__ float nx_warp_chunked_if(u64 n, unsigned int lane, Keep keep, Pair pair,
                                                    Fold fold) {
    float total = 0.0f;
    float acc = 0.0f;
    for (u64 c0 = 0; c0 < n; c0 += 32) {
        float a = 0.0f;
        float b = 0.0f;
        int k = 0;
        if (c0 + lane < n && keep(c0 + lane)) {
            k = 1;
            pair(c0 + lane, a, b);
        }
        const unsigned int cnt = n - c0 < 32 ? (unsigned int)(n - c0) : 32u;
        for (unsigned int q = 0; q < cnt; ++q) {
            const u64 i = c0 + q;
            if (i > 0 && i % NX_CHUNK == 0) {
                total = i == NX_CHUNK ? acc : total + acc;
                acc = 0.0f;
            }
            const float aq = __shfl_sync(0xffffffffu, a, q);
            const float bq = __shfl_sync(0xffffffffu, b, q);
            if (__shfl_sync(0xffffffffu, k, q)) {
                acc = fold(acc, aq, bq);
            }
        }
    }
    return n <= NX_CHUNK ? acc : total + acc;
}
