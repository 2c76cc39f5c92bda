// BatchNorm (ops/batchnorm/mod.rs states the order). Per-channel sums in the chunked order of
// rule 2a: one thread per (channel, chunk) computes a chunk partial (grid: chunk blocks ×
// channels), one thread per channel adds the partials in chunk order; no atomics. The
// elementwise passes use one thread per value.

// Index of term k of channel c: sample k / plane, pixel k % plane.
__device__ __forceinline__ u64 nx_bn_at(u64 k, u64 c, u64 channels, u64 plane) {
    return ((k / plane) * channels + c) * plane + k % plane;
}

// partial[c * chunks + j] = chunk j of sum_k x.
extern "C" __global__ void nx_batchnorm_sum_partial(const float *x, float *partial, u64 m,
                                                    u64 channels, u64 plane) {
    const u64 chunks = nx_chunks(m);
    const u64 c = blockIdx.y;
    const u64 j = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= chunks) {
        return;
    }
    partial[c * chunks + j] = nx_chunk_partial(
        m, j, [&](float acc, u64 k) { return acc + x[nx_bn_at(k, c, channels, plane)]; });
}

// mean[c] = (partials of c in chunk order) / m.
extern "C" __global__ void nx_batchnorm_mean(const float *partial, float *mean, u64 m,
                                             u64 channels) {
    const u64 chunks = nx_chunks(m);
    NX_GRID_STRIDE(c, channels) { mean[c] = nx_sum_partials(partial + c * chunks, chunks, 1) / (float)m; }
}

// partial[c * chunks + j] = chunk j of sum_k fma(d, d, acc), d = x - mean[c].
extern "C" __global__ void nx_batchnorm_squares_partial(const float *x, const float *mean,
                                                        float *partial, u64 m, u64 channels,
                                                        u64 plane) {
    const u64 chunks = nx_chunks(m);
    const u64 c = blockIdx.y;
    const u64 j = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= chunks) {
        return;
    }
    const float mu = mean[c];
    partial[c * chunks + j] = nx_chunk_partial(m, j, [&](float acc, u64 k) {
        const float d = x[nx_bn_at(k, c, channels, plane)] - mu;
        return fmaf(d, d, acc);
    });
}

// rstd and the running statistics from the squares' partials.
extern "C" __global__ void nx_batchnorm_var(const float *partial, const float *mean, float *rstd,
                                            float *running_mean, float *running_var, u64 m,
                                            u64 channels, float eps, float momentum) {
    const u64 chunks = nx_chunks(m);
    const float mf = (float)m;
    NX_GRID_STRIDE(c, channels) {
        const float sq = nx_sum_partials(partial + c * chunks, chunks, 1);
        const float var = sq / mf;
        rstd[c] = 1.0f / sqrtf(var + eps);
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (sq / (mf - 1.0f));
    }
}

// y = ((x - mean) * s) * gamma + beta, or (x - mean) * s without affine; s = stat[c], or
// 1 / sqrt(stat[c] + eps) when stat is a running variance.
extern "C" __global__ void nx_batchnorm_normalize(const float *x, const float *mean,
                                                  const float *stat, const float *gamma,
                                                  const float *beta, float *y, u64 n,
                                                  u64 channels, u64 plane, unsigned int affine,
                                                  unsigned int from_var, float eps) {
    NX_GRID_STRIDE(i, n) {
        const u64 c = (i / plane) % channels;
        const float s = from_var ? 1.0f / sqrtf(stat[c] + eps) : stat[c];
        const float xhat = (x[i] - mean[c]) * s;
        y[i] = affine ? xhat * gamma[c] + beta[c] : xhat;
    }
}

// pa/pb[c * chunks + j] = chunk j of sum dy and of sum fma(dy, xhat, acc).
extern "C" __global__ void nx_batchnorm_grad_partial(const float *x, const float *dy,
                                                     const float *mean, const float *rstd,
                                                     float *pa, float *pb, u64 m, u64 channels,
                                                     u64 plane) {
    const u64 chunks = nx_chunks(m) > 0 ? nx_chunks(m) : 1;
    const u64 c = blockIdx.y;
    const u64 j = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= chunks) {
        return;
    }
    const float mu = mean[c];
    const float s = rstd[c];
    pa[c * chunks + j] = nx_chunk_partial(
        m, j, [&](float acc, u64 k) { return acc + dy[nx_bn_at(k, c, channels, plane)]; });
    pb[c * chunks + j] = nx_chunk_partial(m, j, [&](float acc, u64 k) {
        const u64 i = nx_bn_at(k, c, channels, plane);
        return fmaf(dy[i], (x[i] - mu) * s, acc);
    });
}

extern "C" __global__ void nx_batchnorm_grad_total(const float *pa, const float *pb,
                                                   float *sum_dy, float *sum_dy_xhat,
                                                   u64 chunks, u64 channels) {
    NX_GRID_STRIDE(c, channels) {
        sum_dy[c] = nx_sum_partials(pa + c * chunks, chunks, 1);
        sum_dy_xhat[c] = nx_sum_partials(pb + c * chunks, chunks, 1);
    }
}

// dx = ((dy - sum_dy / m) - xhat * (sum_dy_xhat / m)) * (rstd * gamma) (rstd without affine).
extern "C" __global__ void nx_batchnorm_dx(const float *x, const float *dy, const float *mean,
                                           const float *rstd, const float *gamma,
                                           const float *sum_dy, const float *sum_dy_xhat,
                                           float *dx, u64 n, u64 m, u64 channels,
                                           u64 plane, unsigned int affine) {
    const float mf = (float)m;
    NX_GRID_STRIDE(i, n) {
        const u64 c = (i / plane) % channels;
        const float s = rstd[c];
        const float scale = affine ? s * gamma[c] : s;
        const float xhat = (x[i] - mean[c]) * s;
        dx[i] = ((dy[i] - sum_dy[c] / mf) - xhat * (sum_dy_xhat[c] / mf)) * scale;
    }
}
