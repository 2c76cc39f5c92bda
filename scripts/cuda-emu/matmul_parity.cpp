// Host emulation of the CUDA matmul kernels (scripts/cuda-emu/run-matmul.sh builds it): the
// large-shape nx_matmul_big_<ta><tb> of the working tree (namespace newk) against the classic
// 128x128 nx_matmul_<ta><tb> of BASE (namespace oldk; removed after the H200 A/B), value for value,
// to the bit (C and the pre-activation copy), over all four transposes, shapes not multiples of
// the tiles (k < 8, k = 1, k = 0, m or n = 1, odd leading dimensions, interior and edge tiles),
// bias / activation / pre-activation on and off, and plain, signed-zero/denormal, all-underflow
// and mostly-zero inputs (accumulators parked at -0, where an added zero term shows: rule 2b).
// Prints one line per failing run and a total; exits 1 on any differing value.
#include "emu.h"
#include <cstdio>
#include <random>
#define __align__(n) __attribute__((aligned(n)))
struct alignas(8) float2 { float x, y; };
#define __launch_bounds__(n)
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

static void run(int m, int n, int k, bool at, bool bt, bool with_bias, bool with_pre, int act, int mode) {
    Buf A((size_t)m * k, mode), B((size_t)k * n, mode), bias(n, mode % 2 ? mode : 0);
    Buf c0((size_t)m * n, -1), c1((size_t)m * n, -1), p0((size_t)m * n, -1), p1((size_t)m * n, -1);
    const float *bp = with_bias ? bias.p : nullptr;
    const dim3 grid{(unsigned)((n + 127) / 128), (unsigned)((m + 127) / 128), 1};
    const dim3 block{256, 1, 1};
    auto go = [&](bool big, float *c, float *pre) {
        emu_launch(grid, block, true, [&] {
            const float *a = A.p, *b = B.p;
            if (!big) {
                if (!at && !bt) oldk::nx_matmul_nn(m, n, k, a, b, c, bp, pre, act, 0.1f);
                if (!at && bt) oldk::nx_matmul_nt(m, n, k, a, b, c, bp, pre, act, 0.1f);
                if (at && !bt) oldk::nx_matmul_tn(m, n, k, a, b, c, bp, pre, act, 0.1f);
                if (at && bt) oldk::nx_matmul_tt(m, n, k, a, b, c, bp, pre, act, 0.1f);
            } else {
                if (!at && !bt) newk::nx_matmul_big_nn(m, n, k, a, b, c, bp, pre, act, 0.1f);
                if (!at && bt) newk::nx_matmul_big_nt(m, n, k, a, b, c, bp, pre, act, 0.1f);
                if (at && !bt) newk::nx_matmul_big_tn(m, n, k, a, b, c, bp, pre, act, 0.1f);
                if (at && bt) newk::nx_matmul_big_tt(m, n, k, a, b, c, bp, pre, act, 0.1f);
            }
        });
    };
    go(false, c0.p, with_pre ? p0.p : nullptr);
    go(true, c1.p, with_pre ? p1.p : nullptr);
    u64 bad = diff(c0.p, c1.p, (u64)m * n);
    if (with_pre) bad += diff(p0.p, p1.p, (u64)m * n);
    ++g_runs;
    g_bad += bad;
    if (bad)
        printf("DIFF %llu: m %d n %d k %d %c%c bias %d pre %d act %d mode %d\n", bad, m, n, k,
               at ? 't' : 'n', bt ? 't' : 'n', with_bias, with_pre, act, mode);
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
    printf("matmul big vs classic: %llu runs, %llu values compared, %llu differing\n", g_runs,
           g_compared, g_bad);
    return g_bad ? 1 : 0;
}
