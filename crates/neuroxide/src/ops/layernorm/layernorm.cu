// LayerNorm forward and backward (ops/layernorm/mod.rs states the order): one warp per row for
// the row statistics and dx (terms in parallel, sums in the chunked order through
// nx_warp_chunked), one thread per (column, chunk of rows) for dgamma / dbeta.

#define NX_ADD [](float acc, float a, float) { return acc + a; }
#define NX_FMA [](float acc, float a, float b) { return fmaf(a, b, acc); }

extern "C" __global__ void nx_layernorm_forward(const float *x, const float *gamma,
                                                const float *beta, float *y, float *mean,
                                                float *rstd, u64 rows, u64 dim, float eps) {
    NX_WARP_ROWS(row, lane, rows) {
        const float *xr = x + row * dim;
        const float m =
            nx_warp_chunked(dim, lane, [&](u64 j, float &a, float &) { a = xr[j]; }, NX_ADD) /
            (float)dim;
        const float var = nx_warp_chunked(dim, lane,
                                          [&](u64 j, float &a, float &b) {
                                              a = xr[j] - m;
                                              b = a;
                                          },
                                          NX_FMA) /
                          (float)dim;
        const float s = 1.0f / sqrtf(var + eps);
        for (u64 j = lane; j < dim; j += 32) {
            y[row * dim + j] = ((xr[j] - m) * s) * gamma[j] + beta[j];
        }
        if (lane == 0) {
            mean[row] = m;
            rstd[row] = s;
        }
    }
}

extern "C" __global__ void nx_layernorm_backward_dx(const float *x, const float *gamma,
                                                    const float *mean, const float *rstd,
                                                    const float *dy, float *dx, u64 rows,
                                                    u64 dim) {
    NX_WARP_ROWS(row, lane, rows) {
        const float *xr = x + row * dim;
        const float *dyr = dy + row * dim;
        const float m = mean[row];
        const float s = rstd[row];
        const float sg = nx_warp_chunked(
            dim, lane, [&](u64 j, float &a, float &) { a = dyr[j] * gamma[j]; }, NX_ADD);
        const float sgx = nx_warp_chunked(dim, lane,
                                          [&](u64 j, float &a, float &b) {
                                              a = dyr[j] * gamma[j];
                                              b = (xr[j] - m) * s;
                                          },
                                          NX_FMA);
        const float mg = sg / (float)dim;
        const float mgx = sgx / (float)dim;
        for (u64 j = lane; j < dim; j += 32) {
            const float xhat = (xr[j] - m) * s;
            dx[row * dim + j] = ((dyr[j] * gamma[j] - mg) - xhat * mgx) * s;
        }
    }
}

// pg[c*dim + j], pb[c*dim + j] = chunk c (rows c*256 ...) of dgamma[j], dbeta[j]; with one chunk
// these are the outputs. Grid: (column blocks, chunks).
extern "C" __global__ void nx_layernorm_param_partial(const float *x, const float *mean,
                                                      const float *rstd, const float *dy,
                                                      float *pg, float *pb, u64 rows, u64 dim) {
    const u64 j = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const u64 c = blockIdx.y;
    if (j >= dim) {
        return;
    }
    const u64 end = (c + 1) * NX_CHUNK < rows ? (c + 1) * NX_CHUNK : rows;
    float g = 0.0f;
    float b = 0.0f;
    for (u64 r = c * NX_CHUNK; r < end; ++r) {
        const float d = dy[r * dim + j];
        g = fmaf(d, (x[r * dim + j] - mean[r]) * rstd[r], g);
        b = b + d;
    }
    pg[c * dim + j] = g;
    pb[c * dim + j] = b;
}

extern "C" __global__ void nx_layernorm_param_total(const float *pg, const float *pb,
                                                    float *dgamma, float *dbeta, u64 chunks,
                                                    u64 dim) {
    NX_GRID_STRIDE(j, dim) {
        dgamma[j] = nx_sum_partials(pg + j, chunks, dim);
        dbeta[j] = nx_sum_partials(pb + j, chunks, dim);
    }
}
