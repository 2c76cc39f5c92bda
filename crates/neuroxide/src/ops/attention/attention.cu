// Fused exact attention (ops/attention/mod.rs states the order). One warp per (batch, head,
// query) row: lanes compute the scores of keys lane, lane + 32, ... (each a sequential fmaf dot
// product), the max and the softmax sum walk the keys in order through warp shuffles, and
// lanes own the output columns p = lane, lane + 32, ... for the products with V. The backward
// has the same shape for dq (rows i) and a second pass with one warp per key j for dk and dv
// (a gather over the queries; no atomics).

__device__ __forceinline__ void nx_attn_row(u64 row, u64 seq, u64 heads, u64 *b, u64 *h, u64 *i) {
    *i = row % seq;
    const u64 bh = row / seq;
    *h = bh % heads;
    *b = bh / heads;
}

// Key `j` of sequence `b` takes part unless a key padding mask is given and mask[b*seq + j] == 0.
#define NX_KEEP(j) (!has_mask || km[(j)] != 0.0f)

extern "C" __global__ void nx_attention_forward(const float *qkv, const float *mask,
                                                unsigned int has_mask, const float *drop,
                                                unsigned int has_drop, float *out, float *probs,
                                                u64 batch, u64 seq, u64 heads, u64 hd,
                                                unsigned int causal, float scale) {
    const u64 d = heads * hd;
    NX_WARP_ROWS(row, lane, batch * heads * seq) {
        u64 b, h, i;
        nx_attn_row(row, seq, heads, &b, &h, &i);
        const u64 jn = causal ? i + 1 : seq;
        const float *km = mask + b * seq;
        const float *q = qkv + (b * seq + i) * 3 * d + h * hd;
        float *prow = probs + row * seq;
        for (u64 j = lane; j < jn; j += 32) {
            const float *k = qkv + (b * seq + j) * 3 * d + d + h * hd;
            float acc = 0.0f;
            for (u64 p = 0; p < hd; ++p) {
                acc = fmaf(q[p], k[p], acc);
            }
            // A masked key enters the max as -inf, which `if (s > mx)` never takes: the same
            // as skipping it.
            prow[j] = NX_KEEP(j) ? acc * scale : NX_NEG_INF;
        }
        __syncwarp();
        const float mx = nx_warp_row_max(prow, jn, lane);
        __syncwarp();
        for (u64 j = lane; j < jn; j += 32) {
            if (NX_KEEP(j)) {
                prow[j] = nx_exp(prow[j] - mx);
            }
        }
        __syncwarp();
        const float sum = nx_warp_chunked_if(
            jn, lane, [&](u64 j) { return NX_KEEP(j); },
            [&](u64 j, float &a, float &) { a = prow[j]; },
            [](float acc, float a, float) { return acc + a; });
        __syncwarp();
        for (u64 j = lane; j < seq; j += 32) {
            prow[j] = j < jn && NX_KEEP(j) ? prow[j] / sum : 0.0f;
        }
        __syncwarp();
        const float *mrow = drop + row * seq;
        for (u64 p = lane; p < hd; p += 32) {
            float acc = 0.0f;
            for (u64 j = 0; j < jn; ++j) {
                if (!NX_KEEP(j)) {
                    continue;
                }
                const float pj = has_drop ? prow[j] * mrow[j] : prow[j];
                acc = fmaf(pj, qkv[(b * seq + j) * 3 * d + 2 * d + h * hd + p], acc);
            }
            out[(b * seq + i) * d + h * hd + p] = acc;
        }
    }
}

// dS (into `ds`, [batch, heads, seq, seq]) and dq, one warp per query row i.
extern "C" __global__ void nx_attention_backward_dq(const float *qkv, const float *mask,
                                                    unsigned int has_mask, const float *drop,
                                                    unsigned int has_drop, const float *probs,
                                                    const float *dout, float *ds, float *dqkv,
                                                    u64 batch, u64 seq, u64 heads, u64 hd,
                                                    unsigned int causal, float scale) {
    const u64 d = heads * hd;
    NX_WARP_ROWS(row, lane, batch * heads * seq) {
        u64 b, h, i;
        nx_attn_row(row, seq, heads, &b, &h, &i);
        const u64 jn = causal ? i + 1 : seq;
        const float *km = mask + b * seq;
        const float *go = dout + (b * seq + i) * d + h * hd;
        const float *prow = probs + row * seq;
        float *dsrow = ds + row * seq;
        for (u64 j = lane; j < jn; j += 32) {
            const float *v = qkv + (b * seq + j) * 3 * d + 2 * d + h * hd;
            float acc = 0.0f;
            for (u64 p = 0; p < hd; ++p) {
                acc = fmaf(go[p], v[p], acc);
            }
            dsrow[j] = has_drop ? acc * drop[row * seq + j] : acc;
        }
        __syncwarp();
        const float dd = nx_warp_chunked_if(
            jn, lane, [&](u64 j) { return NX_KEEP(j); },
            [&](u64 j, float &a, float &bb) {
                a = prow[j];
                bb = dsrow[j];
            },
            [](float acc, float a, float bb) { return fmaf(a, bb, acc); });
        __syncwarp();
        for (u64 j = lane; j < jn; j += 32) {
            dsrow[j] = NX_KEEP(j) ? (prow[j] * (dsrow[j] - dd)) * scale : 0.0f;
        }
        __syncwarp();
        for (u64 p = lane; p < hd; p += 32) {
            float acc = 0.0f;
            for (u64 j = 0; j < jn; ++j) {
                if (!NX_KEEP(j)) {
                    continue;
                }
                acc = fmaf(dsrow[j], qkv[(b * seq + j) * 3 * d + d + h * hd + p], acc);
            }
            dqkv[(b * seq + i) * 3 * d + h * hd + p] = acc;
        }
    }
}

// dk and dv, one warp per key row j: gathers over the queries i that see key j, in order.
extern "C" __global__ void nx_attention_backward_dkv(const float *qkv, const float *mask,
                                                     unsigned int has_mask, const float *drop,
                                                     unsigned int has_drop, const float *probs,
                                                     const float *dout, const float *ds,
                                                     float *dqkv, u64 batch, u64 seq, u64 heads,
                                                     u64 hd, unsigned int causal) {
    const u64 d = heads * hd;
    NX_WARP_ROWS(row, lane, batch * heads * seq) {
        u64 b, h, j;
        nx_attn_row(row, seq, heads, &b, &h, &j);
        const u64 bh = row / seq;
        const float *km = mask + b * seq;
        // A masked key takes part in no sum: its gradients are 0.
        const u64 i0 = NX_KEEP(j) ? (causal ? j : 0) : seq;
        for (u64 p = lane; p < hd; p += 32) {
            float dk = 0.0f;
            float dv = 0.0f;
            for (u64 i = i0; i < seq; ++i) {
                const u64 sij = (bh * seq + i) * seq + j;
                dk = fmaf(ds[sij], qkv[(b * seq + i) * 3 * d + h * hd + p], dk);
                const float pij = has_drop ? probs[sij] * drop[sij] : probs[sij];
                dv = fmaf(pij, dout[(b * seq + i) * d + h * hd + p], dv);
            }
            dqkv[(b * seq + j) * 3 * d + d + h * hd + p] = dk;
            dqkv[(b * seq + j) * 3 * d + 2 * d + h * hd + p] = dv;
        }
    }
}

// Attention dropout multipliers (ops/attention/dropout.rs): element i is `scale` when the
// Dropout layer's draw for i keeps it, else 0: word i % 4 of philox4x32_10(counter = [i/4 low,
// i/4 high, stream, step], key = [seed low, seed high]), kept when uniform01(word) >= p. With a
// per-step scalar block the step counter is read there (PARITY rule 8).
extern "C" __global__ void nx_attention_dropout_mask(float *mask, u64 n, float p, float scale,
                                                     u64 seed, unsigned int stream,
                                                     unsigned int step, const float *step_block) {
    if (step_block != nullptr) {
        step = __float_as_uint(step_block[NX_BLOCK_DROPOUT_STEP]);
    }
    NX_GRID_STRIDE(i, n) {
        const u64 block = i / 4;
        unsigned int w[4];
        nx_philox_words((unsigned int)block, (unsigned int)(block >> 32), stream, step,
                        (unsigned int)seed, (unsigned int)(seed >> 32), w);
        mask[i] = nx_uniform01(w[i % 4]) >= p ? scale : 0.0f;
    }
}
