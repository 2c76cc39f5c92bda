// Tiled exact attention (the order is the contract of ops/attention/mod.rs; attention.cu holds
// the warp-per-row kernels, kept for shapes past these tiles). Why: the warp-per-row kernels
// read a different key row on every lane (32 cache lines per load) and walk the products with
// V and K as chains of dependent global loads. Here a block of NX_ATT_THREADS threads owns a
// tile of NX_ATT_TQ query rows (or NX_ATT_DKV_KEYS key rows, for dk/dv: attention_tiled_dkv.cu)
// of one (batch, head), stages the rows it multiplies with in shared memory, and every thread
// carries several outputs, each with its own single accumulator that walks its sum in exactly
// the contract's order (the tiles only change where an operand is read from, never the order
// of the terms).
// A masked or causally hidden term is predicated off, never added as a zero product (rule 2b).
// The softmax max and sum and the backward's D_i walk the same values in the same order as the
// warp-per-row kernels' helpers (nx_warp_row_max's `if (s > mx)` from -inf; nx_chunked, the
// one-thread form of nx_warp_chunked_if's chunked order), each row on one thread over the row
// held in shared memory: the 16 rows of a block side by side instead of one warp replaying
// every term through shuffles. The bounds below are mirrored by TILED_* in mod.rs (a test
// compares them).
//
// Cost model (per thread, shared-memory loads per fmaf): the scores give every thread a 4 × 4
// register tile (4 queries × 4 keys), so 4 terms of its 16 sums take 4 + 4 16-byte loads per 64
// fmaf (before: 4 scalar + 4 16-byte loads per 16 fmaf); the products (4 outputs a thread, one
// column of 4 rows) take 4 + 4 loads per 16 fmaf, with the tests for the causal diagonal, the
// mask and the tile's end hoisted out of every group of 4 keys that all outputs see (before:
// 4 more loads of the key flags and a test per term). The row folds take 2 shared loads and a
// compare or an add per term on one lane, 16 rows at once (before: 2 or 3 shuffles, a 64-bit
// index test and the fold per term on all 32 lanes of a warp, 2 rows after one another).
// Shared-memory offsets and loop counters are 32-bit (a block's arrays hold at most
// NX_ATT_MAX_SEQ · (NX_ATT_MAX_HD + 4) values); 64-bit arithmetic is left to the global row
// pointers.

constexpr u64 NX_ATT_TQ = 16;       // query rows per block (forward, dq)
constexpr u64 NX_ATT_TK = 64;       // rows of one staged tile of the products
constexpr u64 NX_ATT_MAX_SEQ = 256; // longest sequence the score rows of a block hold
constexpr u64 NX_ATT_MAX_HD = 64;   // largest head_dim
constexpr unsigned int NX_ATT_THREADS = 256;
// Outputs per thread: NX_ATT_TQ rows of at most NX_ATT_MAX_HD columns.
constexpr unsigned int NX_ATT_OUTS = NX_ATT_TQ * NX_ATT_MAX_HD / NX_ATT_THREADS;
// Scores: columns of one staged chunk of key rows, and the chunk's row pitch (a multiple of 4
// for 16-byte loads; 20 floats apart, the 8 key rows one load instruction reads start in 8
// different groups of 4 banks: no conflict).
constexpr unsigned int NX_ATT_TP = 16;
constexpr unsigned int NX_ATT_KC_PITCH = NX_ATT_TP + 4;
// The scores' register tile: NX_ATT_RQ queries × NX_ATT_RK keys per thread. A warp holds the
// block's NX_ATT_TQ queries (4 groups of lanes) × 32 keys (8 groups); warp w takes keys
// 32w..32w+31, so the block spans NX_ATT_MAX_SEQ keys.
constexpr unsigned int NX_ATT_RQ = 4;
constexpr unsigned int NX_ATT_RK = 4;
static_assert(NX_ATT_TQ == 4 * NX_ATT_RQ, "4 query groups of a warp cover the block's rows");
static_assert(8 * NX_ATT_RK == 32, "8 key groups of a warp cover its 32 keys");
static_assert(NX_ATT_THREADS == NX_ATT_MAX_SEQ, "one warp per 32 keys of a score row");
// Row pitch of the score rows: a multiple of 4 (16-byte loads) that puts the rows one thread
// each walks (8 rows a warp, nx_att_row_of_thread) in 8 different groups of 4 banks.
constexpr unsigned int NX_ATT_S_PITCH = NX_ATT_MAX_SEQ + 4;
// The sequential row folds (softmax max and sum, D_i) give one thread of warps 0, 1, ... each
// row: NX_ATT_ROWS_PER_WARP rows a warp.
constexpr unsigned int NX_ATT_ROWS_PER_WARP = 8;
static_assert(NX_ATT_TQ % NX_ATT_ROWS_PER_WARP == 0, "whole warps fold the rows");
static_assert(NX_ATT_MAX_SEQ <= NX_CHUNK, "a score row is one chunk of the chunked order");

// Shared memory of the forward and dq kernels (41.6 KiB, under the 48 KiB static limit).
struct NxAttRows {
    // The block's rows of q (forward) or dout (dq), nx_att_row_pitch(hd) apart.
    alignas(16) float a[NX_ATT_TQ * (NX_ATT_MAX_HD + 4)];
    // Scores, then weights (forward); dP, then dS (dq); NX_ATT_S_PITCH apart.
    alignas(16) float s[NX_ATT_TQ * NX_ATT_S_PITCH];
    union {
        // Scores: columns p0..p0+NX_ATT_TP of every key row (NX_ATT_KC_PITCH apart).
        alignas(16) float kc[NX_ATT_MAX_SEQ * NX_ATT_KC_PITCH];
        // dq, between the scores and the product: the block's rows of P (as s).
        float p[NX_ATT_TQ * NX_ATT_S_PITCH];
        // Products: one staged tile of v (forward) or k (dq) rows (odd pitch hd | 1).
        float kv[NX_ATT_TK * (NX_ATT_MAX_HD + 1)];
    };
    alignas(16) int keep[NX_ATT_MAX_SEQ]; // key j takes part (key padding mask)
    float mx[NX_ATT_TQ];                  // forward: the row maxima
    float total[NX_ATT_TQ];               // forward: the softmax sums; dq: D_i
};

// Row pitch of the staged query (or dout) rows: hd rounded up to a multiple of 4 (16-byte
// loads), then to an odd multiple of 4, so that the 4 rows one load instruction reads start in
// 4 different groups of 4 banks. At most NX_ATT_MAX_HD + 4.
__device__ __forceinline__ unsigned int nx_att_row_pitch(unsigned int hd) {
    const unsigned int p4 = (hd + 3u) & ~3u;
    return (p4 & 4u) ? p4 : p4 + 4u;
}

// dst[r * dpitch + c] = src[(r0 + r) * stride + c] for r < n, c < cols (cols <= NX_ATT_THREADS).
// Thread t copies column t % cols of rows t / cols, + NX_ATT_THREADS / cols, ...: coalesced
// along c, two divisions per call and none per element.
__device__ __forceinline__ void nx_att_stage(float *dst, unsigned int dpitch, const float *src,
                                             u64 stride, unsigned int r0, unsigned int n,
                                             unsigned int cols) {
    const unsigned int per = NX_ATT_THREADS / cols;
    const unsigned int r1 = threadIdx.x / cols;
    const unsigned int c = threadIdx.x - r1 * cols;
    if (r1 >= per) {
        return;
    }
    const float *from = src + (r0 + r1) * stride + c;
    const u64 step = per * stride;
    for (unsigned int r = r1; r < n; r += per, from += step) {
        dst[r * dpitch + c] = *from;
    }
}

// Keys seen by query i (before the mask): 0..=i when causal, else 0..seq.
__device__ __forceinline__ unsigned int nx_att_keys(unsigned int i, unsigned int seq,
                                                    unsigned int causal) {
    return causal ? i + 1 : seq;
}

// Row-times-row products of the block's rows `a` (nq rows of hd, `apitch` apart) with the
// key-side rows `rows` (stride apart, keys 0..kend): for every query qi and kept key j in J(i),
//   acc = fmaf(a[qi][p], rows_j[p], acc), p = 0..hd-1 from 0; s[qi][j] = fin(qi, j, acc).
// A masked key j in J(i) gets s[qi][j] = masked. The key rows are staged NX_ATT_TP columns at a
// time; every thread keeps its 4 × 4 accumulators across the chunks, so each still takes p in
// increasing order. Thread layout: warp w, lane l: keys 32w + l % 8 + 8u, queries l / 8 + 4r.
template <typename Fin>
__device__ __forceinline__ void nx_att_scores(NxAttRows &t, const float *rows, u64 stride,
                                              unsigned int seq, unsigned int hd,
                                              unsigned int apitch, unsigned int i0,
                                              unsigned int nq, unsigned int kend,
                                              unsigned int causal, float masked, Fin fin) {
    const unsigned int lane = threadIdx.x & 31;
    const unsigned int warp_keys = threadIdx.x - lane; // 32 · warp
    const unsigned int key = warp_keys + lane % 8;     // keys key + 8u
    const unsigned int qg = lane / 8;                  // queries qg + 4r
    // Warps whose keys all lie past kend only stage (warp-uniform).
    const bool busy = warp_keys < kend;
    float acc[NX_ATT_RQ][NX_ATT_RK];
#pragma unroll
    for (unsigned int r = 0; r < NX_ATT_RQ; ++r) {
#pragma unroll
        for (unsigned int u = 0; u < NX_ATT_RK; ++u) {
            acc[r][u] = 0.0f;
        }
    }
    // Queries past nq or keys past kend read stale shared values; their sums are discarded.
    const float *krow = t.kc + key * NX_ATT_KC_PITCH;
    const float *arow = t.a + qg * apitch;
    for (unsigned int p0 = 0; p0 < hd; p0 += NX_ATT_TP) {
        const unsigned int np = hd - p0 < NX_ATT_TP ? hd - p0 : NX_ATT_TP;
        __syncthreads(); // the previous chunk's readers are done
        nx_att_stage(t.kc, NX_ATT_KC_PITCH, rows + p0, stride, 0, kend, np);
        __syncthreads();
        if (!busy) {
            continue;
        }
        if (hd % 4 == 0) {
            // Four terms at a time: one 16-byte load of each key row and each query row, the
            // terms still added p, p + 1, p + 2, p + 3 into each accumulator.
            for (unsigned int pp = 0; pp < np; pp += 4) {
                float4 k4[NX_ATT_RK];
#pragma unroll
                for (unsigned int u = 0; u < NX_ATT_RK; ++u) {
                    k4[u] = *reinterpret_cast<const float4 *>(krow + 8 * u * NX_ATT_KC_PITCH + pp);
                }
#pragma unroll
                for (unsigned int r = 0; r < NX_ATT_RQ; ++r) {
                    const float4 a4 =
                        *reinterpret_cast<const float4 *>(arow + 4 * r * apitch + p0 + pp);
#pragma unroll
                    for (unsigned int u = 0; u < NX_ATT_RK; ++u) {
                        acc[r][u] = fmaf(a4.x, k4[u].x, acc[r][u]);
                        acc[r][u] = fmaf(a4.y, k4[u].y, acc[r][u]);
                        acc[r][u] = fmaf(a4.z, k4[u].z, acc[r][u]);
                        acc[r][u] = fmaf(a4.w, k4[u].w, acc[r][u]);
                    }
                }
            }
        } else {
            for (unsigned int pp = 0; pp < np; ++pp) {
                float kv[NX_ATT_RK];
#pragma unroll
                for (unsigned int u = 0; u < NX_ATT_RK; ++u) {
                    kv[u] = krow[8 * u * NX_ATT_KC_PITCH + pp];
                }
#pragma unroll
                for (unsigned int r = 0; r < NX_ATT_RQ; ++r) {
                    const float av = arow[4 * r * apitch + p0 + pp];
#pragma unroll
                    for (unsigned int u = 0; u < NX_ATT_RK; ++u) {
                        acc[r][u] = fmaf(av, kv[u], acc[r][u]);
                    }
                }
            }
        }
    }
#pragma unroll
    for (unsigned int r = 0; r < NX_ATT_RQ; ++r) {
        const unsigned int qi = qg + 4 * r;
        const unsigned int jn = qi < nq ? nx_att_keys(i0 + qi, seq, causal) : 0;
#pragma unroll
        for (unsigned int u = 0; u < NX_ATT_RK; ++u) {
            const unsigned int j = key + 8 * u;
            if (j < jn) {
                t.s[qi * NX_ATT_S_PITCH + j] = t.keep[j] ? fin(qi, j, acc[r][u]) : masked;
            }
        }
    }
}

// out[qi][p] = Σ_{j in J(i), kept} fmaf(s[qi][j], rows_j[p], acc), j increasing from 0, with
// the key-side rows staged NX_ATT_TK at a time; store(qi, p, acc) for each of the block's
// outputs. Thread t owns outputs o = t + NX_ATT_THREADS·r (qi = o / hd, p = o % hd): its
// accumulators advance four keys at a time (one 16-byte load of each score row), side by side,
// each still taking j, j + 1, j + 2, j + 3 in order. The groups of 4 keys that every output of
// the thread sees (before the causal diagonal, inside the tile) take the straight path when
// all 4 are kept: 16 fmaf and no test per term; the others (the diagonal, masked keys, the
// tile's end) test every term.
template <typename Store>
__device__ __forceinline__ void nx_att_product(NxAttRows &t, const float *rows, u64 stride,
                                               unsigned int seq, unsigned int hd,
                                               unsigned int i0, unsigned int nq,
                                               unsigned int kend, unsigned int causal,
                                               unsigned int has_mask, Store store) {
    const unsigned int pitch = hd | 1;
    const bool one_col = NX_ATT_THREADS % hd == 0;
    float acc[NX_ATT_OUTS];
    unsigned int qi[NX_ATT_OUTS], pc[NX_ATT_OUTS], jn[NX_ATT_OUTS];
    const float *srow[NX_ATT_OUTS]; // the output's score row (live outputs only)
    bool live[NX_ATT_OUTS];         // the output is inside the block's NX_ATT_TQ rows
    unsigned int jall = NX_ATT_MAX_SEQ; // keys every live output of the thread sees
#pragma unroll
    for (unsigned int r = 0; r < NX_ATT_OUTS; ++r) {
        const unsigned int o = threadIdx.x + NX_ATT_THREADS * r;
        acc[r] = 0.0f;
        qi[r] = o / hd;
        pc[r] = o - qi[r] * hd;
        live[r] = qi[r] < NX_ATT_TQ;
        srow[r] = t.s + (live[r] ? qi[r] : 0) * NX_ATT_S_PITCH;
        // An output past the tile sees no key.
        jn[r] = qi[r] < nq ? nx_att_keys(i0 + qi[r], seq, causal) : 0;
        if (live[r] && jn[r] < jall) {
            jall = jn[r];
        }
    }
    for (unsigned int j0 = 0; j0 < kend; j0 += NX_ATT_TK) {
        const unsigned int n = kend - j0 < NX_ATT_TK ? kend - j0 : NX_ATT_TK;
        __syncthreads(); // the score rows are final; the previous tile's readers are done
        nx_att_stage(t.kv, pitch, rows, stride, j0, n, hd);
        __syncthreads();
        // Keys j0 + jj .. j0 + jj + 3 of the tile: straight (every term added) or tested (keys
        // past n, past J(i) or masked are predicated off).
        const auto group = [&](unsigned int jj, bool straight) {
            const unsigned int j = j0 + jj;
            bool on[4];
#pragma unroll
            for (unsigned int u = 0; u < 4; ++u) {
                on[u] = straight || (jj + u < n && t.keep[j + u]);
            }
            float v0[4]; // when hd divides the block, a thread's outputs share one column
#pragma unroll
            for (unsigned int u = 0; u < 4; ++u) {
                v0[u] = t.kv[(jj + u) * pitch + pc[0]];
            }
#pragma unroll
            for (unsigned int r = 0; r < NX_ATT_OUTS; ++r) {
                if (straight ? live[r] : j < jn[r]) {
                    const float4 s4 = *reinterpret_cast<const float4 *>(srow[r] + j);
                    const float sv[4] = {s4.x, s4.y, s4.z, s4.w};
#pragma unroll
                    for (unsigned int u = 0; u < 4; ++u) {
                        if (straight || (on[u] && j + u < jn[r])) {
                            const float v = one_col ? v0[u] : t.kv[(jj + u) * pitch + pc[r]];
                            acc[r] = fmaf(sv[u], v, acc[r]);
                        }
                    }
                }
            }
        };
        // Groups of 4 keys inside the tile that every live output sees.
        const unsigned int seen = jall > j0 ? jall - j0 : 0;
        const unsigned int full = (seen < n ? seen : n) & ~3u;
        unsigned int jj = 0;
        for (; jj < full; jj += 4) {
            const int4 k4 = *reinterpret_cast<const int4 *>(t.keep + j0 + jj);
            if (!has_mask || (k4.x && k4.y && k4.z && k4.w)) {
                group(jj, true);
            } else {
                group(jj, false);
            }
        }
        for (; jj < n; jj += 4) {
            group(jj, false);
        }
    }
#pragma unroll
    for (unsigned int r = 0; r < NX_ATT_OUTS; ++r) {
        if (qi[r] < nq) {
            store(qi[r], pc[r], acc[r]);
        }
    }
}

// The row (below NX_ATT_TQ) whose sequential folds this thread walks, or NX_ATT_TQ for none:
// lanes 0..NX_ATT_ROWS_PER_WARP-1 of the first NX_ATT_TQ / NX_ATT_ROWS_PER_WARP warps. Their
// rows lie in different bank groups (NX_ATT_S_PITCH), so a warp's lanes read them in one pass.
__device__ __forceinline__ unsigned int nx_att_row_of_thread() {
    const unsigned int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const bool owner = lane < NX_ATT_ROWS_PER_WARP && warp < NX_ATT_TQ / NX_ATT_ROWS_PER_WARP;
    return owner ? warp * NX_ATT_ROWS_PER_WARP + lane : (unsigned int)NX_ATT_TQ;
}

// The block's (b, h, first query i0, row count nq, last key kend) and the key flags.
struct NxAttBlock {
    u64 b, h, bh;
    unsigned int i0, nq, kend;
};

__device__ __forceinline__ NxAttBlock nx_att_block(NxAttRows &t, const float *mask,
                                                   unsigned int has_mask, unsigned int seq,
                                                   unsigned int heads, unsigned int causal) {
    const unsigned int tiles = (seq + (unsigned int)NX_ATT_TQ - 1) / (unsigned int)NX_ATT_TQ;
    const unsigned int bh = blockIdx.x / tiles;
    const unsigned int b = bh / heads;
    NxAttBlock k;
    k.bh = bh;
    k.b = b;
    k.h = bh - b * heads;
    k.i0 = (blockIdx.x - bh * tiles) * (unsigned int)NX_ATT_TQ;
    k.nq = seq - k.i0 < NX_ATT_TQ ? seq - k.i0 : (unsigned int)NX_ATT_TQ;
    k.kend = causal ? k.i0 + k.nq : seq;
    const float *km = mask + k.b * seq;
    for (unsigned int j = threadIdx.x; j < seq; j += NX_ATT_THREADS) {
        t.keep[j] = !has_mask || km[j] != 0.0f;
    }
    return k;
}

// Forward, one block per (b, h, NX_ATT_TQ queries); grid = batch·heads·ceil(seq/NX_ATT_TQ).
// Scores as nx_att_scores (· scale; a masked key enters the max as -inf, which `if (s > mx)`
// never takes); per row: mx over j < jn walked in order from -inf with `if (s > mx)` (the
// order of nx_warp_row_max), e = nx_exp(s - mx) for kept j, sum by nx_chunked over kept j
// (the order of nx_warp_chunked_if), P = e / sum (0 when masked or j >= jn); out by
// nx_att_product with the weights times the dropout multipliers. The max and the sum of a row
// are walked by one thread (nx_att_row_of_thread: all rows side by side, no shuffles), the
// exps and the weights one thread per key.
extern "C" __global__ void __launch_bounds__(NX_ATT_THREADS)
    nx_attention_forward_tiled(const float *qkv, const float *mask, unsigned int has_mask,
                               const float *drop, unsigned int has_drop, float *out,
                               float *probs, u64 batch, u64 seq64, u64 heads64, u64 hd64,
                               unsigned int causal, float scale) {
    __shared__ NxAttRows t;
    (void)batch;
    // The tiled bounds (mod.rs: tiled_grid) keep seq, hd and every shared offset in 32 bits.
    const unsigned int seq = (unsigned int)seq64, hd = (unsigned int)hd64;
    const u64 d = heads64 * hd64;
    const NxAttBlock k = nx_att_block(t, mask, has_mask, seq, (unsigned int)heads64, causal);
    const unsigned int apitch = nx_att_row_pitch(hd);
    const float *base = qkv + k.b * seq * 3 * d + k.h * hd;
    nx_att_stage(t.a, apitch, base, 3 * d, k.i0, k.nq, hd);
    nx_att_scores(t, base + d, 3 * d, seq, hd, apitch, k.i0, k.nq, k.kend, causal, NX_NEG_INF,
                  [&](unsigned int, unsigned int, float acc) { return acc * scale; });
    __syncthreads(); // the score rows are final
    const unsigned int own = nx_att_row_of_thread();
    const float *own_row = t.s + own * NX_ATT_S_PITCH;
    const unsigned int own_jn = own < k.nq ? nx_att_keys(k.i0 + own, seq, causal) : 0;
    if (own < k.nq) {
        float mx = NX_NEG_INF;
        for (unsigned int j = 0; j < own_jn; ++j) {
            const float v = own_row[j];
            if (v > mx) {
                mx = v;
            }
        }
        t.mx[own] = mx;
    }
    __syncthreads();
    const unsigned int j = threadIdx.x; // this thread's key of every row (NX_ATT_MAX_SEQ threads)
    for (unsigned int qi = 0; qi < k.nq; ++qi) {
        float *srow = t.s + qi * NX_ATT_S_PITCH;
        if (j < nx_att_keys(k.i0 + qi, seq, causal) && t.keep[j]) {
            srow[j] = nx_exp(srow[j] - t.mx[qi]);
        }
    }
    __syncthreads();
    if (own < k.nq) {
        t.total[own] = nx_chunked(own_jn, [&](float acc, u64 jj) {
            return t.keep[jj] ? acc + own_row[jj] : acc;
        });
    }
    __syncthreads();
    for (unsigned int qi = 0; qi < k.nq; ++qi) {
        const unsigned int jn = nx_att_keys(k.i0 + qi, seq, causal);
        const u64 row = k.bh * seq + k.i0 + qi;
        float *srow = t.s + qi * NX_ATT_S_PITCH;
        if (j < seq) {
            const float pv = j < jn && t.keep[j] ? srow[j] / t.total[qi] : 0.0f;
            probs[row * seq + j] = pv;
            if (j < jn) {
                srow[j] = has_drop ? pv * drop[row * seq + j] : pv;
            }
        }
    }
    float *oblk = out + (k.b * seq + k.i0) * d + k.h * hd;
    nx_att_product(t, base + 2 * d, 3 * d, seq, hd, k.i0, k.nq, k.kend, causal, has_mask,
                   [&](unsigned int qi, unsigned int p, float acc) { oblk[qi * d + p] = acc; });
}

// dS (into `ds`, [batch, heads, seq, seq], j < jn of each row) and dq; blocks as the forward.
// dP as nx_att_scores of dout with v (· the dropout multiplier); per row: D_i by nx_chunked
// over kept j of fmaf(P, dP, acc) (the order of nx_warp_chunked_if), walked by one thread
// (nx_att_row_of_thread) on the row of P staged in shared memory; dS = (P · (dP − D_i)) · scale
// (0 when masked), one thread per key; dq by nx_att_product of dS with k.
extern "C" __global__ void __launch_bounds__(NX_ATT_THREADS)
    nx_attention_backward_dq_tiled(const float *qkv, const float *mask, unsigned int has_mask,
                                   const float *drop, unsigned int has_drop, const float *probs,
                                   const float *dout, float *ds, float *dqkv, u64 batch,
                                   u64 seq64, u64 heads64, u64 hd64, unsigned int causal,
                                   float scale) {
    __shared__ NxAttRows t;
    (void)batch;
    const unsigned int seq = (unsigned int)seq64, hd = (unsigned int)hd64;
    const u64 d = heads64 * hd64;
    const NxAttBlock k = nx_att_block(t, mask, has_mask, seq, (unsigned int)heads64, causal);
    const unsigned int apitch = nx_att_row_pitch(hd);
    const float *base = qkv + k.b * seq * 3 * d + k.h * hd;
    nx_att_stage(t.a, apitch, dout + k.b * seq * d + k.h * hd, d, k.i0, k.nq, hd);
    const float *mblk = drop + (k.bh * seq + k.i0) * seq;
    nx_att_scores(t, base + 2 * d, 3 * d, seq, hd, apitch, k.i0, k.nq, k.kend, causal, 0.0f,
                  [&](unsigned int qi, unsigned int j, float acc) {
                      return has_drop ? acc * mblk[qi * seq + j] : acc;
                  });
    __syncthreads(); // the dP rows are final; the key chunks are no longer read
    const unsigned int j = threadIdx.x; // this thread's key of every row (NX_ATT_MAX_SEQ threads)
    const float *pblk = probs + (k.bh * seq + k.i0) * seq;
    for (unsigned int qi = 0; qi < k.nq; ++qi) {
        if (j < nx_att_keys(k.i0 + qi, seq, causal)) {
            t.p[qi * NX_ATT_S_PITCH + j] = pblk[qi * seq + j];
        }
    }
    __syncthreads();
    const unsigned int own = nx_att_row_of_thread();
    if (own < k.nq) {
        const float *prow = t.p + own * NX_ATT_S_PITCH;
        const float *srow = t.s + own * NX_ATT_S_PITCH;
        const unsigned int jn = nx_att_keys(k.i0 + own, seq, causal);
        t.total[own] = nx_chunked(jn, [&](float acc, u64 jj) {
            return t.keep[jj] ? fmaf(prow[jj], srow[jj], acc) : acc;
        });
    }
    __syncthreads();
    float *dsblk = ds + (k.bh * seq + k.i0) * seq;
    for (unsigned int qi = 0; qi < k.nq; ++qi) {
        if (j < nx_att_keys(k.i0 + qi, seq, causal)) {
            const unsigned int e = qi * NX_ATT_S_PITCH + j;
            const float v = t.keep[j] ? (t.p[e] * (t.s[e] - t.total[qi])) * scale : 0.0f;
            t.s[e] = v;
            dsblk[qi * seq + j] = v;
        }
    }
    float *dqblk = dqkv + (k.b * seq + k.i0) * 3 * d + k.h * hd;
    nx_att_product(t, base + d, 3 * d, seq, hd, k.i0, k.nq, k.kend, causal, has_mask,
                   [&](unsigned int qi, unsigned int p, float acc) {
                       dqblk[qi * 3 * d + p] = acc;
                   });
}
