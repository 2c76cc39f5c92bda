// Reductions (Backend::clip_by_global_norm, count_correct,
// accumulate_scalar). Each output has one accumulator walking its terms in the documented order;
// parallelism is only across outputs. Mirrors backend/cpu/reduce.rs.

// total = sum_t partials[t] (t increasing, from 0); norm = sqrt(total); when norm > max_norm,
// g[i] = g[i] * (max_norm / (norm + 1e-6)). Each block's thread 0 recomputes the (short) serial
// sum, so the factor needs no second launch.
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

extern "C" __global__ void nx_correct_rows(const float *pred, const float *target,
                                           const int *labels, int class_targets, int from_logits,
                                           u64 rows, u64 cols, float *ok) {
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
