// Warp-level shims for the attention kernels on top of emu.h (scripts/cuda-emu/run-attention.sh):
// __syncwarp as a barrier of the 32 threads of a warp, and the two warp helpers the attention
// kernels call (common.cuh's nx_warp_row_max, chunked.cuh's nx_warp_chunked_if) as their
// sequential twins: every lane folds the whole row itself in the helper's order. The real
// helpers hand every lane the same in-order fold through shuffles, so the result is the same
// whenever the row does not change during the call (both kernels __syncwarp before and after).
// nx_exp stands in as expf: old and new kernels call the same function on the same values, and
// the comparison is about the order of the sums, not the exp.
#pragma once
#include "emu.h"
#include <memory>
#define __launch_bounds__(...)
#define NX_NEG_INF (-INFINITY)
#define NX_FULL_MASK 0xffffffffu
#define NX_BLOCK_DROPOUT_STEP 0
inline std::vector<std::unique_ptr<std::barrier<>>> g_warp_bars;
inline void __syncwarp() { g_warp_bars[threadIdx.x / 32]->arrive_and_wait(); }
inline float nx_exp(float x) { return expf(x); }
inline unsigned int __float_as_uint(float x) { unsigned int u; memcpy(&u, &x, 4); return u; }
inline float nx_uniform01(unsigned int) { return 0.0f; }
inline void nx_philox_words(unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned *) {}
#define NX_WARP_ROWS(row, lane, rows)                                                           \
    const unsigned int lane = threadIdx.x & 31;                                                 \
    for (u64 row = ((u64)blockIdx.x * blockDim.x + threadIdx.x) / 32; row < (rows);             \
         row += ((u64)gridDim.x * blockDim.x) / 32)
inline float nx_warp_row_max(const float *xr, u64 cols, unsigned int) {
    float mx = -INFINITY;
    for (u64 c = 0; c < cols; ++c)
        if (xr[c] > mx) mx = xr[c];
    return mx;
}
// chunked.cuh's nx_warp_chunked_if, with the shuffles replaced by the lane's own evaluation.
template <typename Keep, typename Pair, typename Fold>
float emu_warp_chunked_if(u64 n, unsigned int, Keep keep, Pair pair, Fold fold) {
    float total = 0.0f, acc = 0.0f;
    for (u64 i = 0; i < n; ++i) {
        if (i > 0 && i % NX_CHUNK == 0) {
            total = i == NX_CHUNK ? acc : total + acc;
            acc = 0.0f;
        }
        if (keep(i)) {
            float a = 0.0f, b = 0.0f;
            pair(i, a, b);
            acc = fold(acc, a, b);
        }
    }
    return n <= NX_CHUNK ? acc : total + acc;
}
// A block launch with warp barriers (block a multiple of 32 threads).
inline void emu_launch_warps(dim3 grid, dim3 block, const std::function<void()> &fn) {
    g_warp_bars.clear();
    for (unsigned w = 0; w < block.x / 32; ++w) g_warp_bars.emplace_back(new std::barrier<>(32));
    emu_launch(grid, block, true, fn);
}
