// Sequence pooling (ops/seqpool/mod.rs states the order). mode 0: mean over positions in the
// chunked order; mode 1: the first position.

extern "C" __global__ void nx_seqpool_forward(const float *x, float *out, u64 batch, u64 seq,
                                              u64 dim, unsigned int mode) {
    NX_GRID_STRIDE(e, batch * dim) {
        const u64 b = e / dim;
        const u64 j = e - b * dim;
        const float *xs = x + b * seq * dim;
        out[e] = mode == 0
                     ? nx_chunked(seq, [&](float acc, u64 p) { return acc + xs[p * dim + j]; }) /
                           (float)seq
                     : xs[j];
    }
}

extern "C" __global__ void nx_seqpool_backward(const float *dout, float *dx, u64 batch, u64 seq,
                                               u64 dim, unsigned int mode) {
    NX_GRID_STRIDE(e, batch * seq * dim) {
        const u64 j = e % dim;
        const u64 r = e / dim;
        const u64 p = r % seq;
        const u64 b = r / seq;
        const float g = dout[b * dim + j];
        dx[e] = mode == 0 ? g / (float)seq : (p == 0 ? g : 0.0f);
    }
}
