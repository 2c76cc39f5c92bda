// Index-select along one axis and its backward as a gather, no atomics (ops/gather/mod.rs
// states the orders). x is outer x n x inner, y is outer x m x inner.

// How an index is stored: the twin of `ops::gather::Index` (i32).
typedef int nx_index_t;

// The row an index selects among n, or -1 when it is outside [0, n): the twin of
// `ops::gather::gather_row`.
__device__ __forceinline__ long long nx_gather_row(nx_index_t id, u64 n) {
    if (id >= 0 && (u64)id < n) {
        return (long long)id;
    }
    return -1;
}

// y[o, r, j] = x[o, index[r], j]; zeros for an index that selects nothing.
extern "C" __global__ void nx_gather(const float *x, const nx_index_t *index, float *y, u64 len,
                                     u64 n, u64 m, u64 inner) {
    NX_GRID_STRIDE(e, len) {
        const u64 j = e % inner;
        const u64 q = e / inner;
        const u64 r = q % m;
        const u64 o = q / m;
        const long long v = nx_gather_row(index[r], n);
        y[e] = v >= 0 ? x[(o * n + (u64)v) * inner + j] : 0.0f;
    }
}

// Pass 1: dst[e*cpr + c] = chunk c (positions c*256 ...) of the sum of dy[o, r, j] over the
// positions r whose index is row v of element e = (o, v, j), r in order, others skipped. With
// one chunk dst is dx itself.
extern "C" __global__ void nx_gather_backward_partials(const float *dy, const nx_index_t *index,
                                                       float *dst, u64 len, u64 n, u64 m,
                                                       u64 inner) {
    const u64 cpr = m == 0 ? 1 : nx_chunks(m);
    NX_GRID_STRIDE(q, len * cpr) {
        const u64 e = q / cpr;
        const u64 c = q - e * cpr;
        const u64 j = e % inner;
        const u64 row = e / inner;
        const long long want = (long long)(row % n);
        const u64 o = row / n;
        dst[q] = nx_chunk_partial(m, c, [&](float acc, u64 r) {
            return nx_gather_row(index[r], n) == want ? acc + dy[(o * m + r) * inner + j] : acc;
        });
    }
}

// Pass 2: dx[e] = element e's partials added in chunk order.
extern "C" __global__ void nx_gather_backward_totals(const float *partial, float *dx, u64 len,
                                                     u64 cpr) {
    NX_GRID_STRIDE(e, len) { dx[e] = nx_sum_partials(partial + e * cpr, cpr, 1); }
}
