// Chunked reductions (ops/reduce/mod.rs): column sums and sums of squares in the order of
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
