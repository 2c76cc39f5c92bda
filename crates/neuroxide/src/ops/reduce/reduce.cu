// Reductions (ops/reduce/). Chunked (mod.rs, axis.rs): column sums, sums of squares and sums or
// means over any axis, in the order of PARITY rule 2a (ops/reduce/chunked.cuh). Many threads:
// one per (column, chunk) or one lane per chunk for the partials, then one thread per output
// (or one block per long row) for the in-order sum of its partials.

// Pass 1 of column sums: partial[c * cols + j] = chunk c of sum_i x[i*cols + j]. When the
// reduction has one chunk, `partial` is the output itself. Grid: (column blocks, chunks).
extern "C" __global__ void nx_column_sums_partial(const float *x, float *partial, u64 rows,
                                                  u64 cols) {
    const u64 j = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const u64 c = blockIdx.y;
    if (j >= cols) {
        return;
    }
    partial[c * cols + j] =
        nx_chunk_partial(rows, c, [&](float acc, u64 i) { return acc + x[i * cols + j]; });
}

// Pass 2: out[j] = partial[0*cols + j] + partial[1*cols + j] + ... in chunk order.
extern "C" __global__ void nx_column_sums_total(const float *partial, float *out, u64 chunks,
                                                u64 cols) {
    NX_GRID_STRIDE(j, cols) { out[j] = nx_sum_partials(partial + j, chunks, cols); }
}

// ---- Contiguous rows: `rows` rows of `n` values, each reduced in the chunked order ----------

#define NX_ROW_WARPS 8

// Pass 1: dst[r*cpr + q] = chunk q of row r (cpr = nx_chunks(n)) as a plain sum, or as a sum
// of squares (fmaf(v, v, acc)) when SQUARE. A warp takes 32 chunks at a time, lane l owning
// chunk l: the warp reads each chunk 32 values at a time with consecutive lanes on
// consecutive addresses (coalesced), stages them in shared memory, and every lane then folds
// its own chunk's values in index order. When a row is one chunk, dst is the output and a
// mean's division by n happens here.
template <bool SQUARE>
__device__ __forceinline__ void nx_row_partials(const float *__restrict__ x, u64 rows, u64 n,
                                                float *__restrict__ dst, int mean) {
    __shared__ float tile[NX_ROW_WARPS][32][33];
    const unsigned int lane = threadIdx.x & 31;
    const unsigned int w = threadIdx.x >> 5;
    const u64 cpr = nx_chunks(n);
    const u64 items = rows * cpr;
    const u64 step = (u64)gridDim.x * NX_ROW_WARPS * 32;
    for (u64 base = ((u64)blockIdx.x * NX_ROW_WARPS + w) * 32; base < items; base += step) {
        const u64 mine = base + lane;
        u64 start = 0;
        unsigned int len = 0;
        if (mine < items) {
            const u64 r = mine / cpr;
            const u64 q = mine - r * cpr;
            const u64 left = n - q * NX_CHUNK;
            start = r * n + q * NX_CHUNK;
            len = left < NX_CHUNK ? (unsigned int)left : (unsigned int)NX_CHUNK;
        }
        float acc = 0.0f;
        for (unsigned int s = 0; __any_sync(NX_FULL_MASK, len > s); s += 32) {
#pragma unroll
            for (unsigned int t = 0; t < 32; ++t) {
                const u64 st = __shfl_sync(NX_FULL_MASK, start, t);
                const unsigned int ln = __shfl_sync(NX_FULL_MASK, len, t);
                tile[w][t][lane] = s + lane < ln ? x[st + s + lane] : 0.0f;
            }
            __syncwarp();
            const unsigned int cnt = len > s ? (len - s < 32 ? len - s : 32) : 0;
            for (unsigned int e = 0; e < cnt; ++e) {
                const float v = tile[w][lane][e];
                acc = SQUARE ? fmaf(v, v, acc) : acc + v;
            }
            __syncwarp();
        }
        if (mine < items) {
            dst[mine] = (mean && cpr == 1) ? acc / (float)n : acc;
        }
    }
}

extern "C" __global__ void __launch_bounds__(NX_ROW_WARPS * 32)
    nx_row_sum_partials(const float *x, u64 rows, u64 n, float *dst, int mean) {
    nx_row_partials<false>(x, rows, n, dst, mean);
}

extern "C" __global__ void __launch_bounds__(NX_ROW_WARPS * 32)
    nx_row_sum_squares_partials(const float *x, u64 rows, u64 n, float *dst, int mean) {
    nx_row_partials<true>(x, rows, n, dst, mean);
}

// Pass 2, one thread per row (rows of few chunks): out[offset + r] = the row's partials in
// chunk order, divided by n for a mean.
extern "C" __global__ void nx_row_totals(const float *partial, u64 rows, u64 n, float *out,
                                         u64 offset, int mean) {
    const u64 cpr = nx_chunks(n);
    NX_GRID_STRIDE(r, rows) {
        const float s = nx_sum_partials(partial + r * cpr, cpr, 1);
        out[offset + r] = mean ? s / (float)n : s;
    }
}

// Pass 2, one block per row (rows of many chunks, such as one long sum of squares). The chain
// of additions is sequential by contract; warps 1.. stage the next tile of partials in shared
// memory while thread 0 adds the current one, so the chain never waits on global memory.
#define NX_FOLD_TILE 4096
extern "C" __global__ void nx_row_totals_block(const float *partial, u64 n, float *out,
                                               u64 offset, int mean) {
    __shared__ float buf[2][NX_FOLD_TILE];
    const u64 cpr = nx_chunks(n);
    const float *p = partial + (u64)blockIdx.x * cpr;
    const u64 tiles = (cpr + NX_FOLD_TILE - 1) / NX_FOLD_TILE;
    for (u64 i = threadIdx.x; i < cpr && i < NX_FOLD_TILE; i += blockDim.x) {
        buf[0][i] = p[i];
    }
    __syncthreads();
    float total = 0.0f;
    for (u64 t = 0; t < tiles; ++t) {
        const int cur = (int)(t & 1);
        const u64 next = (t + 1) * NX_FOLD_TILE;
        if (threadIdx.x >= 32) {
            if (next < cpr) {
                const u64 cnt = cpr - next < NX_FOLD_TILE ? cpr - next : NX_FOLD_TILE;
                for (u64 i = threadIdx.x - 32; i < cnt; i += blockDim.x - 32) {
                    buf[cur ^ 1][i] = p[next + i];
                }
            }
        } else if (threadIdx.x == 0) {
            const u64 b = t * NX_FOLD_TILE;
            const u64 cnt = cpr - b < NX_FOLD_TILE ? cpr - b : NX_FOLD_TILE;
            u64 i = 0;
            if (t == 0) {
                total = buf[0][0]; // the first partial itself, not 0 + it (keeps a -0)
                i = 1;
            }
#pragma unroll 8
            for (; i < cnt; ++i) {
                total = total + buf[cur][i];
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out[offset + blockIdx.x] = mean ? total / (float)n : total;
    }
}

// ---- Any axis with values after it: x is outer x n x inner, reduced over n -------------------

// Pass 1: dst[(o*cpr + c)*inner + j] = chunk c of sum_i x[(o*n + i)*inner + j] (the output
// itself, a mean divided by n, when cpr == 1). Grid: (column blocks, outer x chunks).
extern "C" __global__ void nx_axis_partials(const float *x, float *dst, u64 outer, u64 n,
                                            u64 inner, int mean) {
    const u64 cpr = nx_chunks(n);
    const u64 j = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= inner) {
        return;
    }
    for (u64 oc = blockIdx.y; oc < outer * cpr; oc += gridDim.y) {
        const u64 o = oc / cpr;
        const u64 c = oc - o * cpr;
        const float *xs = x + o * n * inner + j;
        const float s = nx_chunk_partial(n, c, [&](float acc, u64 i) { return acc + xs[i * inner]; });
        dst[oc * inner + j] = (mean && cpr == 1) ? s / (float)n : s;
    }
}

// Pass 2: out[o*inner + j] = the partials of (o, j) in chunk order (then / n for a mean).
extern "C" __global__ void nx_axis_totals(const float *partial, float *out, u64 outer, u64 n,
                                          u64 inner, int mean) {
    const u64 cpr = nx_chunks(n);
    NX_GRID_STRIDE(q, outer * inner) {
        const u64 o = q / inner;
        const u64 j = q - o * inner;
        const float s = nx_sum_partials(partial + o * cpr * inner + j, cpr, inner);
        out[q] = mean ? s / (float)n : s;
    }
}

// out[index] = 0 (the sum of squares of no values).
extern "C" __global__ void nx_store_zero(float *out, u64 index) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        out[index] = 0.0f;
    }
}

// Serial reductions (serial.rs): global-norm clipping, accuracy counts, running sums. Each
// output has one accumulator walking its terms in the documented order; parallelism is only
// across outputs.

extern "C" __global__ void nx_clip_by_norm(float *g, u64 n, const float *partials, u64 count,
                                           float max_norm) {
    __shared__ float factor;
    __shared__ int clip;
    if (threadIdx.x == 0) {
        float total = 0.0f;
        for (u64 t = 0; t < count; ++t) {
            total += partials[t];
        }
        const float norm = sqrtf(total);
        clip = norm > max_norm;
        factor = max_norm / (norm + 1e-6f);
    }
    __syncthreads();
    if (!clip) {
        return;
    }
    const float f = factor;
    NX_GRID_STRIDE(i, n) { g[i] = g[i] * f; }
}

// Index of the first maximum of a row (`if v > row[best] best = j`).
__device__ __forceinline__ u64 nx_argmax(const float *r, u64 cols) {
    u64 best = 0;
    for (u64 j = 0; j < cols; ++j) {
        if (r[j] > r[best]) {
            best = j;
        }
    }
    return best;
}

// A class label as a row index: labels[i] when it is in [0, cols), else ~0 (matches no column;
// the CPU's `usize::try_from(l).ok().filter(|&t| t < cols)`).
__device__ __forceinline__ u64 nx_label_index(int l, u64 cols) {
    return (l >= 0 && (u64)l < cols) ? (u64)l : ~0ull;
}

// Pass 1: ok[i] = 1 when row i is predicted correctly, else 0 (ops::reduce::count_correct).
extern "C" __global__ void nx_correct_rows(const float *pred, const float *target,
                                           const int *labels, int target_kind, int from_logits,
                                           u64 rows, u64 cols, float *ok) {
    const bool class_targets = target_kind == NX_TARGET_CLASS_INDEX;
    NX_GRID_STRIDE(i, rows) {
        bool good;
        if (cols == 1) {
            const float threshold = from_logits ? 0.0f : 0.5f;
            const bool positive = class_targets ? labels[i] >= 1 : target[i] >= 0.5f;
            good = (pred[i] >= threshold) == positive;
        } else {
            const u64 p = nx_argmax(pred + i * cols, cols);
            const u64 t =
                class_targets ? nx_label_index(labels[i], cols) : nx_argmax(target + i * cols, cols);
            good = p == t;
        }
        ok[i] = good ? 1.0f : 0.0f;
    }
}

// Pass 2, one thread: count = 0; count += 1 for each correct row in row order; out += count.
extern "C" __global__ void nx_correct_total(const float *ok, u64 rows, float *out, u64 index) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        float count = 0.0f;
        for (u64 i = 0; i < rows; ++i) {
            if (ok[i] != 0.0f) {
                count += 1.0f;
            }
        }
        out[index] = out[index] + count;
    }
}

// dst[di] = dst[di] + src[si]. One thread.
extern "C" __global__ void nx_accumulate_scalar(const float *src, u64 si, float *dst, u64 di) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        dst[di] = dst[di] + src[si];
    }
}
