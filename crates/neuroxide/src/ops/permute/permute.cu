// Permute of up to four axes (ops/permute/mod.rs): a pure copy, one thread per output value.
// d1..d3 are the output extents (d0 follows from n), s0..s3 the input strides each output
// axis walks.

extern "C" __global__ void nx_permute(const float *x, float *y, u64 n, u64 d1, u64 d2,
                                      u64 d3, u64 s0, u64 s1, u64 s2, u64 s3) {
    NX_GRID_STRIDE(o, n) {
        u64 r = o;
        const u64 c3 = r % d3;
        r /= d3;
        const u64 c2 = r % d2;
        r /= d2;
        const u64 c1 = r % d1;
        const u64 c0 = r / d1;
        y[o] = x[c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3];
    }
}
