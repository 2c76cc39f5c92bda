// RMSNorm forward and backward (ops/rmsnorm/mod.rs states the order): one warp per row for the
// statistics and dx, one thread per (column, chunk of rows) for dgamma.

extern "C" __global__ void nx_rmsnorm_forward(const float *x, const float *gamma, float *y,
                                              float *rrms, u64 rows, u64 dim, float eps) {
    NX_WARP_ROWS(row, lane, rows) {
        const float *xr = x + row * dim;
        const float ss = nx_warp_chunked(
            dim, lane,
            [&](u64 j, float &a, float &b) {
                a = xr[j];
                b = a;
            },
            [](float acc, float a, float b) { return fmaf(a, b, acc); });
        const float r = 1.0f / sqrtf(ss / (float)dim + eps);
        for (u64 j = lane; j < dim; j += 32) {
            y[row * dim + j] = (xr[j] * r) * gamma[j];
        }
        if (lane == 0) {
            rrms[row] = r;
        }
    }
}

extern "C" __global__ void nx_rmsnorm_backward_dx(const float *x, const float *gamma,
                                                  const float *rrms, const float *dy, float *dx,
                                                  u64 rows, u64 dim) {
    NX_WARP_ROWS(row, lane, rows) {
        const float *xr = x + row * dim;
        const float *dyr = dy + row * dim;
        const float s = rrms[row];
        const float sgx = nx_warp_chunked(
            dim, lane,
            [&](u64 j, float &a, float &b) {
                a = dyr[j] * gamma[j];
                b = xr[j] * s;
            },
            [](float acc, float a, float b) { return fmaf(a, b, acc); });
        const float m = sgx / (float)dim;
        for (u64 j = lane; j < dim; j += 32) {
            dx[row * dim + j] = (dyr[j] * gamma[j] - (xr[j] * s) * m) * s;
        }
    }
}

extern "C" __global__ void nx_rmsnorm_gamma_partial(const float *x, const float *rrms,
                                                    const float *dy, float *pg, u64 rows,
                                                    u64 dim) {
    const u64 j = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const u64 c = blockIdx.y;
    if (j >= dim) {
        return;
    }
    pg[c * dim + j] = nx_chunk_partial(rows, c, [&](float acc, u64 r) {
        return fmaf(dy[r * dim + j], x[r * dim + j] * rrms[r], acc);
    });
}

extern "C" __global__ void nx_rmsnorm_gamma_total(const float *pg, float *dgamma, u64 chunks,
                                                  u64 dim) {
    NX_GRID_STRIDE(j, dim) { dgamma[j] = nx_sum_partials(pg + j, chunks, dim); }
}
