// Host emulation of the CUDA attention kernels (scripts/cuda-emu/run-attention.sh builds it):
// the tiled kernels of the working tree (namespace newk) against the warp-per-row kernels of the
// base commit (namespace oldk) and, when the base has them (NX_BASE_TILED), against the base's
// tiled kernels, value for value with to-the-bit comparison of every output
// (probs, out, ds over the entries a row defines, dq, dk, dv), over sequence lengths, head sizes,
// heads, batches, causal or not, key padding masks (random, tail, fully masked sequences),
// dropout multipliers, and plain, signed-zero/denormal, all-underflow, mostly-zero and
// spread-score/denormal-value inputs. Prints one line
// per failing run and a total; exits 1 on any differing value.
#include "emu_warp.h"
#include <cstdio>
#include <random>
#include <string>
#define nx_warp_chunked_if nx_warp_chunked_if_shfl
namespace oldk {
#include "old_chunked.cuh"
}
namespace newk {
#include "new_chunked.cuh"
}
#undef nx_warp_chunked_if
#define nx_warp_chunked_if emu_warp_chunked_if
namespace oldk {
#include "old_attention.cu"
}
namespace newk {
#include "new_attention.cu"
}

static std::mt19937_64 rng(20261129);
static float special(int mode) { return emu_special(rng, mode); }
static std::vector<float> fill(u64 len, int mode) { return emu_fill(rng, len, mode); }
static u64 g_compared = 0, g_bad = 0, g_runs = 0;
static u64 diff(const float *a, const float *b, u64 n, u64 &count) {
    count += n;
    return emu_differing(a, b, n);
}

struct Cfg { u64 batch, seq, heads, hd; unsigned causal; int mask, drop, mode; };

static void run(const Cfg &c) {
    const u64 d = c.heads * c.hd, bh = c.batch * c.heads, T = c.seq;
    const u64 qlen = c.batch * T * 3 * d, olen = c.batch * T * d, plen = bh * T * T;
    const float scale = 1.0f / sqrtf((float)c.hd);
    auto qkv = fill(qlen, c.mode % 4), dout = fill(olen, c.mode % 4);
    if (c.mode == 4) { // spread scores (most weights tiny) times denormal values and gradients:
        // products underflow to -0 or +0 inside the fma, so many sums sit at -0 (rule 2b)
        std::uniform_real_distribution<float> wide(-6.0f, 6.0f);
        for (u64 k = 0; k < qlen; ++k) {
            const bool value = k % (3 * d) >= 2 * d;
            qkv[k] = value ? special(2) * 1e-13f : wide(rng);
        }
        for (auto &g : dout) g = special(2) * 1e-13f;
    }
    std::vector<float> mask(c.batch * T, 1.0f), drop(plen, 0.0f);
    std::uniform_int_distribution<int> three(0, 2);
    for (u64 b = 0; b < c.batch; ++b)
        for (u64 j = 0; j < T; ++j) {
            float &m = mask[b * T + j];
            if (c.mask == 1) m = (b == 0 || three(rng) == 0) ? 0.0f : 1.0f; // sequence 0 fully padded
            if (c.mask == 2) m = j + 1 > T / 2 + b ? 0.0f : 1.0f;            // tail padding
        }
    for (auto &m : drop) m = three(rng) == 0 ? 0.0f : 1.3333334f;
    const unsigned hm = c.mask != 0, hdp = c.drop != 0;
    // Forward.
    std::vector<float> out_o(olen, NAN), pr_o(plen, NAN);
    emu_launch_warps(dim3{1}, dim3{64}, [&] {
        oldk::nx_attention_forward(qkv.data(), mask.data(), hm, drop.data(), hdp, out_o.data(), pr_o.data(),
                                   c.batch, T, c.heads, c.hd, c.causal, scale);
    });
    // Backward, from the forward's weights (plain inputs) or from edge values (the others).
    std::vector<float> probs = c.mode == 0 || c.mode == 4 ? pr_o : fill(plen, c.mode);
    std::vector<float> ds_o(plen, NAN), dq_o(qlen, NAN);
    emu_launch_warps(dim3{1}, dim3{64}, [&] {
        oldk::nx_attention_backward_dq(qkv.data(), mask.data(), hm, drop.data(), hdp, probs.data(), dout.data(),
                                       ds_o.data(), dq_o.data(), c.batch, T, c.heads, c.hd, c.causal, scale);
    });
    emu_launch_warps(dim3{1}, dim3{64}, [&] {
        oldk::nx_attention_backward_dkv(qkv.data(), mask.data(), hm, drop.data(), hdp, probs.data(), dout.data(),
                                        ds_o.data(), dq_o.data(), c.batch, T, c.heads, c.hd, c.causal);
    });
    // The tiled kernels of one namespace (the working tree's, or BASE's when it has them) on the
    // same inputs, compared value for value with the warp-per-row results above.
    // rows: queries per forward / dq block; keys: keys per dk/dv block.
    auto tiled = [&](const char *which, auto forward, auto backward_dq, auto backward_dkv, u64 rows, u64 keys,
                     unsigned threads) {
        const dim3 grid{(unsigned)(bh * ((T + rows - 1) / rows))}, block{threads};
        const dim3 dkv_grid{(unsigned)(bh * ((T + keys - 1) / keys))};
        std::vector<float> out_n(olen, NAN), pr_n(plen, NAN), ds_n(plen, NAN), dq_n(qlen, NAN);
        emu_launch_warps(grid, block, [&] {
            forward(qkv.data(), mask.data(), hm, drop.data(), hdp, out_n.data(), pr_n.data(), c.batch, T, c.heads,
                    c.hd, c.causal, scale);
        });
        emu_launch_warps(grid, block, [&] {
            backward_dq(qkv.data(), mask.data(), hm, drop.data(), hdp, probs.data(), dout.data(), ds_n.data(),
                        dq_n.data(), c.batch, T, c.heads, c.hd, c.causal, scale);
        });
        emu_launch_warps(dkv_grid, block, [&] {
            backward_dkv(qkv.data(), mask.data(), hm, drop.data(), hdp, probs.data(), dout.data(), ds_n.data(),
                         dq_n.data(), c.batch, T, c.heads, c.hd, c.causal);
        });
        u64 count = 0;
        const u64 b_out = diff(out_o.data(), out_n.data(), olen, count);
        const u64 b_pr = diff(pr_o.data(), pr_n.data(), plen, count);
        u64 b_ds = 0, b_dq = 0, b_dk = 0, b_dv = 0;
        for (u64 r = 0; r < bh * T; ++r) { // ds: the entries j < jn(i) a row defines
            const u64 i = r % T, jn = c.causal ? i + 1 : T;
            b_ds += diff(&ds_o[r * T], &ds_n[r * T], jn, count);
        }
        for (u64 row = 0; row < c.batch * T; ++row)
            for (u64 part = 0; part < 3; ++part) {
                u64 &b = part == 0 ? b_dq : (part == 1 ? b_dk : b_dv);
                b += diff(&dq_o[(row * 3 + part) * d], &dq_n[(row * 3 + part) * d], d, count);
            }
        const u64 bad = b_out + b_pr + b_ds + b_dq + b_dk + b_dv;
        if (bad)
            printf("DIFF %s b%llu t%llu h%llux%llu causal %u mask %d drop %d mode %d: probs %llu out %llu ds %llu "
                   "dq %llu dk %llu dv %llu\n",
                   which, c.batch, T, c.heads, c.hd, c.causal, c.mask, c.drop, c.mode, b_pr, b_out, b_ds, b_dq,
                   b_dk, b_dv);
        g_bad += bad;
        g_compared += count;
    };
    tiled("new tiled", newk::nx_attention_forward_tiled, newk::nx_attention_backward_dq_tiled,
          newk::nx_attention_backward_dkv_tiled, newk::NX_ATT_TQ, newk::NX_ATT_DKV_KEYS, newk::NX_ATT_THREADS);
#if NX_BASE_TILED
    tiled("base tiled", oldk::nx_attention_forward_tiled, oldk::nx_attention_backward_dq_tiled,
          oldk::nx_attention_backward_dkv_tiled, oldk::NX_ATT_TQ,
#if NX_BASE_DKV // the base has attention_tiled_dkv.cu (its own keys per dk/dv block)
          oldk::NX_ATT_DKV_KEYS,
#else
          oldk::NX_ATT_TQ,
#endif
          oldk::NX_ATT_THREADS);
#endif
    ++g_runs;
}

int main() {
    const u64 seqs[] = {1, 2, 7, 31, 33, 64, 65, 97, 130, 256};
    const u64 hds[] = {1, 3, 8, 20, 32, 33, 64};
    std::uniform_int_distribution<int> coin(0, 1);
    for (u64 T : seqs)
        for (u64 hd : hds)
            for (int k = 0; k < 4; ++k) {
                Cfg c;
                c.seq = T;
                c.hd = hd;
                c.causal = k & 1;
                c.mask = k < 2 ? (int)(T % 2) * 2 : 1 + coin(rng);
                c.drop = coin(rng);
                c.mode = (int)((k + T + hd) % 5);
                const bool big = T >= 130;
                c.batch = big ? 1 : 1 + rng() % 3;
                c.heads = big ? 1 + rng() % 2 : 1 + rng() % 4;
                run(c);
            }
    printf("attention emulation: %llu runs, %llu values compared, %llu differing\n", g_runs, g_compared, g_bad);
    return g_bad ? 1 : 0;
}
