// Embedding gather, its backward as a gather (no atomics), and the positional add
// (ops/embedding/mod.rs states the orders).

// The row an i32 id names, or -1 when it is negative or not below vocab: the twin of
// `ops::embedding::id_index`.
__device__ __forceinline__ long long nx_id_index(int id, u64 vocab) {
    if (id >= 0 && (u64)id < vocab) {
        return (long long)id;
    }
    return -1;
}

// out[r*dim + j] = table[id[r]*dim + j]; zeros for an invalid id.
extern "C" __global__ void nx_embedding_forward(const int *ids, const float *table, float *out,
                                                u64 rows, u64 vocab, u64 dim) {
    NX_GRID_STRIDE(e, rows * dim) {
        const u64 r = e / dim;
        const u64 j = e - r * dim;
        const long long v = nx_id_index(ids[r], vocab);
        out[e] = v >= 0 ? table[(u64)v * dim + j] : 0.0f;
    }
}

// Pass 1: partial[c*vocab*dim + v*dim + j] = chunk c (rows c*256 ...) of the sum of dout[r, j]
// over the rows with id v, rows in order, skipping the others. Grid: (element blocks, chunks);
// with one chunk `partial` is the output.
extern "C" __global__ void nx_embedding_backward_partial(const int *ids, const float *dout,
                                                         float *partial, u64 rows, u64 vocab,
                                                         u64 dim) {
    const u64 e = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const u64 c = blockIdx.y;
    if (e >= vocab * dim) {
        return;
    }
    const long long v = (long long)(e / dim);
    const u64 j = e - (u64)v * dim;
    partial[c * vocab * dim + e] = nx_chunk_partial(rows, c, [&](float acc, u64 r) {
        return nx_id_index(ids[r], vocab) == v ? acc + dout[r * dim + j] : acc;
    });
}

// Pass 2: out[e] = the chunk partials of element e summed in chunk order.
extern "C" __global__ void nx_embedding_backward_total(const float *partial, float *out,
                                                       u64 chunks, u64 n) {
    NX_GRID_STRIDE(e, n) { out[e] = nx_sum_partials(partial + e, chunks, n); }
}

// out[e] = x[e] + pos[e % n].
extern "C" __global__ void nx_add_position(const float *x, const float *pos, float *out, u64 total,
                                           u64 n) {
    NX_GRID_STRIDE(e, total) { out[e] = x[e] + pos[e % n]; }
}
