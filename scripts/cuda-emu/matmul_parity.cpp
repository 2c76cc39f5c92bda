// Host emulation of the CUDA matmul kernels (scripts/cuda-emu/run-matmul.sh builds it): every
// kernel of the working tree (namespace newk: nx_matmul_big_<BM>x<BN>_<ta><tb> in each tile shape
// of matmul_big.cu, nx_matmul_mid_* and nx_matmul_small_*) against the classic 128x128
// nx_matmul_<ta><tb> of BASE (namespace oldk; removed after the H200 A/B), value for value, to the
// bit (C and the pre-activation copy), over all four transposes, shapes not multiples of the
// tiles (k < 8, k = 1, k = 0, m or n = 1, one past and one short of 64, 96 and 128, odd leading
// dimensions, interior and edge tiles), bias / activation / pre-activation on and off, and plain,
// signed-zero/denormal, all-underflow and mostly-zero inputs (accumulators parked at -0, where an
// added zero term shows: rule 2b). Prints one line per failing run, the differing count of each
// kernel and a total; exits 1 on any differing value.
#include "emu.h"
#include <cstdio>
#include <random>
#define __align__(n) __attribute__((aligned(n)))
struct alignas(8) float2 { float x, y; };
#define __launch_bounds__(...)
#define NX_ACT_LINEAR 0
#define NX_ACT_RELU 1
inline float4 make_float4(float a, float b, float c, float d) { return float4{a, b, c, d}; }
namespace oldk {
#include "old_matmul.cu"
}
namespace newk {
#include "new_matmul_all.cu"
}

static std::mt19937_64 rng(20261129);
static float special(int mode) { return emu_special(rng, mode); }
// 16-byte aligned storage (the kernels take the vector path only on aligned operands).
struct Buf {
    std::vector<float4> s;
    float *p;
    Buf(size_t n, int mode) : s(n / 4 + 2) {
        p = reinterpret_cast<float *>(s.data());
        for (size_t i = 0; i < n; ++i) p[i] = mode < 0 ? NAN : special(mode);
    }
};
static u64 g_compared = 0, g_bad = 0, g_runs = 0;
static u64 diff(const float *a, const float *b, u64 n) {
    g_compared += n;
    return emu_differing(a, b, n);
}

// The kernels under test: every tile shape of matmul_big.cu, then matmul.cu's mid and small.
struct Kernel {
    const char *name;
    int bm, bn, threads;
    void (*fn[4])(int, int, int, const float *, const float *, float *, const float *, float *, int,
                  float); // nn, nt, tn, tt
};
#define NX_K4(P) {newk::P##_nn, newk::P##_nt, newk::P##_tn, newk::P##_tt}
static const Kernel kernels[] = {
    {"big 128x128", 128, 128, 256, NX_K4(nx_matmul_big_128x128)},
    {"big 128x96", 128, 96, 256, NX_K4(nx_matmul_big_128x96)},
    {"big 64x96", 64, 96, 256, NX_K4(nx_matmul_big_64x96)},
    {"big 64x64", 64, 64, 256, NX_K4(nx_matmul_big_64x64)},
    {"mid 32x32", 32, 32, 128, NX_K4(nx_matmul_mid)},
    {"small 16x16", 16, 16, 256, NX_K4(nx_matmul_small)},
};
constexpr int n_kernels = sizeof(kernels) / sizeof(kernels[0]);
static u64 g_kernel_bad[n_kernels];

// One problem: the classic kernel of BASE, then every kernel of the working tree on the same
// inputs, each compared with the classic one (C and the pre-activation copy).
static void run(int m, int n, int k, bool at, bool bt, bool with_bias, bool with_pre, int act, int mode) {
    Buf A((size_t)m * k, mode), B((size_t)k * n, mode), bias(n, mode % 2 ? mode : 0);
    Buf c0((size_t)m * n, -1), p0((size_t)m * n, -1);
    const float *bp = with_bias ? bias.p : nullptr;
    const int t = (at ? 2 : 0) + (bt ? 1 : 0);
    const dim3 grid{(unsigned)((n + 127) / 128), (unsigned)((m + 127) / 128), 1};
    emu_launch(grid, dim3{256, 1, 1}, true, [&] {
        auto *const classic = at ? (bt ? oldk::nx_matmul_tt : oldk::nx_matmul_tn)
                                 : (bt ? oldk::nx_matmul_nt : oldk::nx_matmul_nn);
        classic(m, n, k, A.p, B.p, c0.p, bp, with_pre ? p0.p : nullptr, act, 0.1f);
    });
    for (int v = 0; v < n_kernels; ++v) {
        const Kernel &kn = kernels[v];
        Buf c1((size_t)m * n, -1), p1((size_t)m * n, -1);
        const dim3 g{(unsigned)((n + kn.bn - 1) / kn.bn), (unsigned)((m + kn.bm - 1) / kn.bm), 1};
        emu_launch(g, dim3{(unsigned)kn.threads, 1, 1}, true, [&] {
            kn.fn[t](m, n, k, A.p, B.p, c1.p, bp, with_pre ? p1.p : nullptr, act, 0.1f);
        });
        u64 bad = diff(c0.p, c1.p, (u64)m * n);
        if (with_pre) bad += diff(p0.p, p1.p, (u64)m * n);
        ++g_runs;
        g_bad += bad;
        g_kernel_bad[v] += bad;
        if (bad)
            printf("DIFF %llu: %s m %d n %d k %d %c%c bias %d pre %d act %d mode %d\n", bad, kn.name,
                   m, n, k, at ? 't' : 'n', bt ? 't' : 'n', with_bias, with_pre, act, mode);
    }
}

int main() {
    struct S { int m, n, k; };
    const S shapes[] = {
        {256, 256, 64},  // interior tiles, vector path everywhere
        {256, 128, 37},  // ragged k (partial last tile), odd lda for nn/nt
        {300, 260, 50},  // edge tiles in m and n, scalar + vector paths mixed
        {129, 131, 16},  // one k-tile exactly
        {133, 257, 7},   // k < BK
        {128, 128, 1},   // k = 1
        {1, 200, 40},    // m = 1
        {200, 1, 40},    // n = 1
        {127, 129, 33},  // odd leading dimensions in every operand
        {256, 132, 100}, // n multiple of 4 but not of 128, k multiple of 4
        {64, 64, 0},     // k = 0: bias only
        {192, 288, 48},  // whole 64-, 96- and 128-row tiles (vector path), partial 128 columns
        {65, 97, 17},    // one past the 64 and 96 tiles, ragged k just past a k-tile
        {191, 193, 31},  // one short of whole tiles, odd leading dimensions
        {130, 290, 12},  // n = 3 x 96 + 2, k < 16, m just past 128
        {96, 100, 64},   // k-major rows of 96 and 100 (aligned, not a tile multiple)
    };
    int i = 0;
    for (const S &s : shapes)
        for (int t = 0; t < 4; ++t) {
            const int mode = i % 4;
            const bool bias = i % 3 != 1, pre = i % 2 == 0;
            const int act = i % 3;
            run(s.m, s.n, s.k, t & 2, t & 1, bias, pre, act, mode);
            ++i;
        }
    // Signed-zero-heavy and underflow inputs on every transpose: interior tiles, ragged k.
    for (int mode = 2; mode <= 3; ++mode)
        for (int t = 0; t < 4; ++t) {
            run(256, 128, 48, t & 2, t & 1, false, true, 0, mode);
            run(150, 140, 21, t & 2, t & 1, t & 1, true, t % 3, mode); // ragged k at -0
        }
    for (int v = 0; v < n_kernels; ++v)
        printf("  %-12s: %llu differing\n", kernels[v].name, g_kernel_bad[v]);
    printf("matmul kernels vs classic: %llu runs, %llu values compared, %llu differing\n", g_runs,
           g_compared, g_bad);
    return g_bad ? 1 : 0;
}
