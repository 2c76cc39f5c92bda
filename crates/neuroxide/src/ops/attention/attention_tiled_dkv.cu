// Tiled exact attention, the dk/dv pass (after attention_tiled.cu in the same unit: its bounds
// and helpers). A block owns NX_ATT_DKV_KEYS key rows of one (batch, head) and gathers over the
// queries that see them, NX_ATT_DKV_TQ queries staged at a time; no atomics. Twice the key rows
// of the forward's tiles: every thread carries 8 keys' dk and dv (16 accumulators), so a staged
// query row feeds 16 fmaf per 2 scalar and 4 broadcast 16-byte loads, and each query row is
// staged once per 32 keys. The bounds are mirrored by TILED_DKV_ROWS in mod.rs.

constexpr u64 NX_ATT_DKV_KEYS = 32; // key rows per block
constexpr u64 NX_ATT_DKV_TQ = 32;   // query rows of one staged tile
// Outputs (a dk and a dv each) per thread: NX_ATT_DKV_KEYS rows of at most NX_ATT_MAX_HD.
constexpr unsigned int NX_ATT_DKV_OUTS = NX_ATT_DKV_KEYS * NX_ATT_MAX_HD / NX_ATT_THREADS;
static_assert(NX_ATT_DKV_OUTS % 4 == 0, "a thread's keys are read 4 at a time");

// Shared memory of the dk/dv kernel (24 KiB).
struct NxAttCols {
    float q[NX_ATT_DKV_TQ * NX_ATT_MAX_HD]; // a tile of query rows
    float g[NX_ATT_DKV_TQ * NX_ATT_MAX_HD]; // the same queries' rows of dout
    alignas(16) float ds[NX_ATT_DKV_TQ * NX_ATT_DKV_KEYS]; // dS[i][k0 + kj] of the tile
    alignas(16) float pm[NX_ATT_DKV_TQ * NX_ATT_DKV_KEYS]; // P[i][k0 + kj] · M[i][k0 + kj]
};

// dk and dv, one block per (b, h, NX_ATT_DKV_KEYS keys);
// grid = batch·heads·ceil(seq/NX_ATT_DKV_KEYS).
// Thread t owns outputs o = t + NX_ATT_THREADS·r (key kj = o / hd, column p = o % hd; with
// hd = 64, keys 8·(t / 64) + r of column t % 64, so its dS and P·M are two 16-byte loads each),
// each with a dk and a dv accumulator walking i increasing from i0(j) (j when causal, else 0;
// seq for a masked key, whose gradients stay 0), as the contract's gather:
//   dk = fmaf(dS[i][j], q_i[p], dk),  dv = fmaf(P[i][j] · M[i][j], dout_i[p], dv),
// with the query rows, dout rows and the block's columns of dS and P·M staged NX_ATT_DKV_TQ
// queries at a time. The rows of a tile from the latest i0(j) of the thread's keys on (all of
// them when not causal) are seen by every output: they take the straight path (no test per
// term); the rows before it (the causal diagonal) test i >= i0(j) per output.
extern "C" __global__ void __launch_bounds__(NX_ATT_THREADS, 3)
    nx_attention_backward_dkv_tiled(const float *qkv, const float *mask, unsigned int has_mask,
                                    const float *drop, unsigned int has_drop,
                                    const float *probs, const float *dout, const float *ds,
                                    float *dqkv, u64 batch, u64 seq64, u64 heads64, u64 hd64,
                                    unsigned int causal) {
    __shared__ NxAttCols t;
    (void)batch;
    // The tiled bounds (mod.rs: tiled_dkv_grid) keep seq, hd and every shared offset in 32 bits.
    const unsigned int seq = (unsigned int)seq64, hd = (unsigned int)hd64;
    const unsigned int heads = (unsigned int)heads64;
    const u64 d = heads64 * hd64;
    constexpr unsigned int keys = NX_ATT_DKV_KEYS;
    const unsigned int tiles = (seq + keys - 1) / keys;
    const unsigned int bh = blockIdx.x / tiles;
    const unsigned int k0 = (blockIdx.x - bh * tiles) * keys;
    const u64 b = bh / heads;
    const u64 h = bh - b * heads;
    const unsigned int nk = seq - k0 < keys ? seq - k0 : keys;
    const float *base = qkv + b * seq * 3 * d + h * hd;
    const float *gbase = dout + b * seq * d + h * hd;
    // This (b, h)'s [seq, seq] slabs of dS, P and M (offsets i·seq + j fit in 32 bits).
    const u64 slab = (u64)bh * seq * seq;
    const float *ds_bh = ds + slab;
    const float *pr_bh = probs + slab;
    const float *dr_bh = drop + slab;
    const bool one_col = NX_ATT_THREADS % hd == 0;
    const bool wide = hd * NX_ATT_DKV_KEYS == NX_ATT_THREADS * NX_ATT_DKV_OUTS;
    float dk[NX_ATT_DKV_OUTS], dv[NX_ATT_DKV_OUTS];
    unsigned int kj[NX_ATT_DKV_OUTS], pc[NX_ATT_DKV_OUTS], first[NX_ATT_DKV_OUTS];
    bool live[NX_ATT_DKV_OUTS]; // the output is inside the block's NX_ATT_DKV_KEYS keys
    unsigned int all_from = 0; // the first query every live output of the thread sees
#pragma unroll
    for (unsigned int r = 0; r < NX_ATT_DKV_OUTS; ++r) {
        const unsigned int o = threadIdx.x + NX_ATT_THREADS * r;
        dk[r] = 0.0f;
        dv[r] = 0.0f;
        kj[r] = wide ? threadIdx.x / hd * NX_ATT_DKV_OUTS + r : o / hd;
        pc[r] = wide ? threadIdx.x % hd : o - kj[r] * hd;
        live[r] = kj[r] < NX_ATT_DKV_KEYS;
        const unsigned int j = k0 + kj[r];
        const bool keep = kj[r] < nk && (!has_mask || mask[b * seq + j] != 0.0f);
        first[r] = keep ? (causal ? j : 0) : seq;
        if (live[r] && first[r] > all_from) {
            all_from = first[r];
        }
    }
    for (unsigned int i1 = causal ? k0 : 0; i1 < seq; i1 += NX_ATT_DKV_TQ) {
        const unsigned int n = seq - i1 < NX_ATT_DKV_TQ ? seq - i1 : (unsigned int)NX_ATT_DKV_TQ;
        __syncthreads(); // the previous tile's readers are done
        nx_att_stage(t.q, hd, base, 3 * d, i1, n, hd);
        nx_att_stage(t.g, hd, gbase, d, i1, n, hd);
        for (unsigned int e = threadIdx.x; e < n * NX_ATT_DKV_KEYS; e += NX_ATT_THREADS) {
            const unsigned int ii = e / NX_ATT_DKV_KEYS;
            const unsigned int c = e - ii * NX_ATT_DKV_KEYS;
            const unsigned int i = i1 + ii;
            const unsigned int j = k0 + c;
            // Only the entries a sum reads (j < jn(i)); the rest are never used.
            if (c < nk && j < nx_att_keys(i, seq, causal)) {
                const unsigned int sij = i * seq + j;
                t.ds[e] = ds_bh[sij];
                t.pm[e] = has_drop ? pr_bh[sij] * dr_bh[sij] : pr_bh[sij];
            }
        }
        __syncthreads();
        // One query row of the tile into every accumulator; `test`: the row may precede i0(j)
        // of some of the thread's keys (else every live output sees it: no test per term).
        const auto row = [&](unsigned int ii, bool test) {
            const unsigned int i = i1 + ii;
            // When hd divides the block, a thread's outputs share one column: one load each.
            const float q0 = t.q[ii * hd + pc[0]];
            const float g0 = t.g[ii * hd + pc[0]];
            if (wide) {
                float dsv[NX_ATT_DKV_OUTS], pmv[NX_ATT_DKV_OUTS];
                const float *dsr = t.ds + ii * NX_ATT_DKV_KEYS + kj[0];
                const float *pmr = t.pm + ii * NX_ATT_DKV_KEYS + kj[0];
#pragma unroll
                for (unsigned int r = 0; r < NX_ATT_DKV_OUTS; r += 4) {
                    const float4 d4 = *reinterpret_cast<const float4 *>(dsr + r);
                    const float4 m4 = *reinterpret_cast<const float4 *>(pmr + r);
                    dsv[r] = d4.x;
                    dsv[r + 1] = d4.y;
                    dsv[r + 2] = d4.z;
                    dsv[r + 3] = d4.w;
                    pmv[r] = m4.x;
                    pmv[r + 1] = m4.y;
                    pmv[r + 2] = m4.z;
                    pmv[r + 3] = m4.w;
                }
#pragma unroll
                for (unsigned int r = 0; r < NX_ATT_DKV_OUTS; ++r) {
                    if (!test || i >= first[r]) {
                        dk[r] = fmaf(dsv[r], q0, dk[r]);
                        dv[r] = fmaf(pmv[r], g0, dv[r]);
                    }
                }
                return;
            }
#pragma unroll
            for (unsigned int r = 0; r < NX_ATT_DKV_OUTS; ++r) {
                if (live[r] && (!test || i >= first[r])) {
                    const float qv = one_col ? q0 : t.q[ii * hd + pc[r]];
                    const float gv = one_col ? g0 : t.g[ii * hd + pc[r]];
                    dk[r] = fmaf(t.ds[ii * NX_ATT_DKV_KEYS + kj[r]], qv, dk[r]);
                    dv[r] = fmaf(t.pm[ii * NX_ATT_DKV_KEYS + kj[r]], gv, dv[r]);
                }
            }
        };
        // Rows ii < split precede the latest i0(j) of the thread's live keys; every live
        // output sees the rest. Each accumulator still takes the rows in increasing order.
        const unsigned int split = all_from <= i1 ? 0 : (all_from - i1 < n ? all_from - i1 : n);
        for (unsigned int ii = 0; ii < split; ++ii) {
            row(ii, true);
        }
#pragma unroll 4
        for (unsigned int ii = split; ii < n; ++ii) {
            row(ii, false);
        }
    }
#pragma unroll
    for (unsigned int r = 0; r < NX_ATT_DKV_OUTS; ++r) {
        if (kj[r] < nk) {
            const u64 j = k0 + kj[r];
            dqkv[(b * seq + j) * 3 * d + d + h * hd + pc[r]] = dk[r];
            dqkv[(b * seq + j) * 3 * d + 2 * d + h * hd + pc[r]] = dv[r];
        }
    }
}
