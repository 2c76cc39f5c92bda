// CUDA shims for running conv.cu on the host: one std::thread per CUDA thread of a block,
// __syncthreads as a std::barrier, __shared__ as static storage (one block at a time).
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>
typedef unsigned long long u64;
struct dim3 { unsigned x = 1, y = 1, z = 1; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) int4 { int x, y, z, w; };
inline int4 make_int4(int a, int b, int c, int d) { return int4{a, b, c, d}; }
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline std::barrier<> *g_bar = nullptr;
inline void emu_sync() { if (g_bar) g_bar->arrive_and_wait(); }
#define __global__
#define __device__
#define __forceinline__ inline
#define __noinline__
#define __restrict__
#define __shared__ static
#define __syncthreads() emu_sync()
#define NX_CHUNK 256ull
#define NX_GRID_STRIDE(i, n) \
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (u64)gridDim.x * blockDim.x)
float __shfl_sync(unsigned, float, unsigned); // declared only (unused templates)
inline float nx_act_forward(int act, float a, float x) {
    return act == 0 ? x : (act == 1 ? (x > 0.0f ? x : 0.0f) : (x > 0.0f ? x : a * x));
}
// Runs fn for every (block, thread). sync=false: sequentially (kernels without __syncthreads);
// sync=true: the threads of one block concurrently, blocks one after the other.
inline void emu_launch(dim3 grid, dim3 block, bool sync, const std::function<void()> &fn) {
    gridDim = grid;
    blockDim = block;
    const unsigned nt = block.x;
    if (!sync) {
        for (unsigned z = 0; z < grid.z; ++z)
            for (unsigned y = 0; y < grid.y; ++y)
                for (unsigned x = 0; x < grid.x; ++x)
                    for (unsigned t = 0; t < nt; ++t) {
                        blockIdx = {x, y, z};
                        threadIdx = {t, 0, 0};
                        fn();
                    }
        return;
    }
    std::barrier<> bar(nt);
    g_bar = &bar;
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < nt; ++t) {
        ts.emplace_back([&, t] {
            threadIdx = {t, 0, 0};
            for (unsigned z = 0; z < grid.z; ++z)
                for (unsigned y = 0; y < grid.y; ++y)
                    for (unsigned x = 0; x < grid.x; ++x) {
                        blockIdx = {x, y, z};
                        fn();
                        bar.arrive_and_wait(); // the next block may reuse the shared arrays
                    }
        });
    }
    for (auto &t : ts) t.join();
    g_bar = nullptr;
}

// Test inputs shared by the harnesses. mode 0: plain values in (-2, 2); 1: a mix of signed zeros,
// denormals, values whose products underflow and huge magnitudes; 2: every product underflows
// (accumulators stay at +-0, rule 2b); 3: mostly signed zeros (accumulators parked at -0, where
// an added zero term shows).
inline float emu_special(std::mt19937_64 &rng, int mode) {
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    std::uniform_int_distribution<int> pick(0, 19);
    float v = u(rng);
    if (mode == 0) return v;
    if (mode == 3) { // mostly signed zeros: many accumulators sit at -0, where an added zero term shows
        const int k = pick(rng);
        return k < 12 ? (k % 2 ? -0.0f : 0.0f) : (k < 15 ? v * 1e-30f : v);
    }
    if (mode == 2) { // every product underflows: accumulators stay at +-0 (rule 2b)
        const int k = pick(rng);
        return k < 2 ? (k == 0 ? 0.0f : -0.0f) : v * 1e-25f;
    }
    switch (pick(rng)) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: { uint32_t b = (uint32_t)(rng() & 0x7fffff) | ((rng() & 1) << 31); float f; memcpy(&f, &b, 4); return f; }
    case 3: return v * 1e-30f;
    case 4: return v * 1e-20f;
    case 5: return v * 1e15f;
    default: return v;
    }
}
inline std::vector<float> emu_fill(std::mt19937_64 &rng, u64 len, int mode) {
    std::vector<float> v(len);
    for (auto &x : v) x = emu_special(rng, mode);
    return v;
}

// Count of values whose bit patterns differ.
inline u64 emu_differing(const float *a, const float *b, u64 n) {
    u64 bad = 0;
    for (u64 i = 0; i < n; ++i) {
        uint32_t x, y;
        std::memcpy(&x, &a[i], 4);
        std::memcpy(&y, &b[i], 4);
        bad += x != y;
    }
    return bad;
}
