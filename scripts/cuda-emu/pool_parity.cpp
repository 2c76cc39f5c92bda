// Pooling kernels of the working tree (namespace newk: 32-bit index bodies) against BASE's
// (namespace oldk: 64-bit index arithmetic; the 2x2 stride-2 backward against the general
// gather), value for value with to-the-bit comparison, on
// pooling geometries with stride, padding, overlapping windows and odd sizes, with plain,
// signed-zero/denormal, tie and NaN inputs. Prints the count of differing values.
#include "emu.h"
#include <cstdio>
struct alignas(8) float2 { float x, y; };
#include <random>
using std::isnan;
namespace oldk {
#include "old_chunked.cuh"
#include "old_pool.cu"
}
namespace newk {
#include "new_chunked.cuh"
#include "new_pool.cu"
}
static u64 pack(u64 lo, u64 hi) { return lo | (hi << 32); }
static u64 bits_differ(const std::vector<float> &a, const std::vector<float> &b) {
    u64 d = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        uint32_t x, y;
        std::memcpy(&x, &a[i], 4);
        std::memcpy(&y, &b[i], 4);
        if (x != y && !(std::isnan(a[i]) && std::isnan(b[i]))) ++d;
    }
    return d;
}
int main() {
    std::mt19937 rng(7);
    struct G { u64 n, c, h, w, kh, kw, sh, sw, ph, pw; };
    const G cases[] = {{3, 16, 28, 28, 2, 2, 2, 2, 0, 0}, {2, 3, 7, 9, 3, 3, 2, 2, 1, 1},
                       {1, 5, 13, 11, 3, 2, 1, 1, 1, 0}, {2, 2, 5, 5, 5, 5, 1, 1, 2, 2},
                       {1, 1, 1, 1, 1, 1, 1, 1, 0, 0},   {2, 4, 17, 6, 4, 3, 3, 2, 2, 1},
                       {2, 3, 8, 6, 2, 2, 2, 2, 0, 0},   {1, 2, 14, 14, 2, 2, 2, 2, 0, 0},
                       {2, 3, 7, 9, 2, 2, 2, 2, 0, 0}};
    u64 differing = 0, values = 0, plain_runs = 0;
    for (const G &g : cases) {
        const u64 oh = (g.h + 2 * g.ph - g.kh) / g.sh + 1, ow = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
        const u64 g0 = pack(g.n, g.c), g1 = pack(g.h, g.w), g2 = pack(oh, ow), g3 = pack(g.kh, g.kw),
                  g4 = pack(g.sh, g.sw), g5 = pack(g.ph, g.pw);
        const u64 nin = g.n * g.c * g.h * g.w, nout = g.n * g.c * oh * ow;
        for (int kind = 0; kind < 3; ++kind) {
            std::vector<float> x(nin), dy(nout);
            const float edge[] = {0.0f, -0.0f, 1e-40f, -1e-40f, 1e-30f, NAN, 3e38f, -3e38f};
            for (auto &v : x) v = kind == 0 ? std::uniform_real_distribution<float>(-2, 2)(rng)
                                  : kind == 1 ? edge[rng() % 8] : (float)(rng() % 3);
            for (auto &v : dy) v = kind == 1 ? edge[rng() % 8] : std::uniform_real_distribution<float>(-2, 2)(rng);
            std::vector<float> y0(nout), a0(nout), y1(nout), a1(nout), dx0(nin), dx1(nin);
            auto grid = [](u64 n) { return dim3{(unsigned)std::min<u64>((n + 255) / 256, 7), 1, 1}; };
            emu_launch(grid(nout), dim3{256}, false, [&] { oldk::nx_max_pool2d_forward(x.data(), y0.data(), a0.data(), g0, g1, g2, g3, g4, g5); });
            emu_launch(grid(nout), dim3{256}, false, [&] { newk::nx_max_pool2d_forward(x.data(), y1.data(), a1.data(), g0, g1, g2, g3, g4, g5); });
            differing += bits_differ(y0, y1) + bits_differ(a0, a1);
            emu_launch(grid(nin), dim3{256}, false, [&] { oldk::nx_max_pool2d_backward(dy.data(), a0.data(), dx0.data(), g0, g1, g2, g3, g4, g5); });
            const bool plain = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 &&
                               g.pw == 0 && g.h == 2 * oh && g.w == 2 * ow; // as Pool2dGeom::is_plain_2x2
            if (plain) {
                emu_launch(grid(nout), dim3{256}, false, [&] { newk::nx_max_pool2d_backward_2x2(dy.data(), a0.data(), dx1.data(), g.n * g.c, oh, ow); });
                ++plain_runs;
            } else {
                emu_launch(grid(nin), dim3{256}, false, [&] { newk::nx_max_pool2d_backward(dy.data(), a0.data(), dx1.data(), g0, g1, g2, g3, g4, g5); });
            }
            differing += bits_differ(dx0, dx1);
            emu_launch(grid(nout), dim3{256}, false, [&] { oldk::nx_avg_pool2d_forward(x.data(), y0.data(), g0, g1, g2, g3, g4, g5); });
            emu_launch(grid(nout), dim3{256}, false, [&] { newk::nx_avg_pool2d_forward(x.data(), y1.data(), g0, g1, g2, g3, g4, g5); });
            differing += bits_differ(y0, y1);
            emu_launch(grid(nin), dim3{256}, false, [&] { oldk::nx_avg_pool2d_backward(dy.data(), dx0.data(), g0, g1, g2, g3, g4, g5); });
            emu_launch(grid(nin), dim3{256}, false, [&] { newk::nx_avg_pool2d_backward(dy.data(), dx1.data(), g0, g1, g2, g3, g4, g5); });
            differing += bits_differ(dx0, dx1);
            values += 3 * nout + 2 * nin + nout;
        }
    }
    std::printf("pool kernels: %llu values compared (%llu runs of the 2x2 backward), %llu differing\n",
                values, plain_runs, differing);
    return differing != 0;
}
