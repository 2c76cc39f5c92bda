// Strided and batched copies (ops/copy/mod.rs): no arithmetic, any launch shape gives the
// same bits.

// dst[dst_off + r*dst_stride + c] = src[src_off + r*src_stride + c]; blockIdx.y walks rows.
extern "C" __global__ void nx_copy_2d(const float *src, u64 src_off, u64 src_stride, float *dst,
                                      u64 dst_off, u64 dst_stride, u64 rows, u64 cols) {
    for (u64 r = blockIdx.y; r < rows; r += gridDim.y) {
        const float *s = src + src_off + r * src_stride;
        float *d = dst + dst_off + r * dst_stride;
        NX_GRID_STRIDE(c, cols) { d[c] = s[c]; }
    }
}

// copy_many (ops/copy/mod.rs): pair blockIdx.y of (src, dst, n) copies dst[i] = src[i], i < n.
extern "C" __global__ void nx_copy_many(u64 count, const float *s0, float *d0, u64 n0,
                                        const float *s1, float *d1, u64 n1, const float *s2,
                                        float *d2, u64 n2, const float *s3, float *d3, u64 n3) {
    const float *src[4] = {s0, s1, s2, s3};
    float *dst[4] = {d0, d1, d2, d3};
    const u64 len[4] = {n0, n1, n2, n3};
    const unsigned int p = blockIdx.y;
    if (p >= count) {
        return;
    }
    NX_GRID_STRIDE(i, len[p]) { dst[p][i] = src[p][i]; }
}
