// Reductions (ops/reduce/). Chunked (mod.rs): column sums and sums of squares in the order of
// PARITY rule 2a (ops/reduce/chunked.cuh). Many threads: one per (column, chunk) or per chunk
// for the partials, then one per output for the in-order sum of its partials.

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

// Pass 1 of a sum of squares: partial[c] = chunk c of sum_i fmaf(x[i], x[i], acc).
extern "C" __global__ void nx_sum_squares_partial(const float *x, u64 n, float *partial) {
    NX_GRID_STRIDE(c, nx_chunks(n)) {
        partial[c] = nx_chunk_partial(n, c, [&](float acc, u64 i) { return fmaf(x[i], x[i], acc); });
    }
}

// Pass 2, one thread: out[index] = the partials summed in chunk order.
extern "C" __global__ void nx_sum_partials_into(const float *partial, u64 chunks, float *out,
                                                u64 index) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        out[index] = nx_sum_partials(partial, chunks, 1);
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
