// Host emulation of the CUDA convolution kernels (scripts/cuda-emu/run.sh builds it): every
// tiled kernel of the working tree (namespace newk) against the general kernel it replaces
// (namespace oldk, from the base commit), value for value with to-the-bit comparison, on the
// shapes and input families below. Prints one line per shape and a total; exits 1 on any
// differing value.
#include "emu.h"
#include <cstdio>
#include <random>
#include <string>
namespace oldk {
#include "old_chunked.cuh"
#include "old_conv.cu"
}
namespace newk {
#include "new_chunked.cuh"
#include "new_conv.cu"
}

struct Geom {
    u64 n, groups, cin, cout, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
    u64 words[8];
    void pack() {
        auto p = [](u64 a, u64 b) { return (a & 0xffffffffull) | (b << 32); };
        u64 v[8] = {p(n, groups), p(cin, cout), p(h, w), p(oh, ow), p(kh, kw), p(sh, sw), p(ph, pw), p(dh, dw)};
        memcpy(words, v, sizeof v);
    }
    u64 xlen() const { return n * cin * h * w; }
    u64 ylen() const { return n * cout * oh * ow; }
    u64 wlen() const { return cout * (cin / groups) * kh * kw; }
};
#define GW g.words[0], g.words[1], g.words[2], g.words[3], g.words[4], g.words[5], g.words[6], g.words[7]

static std::mt19937_64 rng(12345);
static float special(int mode) { return emu_special(rng, mode); }
static std::vector<float> fill(u64 len, int mode) { return emu_fill(rng, len, mode); }
static u64 diffbits(const std::vector<float> &a, const std::vector<float> &b, const char *what, u64 &count) {
    u64 bad = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        uint32_t x, y;
        memcpy(&x, &a[i], 4);
        memcpy(&y, &b[i], 4);
        if (x != y) {
            if (bad < 3) printf("  MISMATCH %s[%zu]: %08x vs %08x\n", what, i, x, y);
            ++bad;
        }
    }
    count += a.size();
    return bad;
}
static dim3 d3(u64 x, u64 y = 1, u64 z = 1) { return dim3{(unsigned)x, (unsigned)y, (unsigned)z}; }
static u64 cdiv(u64 a, u64 b) { return (a + b - 1) / b; }
static u64 g_compared = 0, g_bad = 0, g_runs = 0;

static void run_dw(const Geom &g, const std::vector<float> &x, const std::vector<float> &dy) {
    const u64 rows = g.n * g.oh * g.ow, chunks = cdiv(rows, 256), nw = g.wlen();
    std::vector<float> ref(chunks * nw, NAN);
    const float *xp = x.data(), *dp = dy.data();
    float *rp = ref.data();
    emu_launch(d3(std::min<u64>(cdiv(chunks * nw, 256), 40)), d3(256), false,
               [&] { oldk::nx_conv2d_dw_partial(xp, dp, rp, chunks, GW); });
    std::vector<float> dbref(chunks * g.cout, NAN);
    float *dbrp = dbref.data();
    emu_launch(d3(std::min<u64>(cdiv(chunks * g.cout, 256), 40)), d3(256), false,
               [&] { oldk::nx_conv2d_db_partial(dp, dbrp, chunks, GW); });
    const u64 cig = g.cin / g.groups, cog = g.cout / g.groups, kk = g.kh * g.kw;
    for (int tn : {1, 4})
        for (u64 cobw : {16, 32}) {
        std::vector<float> out(chunks * nw, NAN);
        float *op = out.data();
        const u64 coblocks = cdiv(cog, cobw), cob = std::min<u64>(cog, cobw);
        const u64 ntask = kk * cdiv(cig, tn) * cdiv(cob, 4);
        const u64 bz = cdiv(ntask, 512), threads = cdiv(cdiv(ntask, bz), 32) * 32;
        std::vector<float> dbo(chunks * g.cout, NAN);
        float *dbop = dbo.data();
        emu_launch(d3(chunks, g.groups * coblocks, bz), d3(threads), true, [&] {
            if (tn == 4 && cobw == 32) newk::nx_conv2d_dw_tiled_n4_c32(xp, dp, op, dbop, GW);
            else if (tn == 1 && cobw == 32) newk::nx_conv2d_dw_tiled_n1_c32(xp, dp, op, dbop, GW);
            else if (tn == 4) newk::nx_conv2d_dw_tiled_n4_c16(xp, dp, op, dbop, GW);
            else newk::nx_conv2d_dw_tiled_n1_c16(xp, dp, op, dbop, GW);
        });
        g_bad += diffbits(ref, out, "dw", g_compared);
        g_bad += diffbits(dbref, dbo, "db", g_compared);
        ++g_runs;
    }
}

static void run_fwd(const Geom &g, const std::vector<float> &x, const std::vector<float> &wt,
                    const std::vector<float> &bias) {
    const u64 total = g.ylen(), cig = g.cin / g.groups, cog = g.cout / g.groups, kk = g.kh * g.kw;
    for (int withb : {0, 1}) {
        for (int act : {0, 1}) {
            std::vector<float> y0(total, NAN), p0(total, NAN);
            const float *xp = x.data(), *wp = wt.data(), *bp = withb ? bias.data() : nullptr;
            float *y0p = y0.data(), *p0p = p0.data();
            emu_launch(d3(std::min<u64>(cdiv(total, 256), 40)), d3(256), false,
                       [&] { oldk::nx_conv2d_forward(xp, wp, bp, y0p, p0p, act, 0.0f, GW); });
            for (int tm : {4, 8}) {
                if (cig * kk * tm > 8192) continue;
                std::vector<float> y1(total, NAN), p1(total, NAN);
                float *y1p = y1.data(), *p1p = p1.data();
                emu_launch(d3(cdiv(g.n * g.oh * g.ow, 256), g.groups * cdiv(cog, tm)), d3(256), true, [&] {
                    if (tm == 8) newk::nx_conv2d_forward_tiled_m8(xp, wp, bp, y1p, p1p, act, 0.0f, GW);
                    else newk::nx_conv2d_forward_tiled_m4(xp, wp, bp, y1p, p1p, act, 0.0f, GW);
                });
                g_bad += diffbits(y0, y1, "fwd_y", g_compared);
                g_bad += diffbits(p0, p1, "fwd_pre", g_compared);
                ++g_runs;
            }
        }
    }
}

static void run_bwd(const Geom &g, const std::vector<float> &dy, const std::vector<float> &wt) {
    if (g.sh != 1 || g.sw != 1) return;
    const u64 total = g.xlen(), cig = g.cin / g.groups, cog = g.cout / g.groups, kk = g.kh * g.kw;
    std::vector<float> d0(total, NAN);
    const float *dp = dy.data(), *wp = wt.data();
    float *d0p = d0.data();
    emu_launch(d3(std::min<u64>(cdiv(total, 256), 40)), d3(256), false,
               [&] { oldk::nx_conv2d_backward_input(dp, wp, d0p, GW); });
    for (int tm : {4, 8}) {
        if (cog * kk * tm > 8192) continue;
        std::vector<float> d1(total, NAN);
        float *d1p = d1.data();
        emu_launch(d3(cdiv(g.n * g.h * g.w, 256), g.groups * cdiv(cig, tm)), d3(256), true, [&] {
            if (tm == 8) newk::nx_conv2d_backward_input_tiled_m8(dp, wp, d1p, GW);
            else newk::nx_conv2d_backward_input_tiled_m4(dp, wp, d1p, GW);
        });
        g_bad += diffbits(d0, d1, "bwd_dx", g_compared);
        ++g_runs;
    }
}

static void run_sums() {
    // pass 2 on random partial tables: counts of outputs x chunks, incl. the mnist ones
    const u64 cases[][2] = {{144, 1568}, {16, 1568}, {4608, 392}, {32, 392}, {144, 196}, {4608, 49},
                            {1, 1}, {33, 1}, {31, 257}, {65, 256}, {7, 513}, {100, 3}, {300, 255}};
    for (auto &cs : cases) {
        const u64 count = cs[0], chunks = cs[1];
        for (int mode : {0, 1, 2}) {
            auto p = fill(count * chunks, mode);
            std::vector<float> a(count, NAN), b(count, NAN);
            const float *pp = p.data();
            float *ap = a.data(), *bp = b.data();
            emu_launch(d3(std::min<u64>(cdiv(count, 256), 40)), d3(256), false,
                       [&] { oldk::nx_conv_sum_partials(pp, ap, chunks, count); });
            for (u64 grid : {cdiv(count, 32), std::min<u64>(cdiv(count, 32), 2)}) {
                emu_launch(d3(grid), d3(256), true, [&] { newk::nx_conv_sum_partials(pp, bp, chunks, count); });
                g_bad += diffbits(a, b, "sum", g_compared);
                ++g_runs;
            }
        }
    }
    printf("sum_partials cases done\n");
}

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "all";
    // n, groups, cin, cout, h, w, kh, kw, sh, sw, ph, pw, dh, dw, same
    struct S { u64 n, groups, cin, cout, h, w, kh, kw, sh, sw, ph, pw, dh, dw; int same; };
    std::vector<S> shapes = {
        {2, 1, 1, 16, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 0},   // mnist conv1 (batch reduced)
        {64, 1, 1, 16, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 0},  // mnist conv1, batch 64
        {64, 1, 16, 32, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 0}, // mnist conv2, batch 64
        {176, 1, 16, 32, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 0}, // conv2, >= 128 chunks
        {2, 2, 6, 80, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 0},     // 80 outputs, 2 groups
        {1, 1, 130, 130, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 0},  // weights too large to stage
        {5, 1, 16, 32, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1},  // conv2 as "same"
        {2, 1, 7, 33, 13, 15, 3, 3, 1, 1, 1, 1, 1, 1, 0},   // odd channels, 33 out
        {3, 1, 16, 32, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 0},  // mnist conv2
        {1, 1, 16, 32, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 0},
        {2, 1, 3, 5, 7, 9, 3, 2, 1, 1, 0, 0, 1, 1, 0},
        {2, 1, 6, 7, 11, 10, 3, 3, 2, 2, 1, 1, 1, 1, 0},    // stride 2
        {2, 1, 5, 9, 13, 12, 3, 3, 2, 1, 1, 2, 2, 1, 0},    // stride, pad, dilation
        {2, 2, 4, 6, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 0},      // groups
        {3, 4, 8, 8, 8, 7, 3, 3, 1, 1, 1, 1, 1, 1, 0},      // depthwise-ish 2 in/2 out per group
        {2, 3, 3, 3, 10, 10, 5, 5, 1, 1, 2, 2, 1, 1, 0},    // depthwise 5x5
        {2, 1, 2, 40, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 0},     // cog > 32 (two co blocks)
        {1, 1, 9, 70, 6, 6, 1, 1, 1, 1, 0, 0, 1, 1, 0},     // 1x1, cog 70
        {2, 1, 3, 4, 9, 8, 4, 4, 1, 1, 0, 0, 1, 1, 1},      // even kernel, "same" (asymmetric)
        {1, 1, 2, 3, 6, 40, 1, 33, 1, 1, 0, 16, 1, 1, 0},   // wide kernel (33 > 32: skip)
        {1, 1, 2, 3, 6, 40, 1, 32, 1, 1, 0, 16, 1, 1, 0},   // kernel 32
        {3, 1, 5, 5, 17, 3, 7, 1, 3, 1, 3, 0, 2, 1, 0},
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0},      // 1x1x1
        {2, 1, 4, 4, 5, 5, 3, 3, 1, 1, 2, 2, 3, 3, 0},      // dilation > size, heavy padding
        {5, 1, 3, 8, 15, 15, 3, 3, 3, 3, 0, 0, 1, 1, 0},    // stride 3
        {2, 2, 6, 10, 12, 11, 3, 5, 2, 3, 1, 2, 1, 2, 1},   // mixed, same
    };
    if (!strcmp(which, "all") || !strcmp(which, "sum")) run_sums();
    if (!strcmp(which, "big")) shapes = {
        {512, 1, 1, 16, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 0},  // mnist conv1, batch 512
        {512, 1, 16, 32, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 0}, // mnist conv2, batch 512
    };
    const bool big = !strcmp(which, "big");
    if (big) which = "all";
    for (int mode : {0, 1, 2}) {
        if (big && mode == 1) continue;
        for (const S &s : shapes) {
            Geom g{};
            g.n = s.n; g.groups = s.groups; g.cin = s.cin; g.cout = s.cout; g.h = s.h; g.w = s.w;
            g.kh = s.kh; g.kw = s.kw; g.sh = s.sh; g.sw = s.sw; g.ph = s.ph; g.pw = s.pw; g.dh = s.dh; g.dw = s.dw;
            if (g.kh > 32 || g.kw > 32) continue;
            if (s.same) {
                g.oh = cdiv(g.h, g.sh); g.ow = cdiv(g.w, g.sw);
                const long long th = (long long)((g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1) - (long long)g.h;
                const long long tw = (long long)((g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1) - (long long)g.w;
                g.ph = th > 0 ? th / 2 : 0; g.pw = tw > 0 ? tw / 2 : 0;
            }
            else {
                g.oh = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
                g.ow = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
            }
            const u64 lh = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh, lw = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw;
            if (lh >= g.h + 2 * g.ph + g.sh || lw >= g.w + 2 * g.pw + g.sw) { printf("skip bad geom\n"); continue; }
            g.pack();
            auto x = fill(g.xlen(), mode), dy = fill(g.ylen(), mode), wt = fill(g.wlen(), mode);
            const u64 before = g_bad;
            if (!strcmp(which, "all") || !strcmp(which, "dw")) run_dw(g, x, dy);
            auto bias = fill(g.cout, mode);
            if (!strcmp(which, "all") || !strcmp(which, "fwd")) run_fwd(g, x, wt, bias);
            if (!strcmp(which, "all") || !strcmp(which, "bwd")) run_bwd(g, dy, wt);
            printf("shape n%llu g%llu %llux%llux%llu -> %llu k%llux%llu s%llu,%llu p%llu,%llu d%llu,%llu o%llux%llu mode %d: %s\n",
                   g.n, g.groups, g.cin, g.h, g.w, g.cout, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                   g.oh, g.ow, mode, g_bad == before ? "ok" : "DIFF");
        }
    }
    printf("runs %llu, values compared %llu, differing %llu\n", g_runs, g_compared, g_bad);
    return g_bad != 0;
}
