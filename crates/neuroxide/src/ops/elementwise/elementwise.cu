// Elementwise kernels: every output depends on one index only, so any launch configuration gives
// the same bits. Grid-stride loops over 64-bit element counts. Formulas mirror
// ops/elementwise/cpu.rs and ops/elementwise/activation.rs (through activation.cuh).

extern "C" __global__ void nx_fill(float *dst, u64 n, float value) {
    NX_GRID_STRIDE(i, n) { dst[i] = value; }
}

extern "C" __global__ void nx_add(const float *a, const float *b, float *out, u64 n) {
    NX_GRID_STRIDE(i, n) { out[i] = a[i] + b[i]; }
}

extern "C" __global__ void nx_add_assign(float *acc, const float *x, u64 n) {
    NX_GRID_STRIDE(i, n) { acc[i] = acc[i] + x[i]; }
}

// avg = keep*avg + take*x, keep and take from the step block: two multiplies and an add
// (--fmad=false keeps them apart).
extern "C" __global__ void nx_moving_average(float *avg, const float *x, u64 n,
                                             const float *blk) {
    const float keep = blk[NX_BLOCK_EMA_KEEP];
    const float take = blk[NX_BLOCK_EMA_TAKE];
    NX_GRID_STRIDE(i, n) { avg[i] = keep * avg[i] + take * x[i]; }
}

extern "C" __global__ void nx_swap(float *a, float *b, u64 n) {
    NX_GRID_STRIDE(i, n) {
        const float t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

extern "C" __global__ void nx_mul(const float *a, const float *b, float *out, u64 n) {
    NX_GRID_STRIDE(i, n) { out[i] = a[i] * b[i]; }
}

extern "C" __global__ void nx_scale(float *x, u64 n, float s) {
    NX_GRID_STRIDE(i, n) { x[i] = x[i] * s; }
}

extern "C" __global__ void nx_act_fwd(int act, float a, const float *x, float *y, u64 n) {
    NX_GRID_STRIDE(i, n) { y[i] = nx_act_forward(act, a, x[i]); }
}

extern "C" __global__ void nx_act_bwd(int act, float a, const float *x, const float *y,
                                      const float *dy, float *dx, u64 n) {
    NX_GRID_STRIDE(i, n) { dx[i] = nx_act_backward(act, a, x[i], y[i], dy[i]); }
}

