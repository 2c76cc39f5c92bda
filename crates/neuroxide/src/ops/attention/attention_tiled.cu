// Tiled exact attention (the order is the contract of ops/attention/mod.rs; attention.cu holds
// the warp-per-row kernels, kept for shapes past these tiles). Why: the warp-per-row kernels
// read a different key row on every lane (32 cache lines per load) and walk the products with
// V and K as chains of dependent global loads. Here a block of NX_ATT_THREADS threads owns a
// tile of NX_ATT_TQ query rows (or key rows, for dk/dv) of one (batch, head), stages the rows
// it multiplies with in shared memory NX_ATT_TK at a time, and every thread carries several
// outputs, each with its own single accumulator that walks its sum in exactly the contract's
// order (the tiles only change where an operand is read from, never the order of the terms).
// A masked or causally hidden term is predicated off, never added as a zero product (rule 2b).
// The softmax max and sum and the backward's D_i run the same warp helpers as the warp-per-row
// kernels (nx_warp_row_max, nx_warp_chunked_if) over the same values, on rows held in shared
// memory. The bounds below are mirrored by TILED_* in mod.rs (a test compares them).

constexpr u64 NX_ATT_TQ = 16;       // query rows (forward, dq) or key rows (dk/dv) per block
constexpr u64 NX_ATT_TK = 64;       // rows of one staged tile
constexpr u64 NX_ATT_MAX_SEQ = 256; // longest sequence the score rows of a block hold
constexpr u64 NX_ATT_MAX_HD = 64;   // largest head_dim
constexpr unsigned int NX_ATT_THREADS = 256;
// Outputs per thread: NX_ATT_TQ rows of at most NX_ATT_MAX_HD columns.
constexpr unsigned int NX_ATT_OUTS = NX_ATT_TQ * NX_ATT_MAX_HD / NX_ATT_THREADS;

// Shared memory of the forward and dq kernels (38 KiB, under the 48 KiB static limit).
struct NxAttRows {
    alignas(16) float a[NX_ATT_TQ * NX_ATT_MAX_HD];  // the block's rows of q (forward) or dout (dq)
    alignas(16) float s[NX_ATT_TQ * NX_ATT_MAX_SEQ]; // scores, then weights (forward); dP, then dS
    float kv[NX_ATT_TK * (NX_ATT_MAX_HD + 1)]; // one staged tile of k, v rows (odd pitch)
    int keep[NX_ATT_MAX_SEQ];                // key j takes part (key padding mask)
};

// dst[r * pitch + p] = src[(r0 + r) * stride + p] for r < n, p < hd (coalesced along p).
__device__ __forceinline__ void nx_att_stage(float *dst, u64 pitch, const float *src, u64 stride,
                                             u64 r0, u64 n, u64 hd) {
    // 32-bit index arithmetic (a tile holds at most NX_ATT_TK · NX_ATT_MAX_HD values): a
    // 64-bit division would cost dozens of instructions per element.
    const unsigned int total = (unsigned int)(n * hd);
    const unsigned int h = (unsigned int)hd;
    for (unsigned int e = threadIdx.x; e < total; e += NX_ATT_THREADS) {
        const unsigned int r = e / h;
        const unsigned int p = e - r * h;
        dst[r * pitch + p] = src[(r0 + r) * stride + p];
    }
}

// Keys seen by query i (before the mask): 0..=i when causal, else 0..seq.
__device__ __forceinline__ u64 nx_att_keys(u64 i, u64 seq, unsigned int causal) {
    return causal ? i + 1 : seq;
}

// Row-times-row products of the block's rows `a` (nq rows of hd) with the key-side rows
// `rows` (stride apart, keys 0..kend): for every query qi and kept key j in J(i),
//   acc = fmaf(a[qi][p], rows_j[p], acc), p = 0..hd-1 from 0; s[qi][j] = fin(qi, j, acc).
// A masked key j < jn gets s[qi][j] = masked. Thread t takes key t % NX_ATT_TK of each tile
// for queries t / NX_ATT_TK + 4r (a warp reads 32 different key rows of an odd pitch: no bank
// conflict; the query value is a broadcast).
template <typename Fin>
__device__ __forceinline__ void nx_att_scores(NxAttRows &t, const float *rows, u64 stride,
                                              u64 seq, u64 hd, u64 i0, u64 nq, u64 kend,
                                              unsigned int causal, float masked, Fin fin) {
    constexpr u64 groups = NX_ATT_THREADS / NX_ATT_TK;
    const u64 pitch = hd | 1;
    const u64 kj = threadIdx.x % NX_ATT_TK;
    const u64 qr = threadIdx.x / NX_ATT_TK;
    for (u64 j0 = 0; j0 < kend; j0 += NX_ATT_TK) {
        const u64 n = kend - j0 < NX_ATT_TK ? kend - j0 : NX_ATT_TK;
        __syncthreads(); // the previous tile's readers are done
        nx_att_stage(t.kv, pitch, rows, stride, j0, n, hd);
        __syncthreads();
        const u64 j = j0 + kj;
        float acc[NX_ATT_TQ / groups];
#pragma unroll
        for (u64 r = 0; r < NX_ATT_TQ / groups; ++r) {
            acc[r] = 0.0f;
        }
        // Rows past nq or keys past n read stale shared values; their sums are discarded.
        u64 p = 0;
        if (hd % 4 == 0) {
            // Four terms at a time: one 16-byte load of each query row, the terms still added
            // p, p + 1, p + 2, p + 3 into each accumulator.
            for (; p < hd; p += 4) {
                const float *kr = t.kv + kj * pitch + p;
                const float k0 = kr[0], k1 = kr[1], k2 = kr[2], k3 = kr[3];
#pragma unroll
                for (u64 r = 0; r < NX_ATT_TQ / groups; ++r) {
                    const float4 a4 =
                        *reinterpret_cast<const float4 *>(t.a + (qr + groups * r) * hd + p);
                    acc[r] = fmaf(a4.x, k0, acc[r]);
                    acc[r] = fmaf(a4.y, k1, acc[r]);
                    acc[r] = fmaf(a4.z, k2, acc[r]);
                    acc[r] = fmaf(a4.w, k3, acc[r]);
                }
            }
        }
        for (; p < hd; ++p) {
            const float k = t.kv[kj * pitch + p];
#pragma unroll
            for (u64 r = 0; r < NX_ATT_TQ / groups; ++r) {
                acc[r] = fmaf(t.a[(qr + groups * r) * hd + p], k, acc[r]);
            }
        }
#pragma unroll
        for (u64 r = 0; r < NX_ATT_TQ / groups; ++r) {
            const u64 qi = qr + groups * r;
            if (kj < n && qi < nq && j < nx_att_keys(i0 + qi, seq, causal)) {
                t.s[qi * NX_ATT_MAX_SEQ + j] = t.keep[j] ? fin(qi, j, acc[r]) : masked;
            }
        }
    }
}

// out[qi][p] = Σ_{j in J(i), kept} fmaf(s[qi][j], rows_j[p], acc), j increasing from 0, with
// the key-side rows staged a tile at a time; store(qi, p, acc) for each of the block's
// outputs. Thread t owns outputs o = t + NX_ATT_THREADS·r (qi = o / hd, p = o % hd): its
// accumulators advance one key at a time, side by side, each in its own order.
template <typename Store>
__device__ __forceinline__ void nx_att_product(NxAttRows &t, const float *rows, u64 stride,
                                               u64 seq, u64 hd, u64 i0, u64 nq, u64 kend,
                                               unsigned int causal, Store store) {
    const u64 pitch = hd | 1;
    const bool one_col = NX_ATT_THREADS % hd == 0;
    float acc[NX_ATT_OUTS];
    u64 qi[NX_ATT_OUTS], pc[NX_ATT_OUTS], jn[NX_ATT_OUTS];
#pragma unroll
    for (unsigned int r = 0; r < NX_ATT_OUTS; ++r) {
        const u64 o = threadIdx.x + (u64)NX_ATT_THREADS * r;
        acc[r] = 0.0f;
        qi[r] = o / hd;
        pc[r] = o - qi[r] * hd;
        // An output past the tile sees no key.
        jn[r] = qi[r] < nq ? nx_att_keys(i0 + qi[r], seq, causal) : 0;
    }
    for (u64 j0 = 0; j0 < kend; j0 += NX_ATT_TK) {
        const u64 n = kend - j0 < NX_ATT_TK ? kend - j0 : NX_ATT_TK;
        __syncthreads(); // the score rows are final; the previous tile's readers are done
        nx_att_stage(t.kv, pitch, rows, stride, j0, n, hd);
        __syncthreads();
        // Four keys at a time (one 16-byte load of each score row; keys past n, past J(i) or
        // masked are predicated off), each accumulator still taking j, j + 1, j + 2, j + 3.
        for (u64 jj = 0; jj < n; jj += 4) {
            const u64 j = j0 + jj;
            bool on[4];
            float v0[4]; // when hd divides the block, a thread's outputs share one column
#pragma unroll
            for (unsigned int u = 0; u < 4; ++u) {
                on[u] = jj + u < n && t.keep[j + u];
                v0[u] = t.kv[(jj + u) * pitch + pc[0]];
            }
#pragma unroll
            for (unsigned int r = 0; r < NX_ATT_OUTS; ++r) {
                if (j < jn[r]) {
                    const float4 s4 =
                        *reinterpret_cast<const float4 *>(t.s + qi[r] * NX_ATT_MAX_SEQ + j);
                    const float sv[4] = {s4.x, s4.y, s4.z, s4.w};
#pragma unroll
                    for (unsigned int u = 0; u < 4; ++u) {
                        if (on[u] && j + u < jn[r]) {
                            const float v = one_col ? v0[u] : t.kv[(jj + u) * pitch + pc[r]];
                            acc[r] = fmaf(sv[u], v, acc[r]);
                        }
                    }
                }
            }
        }
    }
#pragma unroll
    for (unsigned int r = 0; r < NX_ATT_OUTS; ++r) {
        if (qi[r] < nq) {
            store(qi[r], pc[r], acc[r]);
        }
    }
}

// The block's (b, h, first query i0, row count nq, last key kend) and the key flags.
struct NxAttBlock {
    u64 b, h, bh, i0, nq, kend;
};

__device__ __forceinline__ NxAttBlock nx_att_block(NxAttRows &t, const float *mask,
                                                   unsigned int has_mask, u64 seq, u64 heads,
                                                   unsigned int causal) {
    const u64 tiles = (seq + NX_ATT_TQ - 1) / NX_ATT_TQ;
    NxAttBlock k;
    k.bh = blockIdx.x / tiles;
    k.i0 = (blockIdx.x - k.bh * tiles) * NX_ATT_TQ;
    k.b = k.bh / heads;
    k.h = k.bh - k.b * heads;
    k.nq = seq - k.i0 < NX_ATT_TQ ? seq - k.i0 : NX_ATT_TQ;
    k.kend = causal ? k.i0 + k.nq : seq;
    for (u64 j = threadIdx.x; j < seq; j += NX_ATT_THREADS) {
        t.keep[j] = !has_mask || mask[k.b * seq + j] != 0.0f;
    }
    return k;
}

// Forward, one block per (b, h, NX_ATT_TQ queries); grid = batch·heads·ceil(seq/NX_ATT_TQ).
// Scores as nx_att_scores (· scale; a masked key enters the max as -inf, which `if (s > mx)`
// never takes); per row (one warp): mx by nx_warp_row_max over j < jn, e = nx_exp(s - mx) for
// kept j, sum by nx_warp_chunked_if over kept j, P = e / sum (0 when masked or j >= jn);
// out by nx_att_product with the weights times the dropout multipliers.
extern "C" __global__ void __launch_bounds__(NX_ATT_THREADS)
    nx_attention_forward_tiled(const float *qkv, const float *mask, unsigned int has_mask,
                               const float *drop, unsigned int has_drop, float *out,
                               float *probs, u64 batch, u64 seq, u64 heads, u64 hd,
                               unsigned int causal, float scale) {
    __shared__ NxAttRows t;
    (void)batch;
    const u64 d = heads * hd;
    const NxAttBlock k = nx_att_block(t, mask, has_mask, seq, heads, causal);
    const float *base = qkv + k.b * seq * 3 * d + k.h * hd;
    nx_att_stage(t.a, hd, base, 3 * d, k.i0, k.nq, hd);
    nx_att_scores(t, base + d, 3 * d, seq, hd, k.i0, k.nq, k.kend, causal, NX_NEG_INF,
                  [&](u64, u64, float acc) { return acc * scale; });
    __syncthreads();
    const unsigned int lane = threadIdx.x & 31;
    for (u64 qi = threadIdx.x / 32; qi < k.nq; qi += NX_ATT_THREADS / 32) {
        const u64 jn = nx_att_keys(k.i0 + qi, seq, causal);
        const u64 row = k.bh * seq + k.i0 + qi;
        float *srow = t.s + qi * NX_ATT_MAX_SEQ;
        const float mx = nx_warp_row_max(srow, jn, lane);
        __syncwarp();
        for (u64 j = lane; j < jn; j += 32) {
            if (t.keep[j]) {
                srow[j] = nx_exp(srow[j] - mx);
            }
        }
        __syncwarp();
        const float sum = nx_warp_chunked_if(
            jn, lane, [&](u64 j) { return t.keep[j] != 0; },
            [&](u64 j, float &a, float &) { a = srow[j]; },
            [](float acc, float a, float) { return acc + a; });
        __syncwarp();
        float *prow = probs + row * seq;
        const float *mrow = drop + row * seq;
        for (u64 j = lane; j < seq; j += 32) {
            const float pv = j < jn && t.keep[j] ? srow[j] / sum : 0.0f;
            prow[j] = pv;
            if (j < jn) {
                srow[j] = has_drop ? pv * mrow[j] : pv;
            }
        }
    }
    nx_att_product(t, base + 2 * d, 3 * d, seq, hd, k.i0, k.nq, k.kend, causal,
                   [&](u64 qi, u64 p, float acc) {
                       out[(k.b * seq + k.i0 + qi) * d + k.h * hd + p] = acc;
                   });
}

// dS (into `ds`, [batch, heads, seq, seq], j < jn of each row) and dq; blocks as the forward.
// dP as nx_att_scores of dout with v (· the dropout multiplier); per row (one warp): D_i by
// nx_warp_chunked_if over kept j of fmaf(P, dP, acc); dS = (P · (dP − D_i)) · scale (0 when
// masked); dq by nx_att_product of dS with k.
extern "C" __global__ void __launch_bounds__(NX_ATT_THREADS)
    nx_attention_backward_dq_tiled(const float *qkv, const float *mask, unsigned int has_mask,
                                   const float *drop, unsigned int has_drop, const float *probs,
                                   const float *dout, float *ds, float *dqkv, u64 batch, u64 seq,
                                   u64 heads, u64 hd, unsigned int causal, float scale) {
    __shared__ NxAttRows t;
    (void)batch;
    const u64 d = heads * hd;
    const NxAttBlock k = nx_att_block(t, mask, has_mask, seq, heads, causal);
    const float *base = qkv + k.b * seq * 3 * d + k.h * hd;
    nx_att_stage(t.a, hd, dout + k.b * seq * d + k.h * hd, d, k.i0, k.nq, hd);
    const float *mblk = drop + (k.bh * seq + k.i0) * seq;
    nx_att_scores(t, base + 2 * d, 3 * d, seq, hd, k.i0, k.nq, k.kend, causal, 0.0f,
                  [&](u64 qi, u64 j, float acc) {
                      return has_drop ? acc * mblk[qi * seq + j] : acc;
                  });
    __syncthreads();
    const unsigned int lane = threadIdx.x & 31;
    for (u64 qi = threadIdx.x / 32; qi < k.nq; qi += NX_ATT_THREADS / 32) {
        const u64 jn = nx_att_keys(k.i0 + qi, seq, causal);
        const u64 row = k.bh * seq + k.i0 + qi;
        float *srow = t.s + qi * NX_ATT_MAX_SEQ;
        const float *prow = probs + row * seq;
        const float dd = nx_warp_chunked_if(
            jn, lane, [&](u64 j) { return t.keep[j] != 0; },
            [&](u64 j, float &a, float &bb) {
                a = prow[j];
                bb = srow[j];
            },
            [](float acc, float a, float bb) { return fmaf(a, bb, acc); });
        __syncwarp();
        float *dsrow = ds + row * seq;
        for (u64 j = lane; j < jn; j += 32) {
            const float v = t.keep[j] ? (prow[j] * (srow[j] - dd)) * scale : 0.0f;
            srow[j] = v;
            dsrow[j] = v;
        }
    }
    nx_att_product(t, base + d, 3 * d, seq, hd, k.i0, k.nq, k.kend, causal,
                   [&](u64 qi, u64 p, float acc) {
                       dqkv[(k.b * seq + k.i0 + qi) * 3 * d + k.h * hd + p] = acc;
                   });
}

// Shared memory of the dk/dv kernel (40 KiB).
struct NxAttCols {
    float q[NX_ATT_TK * NX_ATT_MAX_HD];  // a tile of query rows
    float g[NX_ATT_TK * NX_ATT_MAX_HD];  // the same queries' rows of dout
    alignas(16) float ds[NX_ATT_TK * NX_ATT_TQ]; // dS[i][k0 + kj] of the tile
    alignas(16) float pm[NX_ATT_TK * NX_ATT_TQ]; // P[i][k0 + kj] · M[i][k0 + kj] of the tile
};

// dk and dv, one block per (b, h, NX_ATT_TQ keys); grid = batch·heads·ceil(seq/NX_ATT_TQ).
// Thread t owns outputs o = t + NX_ATT_THREADS·r (key kj = o / hd, column p = o % hd; with
// hd = 64, keys 4·(t / 64) + r of column t % 64, so its dS and P·M are one 16-byte load), each
// with a dk and a dv accumulator walking i increasing from i0(j) (j when causal, else 0; seq
// for a masked key, whose gradients stay 0), as the contract's gather:
//   dk = fmaf(dS[i][j], q_i[p], dk),  dv = fmaf(P[i][j] · M[i][j], dout_i[p], dv),
// with the query rows, dout rows and the block's columns of dS and P·M staged NX_ATT_TK
// queries at a time.
extern "C" __global__ void __launch_bounds__(NX_ATT_THREADS)
    nx_attention_backward_dkv_tiled(const float *qkv, const float *mask, unsigned int has_mask,
                                    const float *drop, unsigned int has_drop,
                                    const float *probs, const float *dout, const float *ds,
                                    float *dqkv, u64 batch, u64 seq, u64 heads, u64 hd,
                                    unsigned int causal) {
    __shared__ NxAttCols t;
    (void)batch;
    const u64 d = heads * hd;
    const u64 tiles = (seq + NX_ATT_TQ - 1) / NX_ATT_TQ;
    const u64 bh = blockIdx.x / tiles;
    const u64 k0 = (blockIdx.x - bh * tiles) * NX_ATT_TQ;
    const u64 b = bh / heads;
    const u64 h = bh - b * heads;
    const u64 nk = seq - k0 < NX_ATT_TQ ? seq - k0 : NX_ATT_TQ;
    const float *base = qkv + b * seq * 3 * d + h * hd;
    const float *gbase = dout + b * seq * d + h * hd;
    const bool one_col = NX_ATT_THREADS % hd == 0;
    const bool quad = hd * NX_ATT_TQ == NX_ATT_THREADS * NX_ATT_OUTS;
    float dk[NX_ATT_OUTS], dv[NX_ATT_OUTS];
    u64 kj[NX_ATT_OUTS], pc[NX_ATT_OUTS], first[NX_ATT_OUTS];
#pragma unroll
    for (unsigned int r = 0; r < NX_ATT_OUTS; ++r) {
        const u64 o = threadIdx.x + (u64)NX_ATT_THREADS * r;
        dk[r] = 0.0f;
        dv[r] = 0.0f;
        kj[r] = quad ? threadIdx.x / hd * NX_ATT_OUTS + r : o / hd;
        pc[r] = quad ? threadIdx.x % hd : o - kj[r] * hd;
        const u64 j = k0 + kj[r];
        const bool keep = kj[r] < nk && (!has_mask || mask[b * seq + j] != 0.0f);
        first[r] = keep ? (causal ? j : 0) : seq;
    }
    for (u64 i1 = causal ? k0 : 0; i1 < seq; i1 += NX_ATT_TK) {
        const u64 n = seq - i1 < NX_ATT_TK ? seq - i1 : NX_ATT_TK;
        __syncthreads(); // the previous tile's readers are done
        nx_att_stage(t.q, hd, base, 3 * d, i1, n, hd);
        nx_att_stage(t.g, hd, gbase, d, i1, n, hd);
        for (u64 e = threadIdx.x; e < n * NX_ATT_TQ; e += NX_ATT_THREADS) {
            const u64 ii = e / NX_ATT_TQ;
            const u64 c = e - ii * NX_ATT_TQ;
            const u64 i = i1 + ii;
            const u64 j = k0 + c;
            // Only the entries a sum reads (j < jn(i)); the rest are never used.
            if (c < nk && j < nx_att_keys(i, seq, causal)) {
                const u64 sij = (bh * seq + i) * seq + j;
                t.ds[e] = ds[sij];
                t.pm[e] = has_drop ? probs[sij] * drop[sij] : probs[sij];
            }
        }
        __syncthreads();
        if (quad) {
            for (u64 ii = 0; ii < n; ++ii) {
                const u64 i = i1 + ii;
                const float q0 = t.q[ii * hd + pc[0]];
                const float g0 = t.g[ii * hd + pc[0]];
                const float4 d4 = *reinterpret_cast<const float4 *>(t.ds + ii * NX_ATT_TQ + kj[0]);
                const float4 m4 = *reinterpret_cast<const float4 *>(t.pm + ii * NX_ATT_TQ + kj[0]);
                const float dsv[4] = {d4.x, d4.y, d4.z, d4.w};
                const float pmv[4] = {m4.x, m4.y, m4.z, m4.w};
#pragma unroll
                for (unsigned int r = 0; r < NX_ATT_OUTS; ++r) {
                    if (i >= first[r]) {
                        dk[r] = fmaf(dsv[r], q0, dk[r]);
                        dv[r] = fmaf(pmv[r], g0, dv[r]);
                    }
                }
            }
            continue;
        }
        for (u64 ii = 0; ii < n; ++ii) {
            const u64 i = i1 + ii;
            // When hd divides the block, a thread's outputs share one column: one load each.
            const float q0 = t.q[ii * hd + pc[0]];
            const float g0 = t.g[ii * hd + pc[0]];
#pragma unroll
            for (unsigned int r = 0; r < NX_ATT_OUTS; ++r) {
                if (i >= first[r]) {
                    const float qv = one_col ? q0 : t.q[ii * hd + pc[r]];
                    const float gv = one_col ? g0 : t.g[ii * hd + pc[r]];
                    dk[r] = fmaf(t.ds[ii * NX_ATT_TQ + kj[r]], qv, dk[r]);
                    dv[r] = fmaf(t.pm[ii * NX_ATT_TQ + kj[r]], gv, dv[r]);
                }
            }
        }
    }
#pragma unroll
    for (unsigned int r = 0; r < NX_ATT_OUTS; ++r) {
        if (kj[r] < nk) {
            const u64 j = k0 + kj[r];
            dqkv[(b * seq + j) * 3 * d + d + h * hd + pc[r]] = dk[r];
            dqkv[(b * seq + j) * 3 * d + 2 * d + h * hd + pc[r]] = dv[r];
        }
    }
}
