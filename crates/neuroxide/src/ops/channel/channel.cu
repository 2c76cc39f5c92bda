// Per-channel scaling (ops/channel/mod.rs): y[i] = x[i] * s[i / plane], one product per value.

extern "C" __global__ void nx_channel_scale(const float *x, const float *s, float *y, u64 n,
                                            u64 plane) {
    NX_GRID_STRIDE(i, n) { y[i] = x[i] * s[i / plane]; }
}
