// Broadcast add / multiply and their backward reductions (ops/broadcast/mod.rs). Four axes,
// extents packed two per word (d0 | d1 << 32, d2 | d3 << 32); an axis of length 1 broadcasts.

struct NxDims4 {
    u64 d[4];
};

__device__ __forceinline__ NxDims4 nx_dims4(u64 w01, u64 w23) {
    NxDims4 r;
    r.d[0] = w01 & 0xffffffffull;
    r.d[1] = w01 >> 32;
    r.d[2] = w23 & 0xffffffffull;
    r.d[3] = w23 >> 32;
    return r;
}

// Coordinates of row-major index i (Dims4::coords).
__device__ __forceinline__ void nx_coords(const NxDims4 &s, u64 i, u64 (&c)[4]) {
    for (int a = 3; a >= 0; --a) {
        c[a] = i % s.d[a];
        i /= s.d[a];
    }
}

// Row-major index of c where axes of length 1 broadcast (Dims4::broadcast_index).
__device__ __forceinline__ u64 nx_bcast_index(const NxDims4 &s, const u64 (&c)[4]) {
    u64 idx = 0;
    for (int a = 0; a < 4; ++a) {
        idx = idx * s.d[a] + (s.d[a] == 1 ? 0 : c[a]);
    }
    return idx;
}

// y[o] = a[...] + b[...] (or *), one thread per output value.
extern "C" __global__ void nx_broadcast(const float *a, const float *b, float *y, u64 n, u64 o01,
                                        u64 o23, u64 a01, u64 a23, u64 b01, u64 b23, int mul) {
    const NxDims4 od = nx_dims4(o01, o23);
    const NxDims4 ad = nx_dims4(a01, a23);
    const NxDims4 bd = nx_dims4(b01, b23);
    NX_GRID_STRIDE(o, n) {
        u64 c[4];
        nx_coords(od, o, c);
        const float p = a[nx_bcast_index(ad, c)];
        const float q = b[nx_bcast_index(bd, c)];
        y[o] = mul ? p * q : p + q;
    }
}

// Pass 1 of the backward: dst[e*cpr + k] = chunk k of element e's terms (t in increasing order
// over the summed axes, i.e. increasing output index), or the gradient itself when cpr == 1.
// `other` is null for add. The output extents are grad extent x summed extent per axis.
extern "C" __global__ void nx_broadcast_grad_partials(const float *dy, const float *other,
                                                      float *dst, u64 n, u64 g01, u64 g23,
                                                      u64 s01, u64 s23, u64 z01, u64 z23) {
    const NxDims4 gd = nx_dims4(g01, g23);
    const NxDims4 sd = nx_dims4(s01, s23);
    const NxDims4 zd = nx_dims4(z01, z23);
    NxDims4 od;
    for (int a = 0; a < 4; ++a) {
        od.d[a] = gd.d[a] * sd.d[a];
    }
    const u64 count = sd.d[0] * sd.d[1] * sd.d[2] * sd.d[3];
    const u64 cpr = count == 0 ? 1 : nx_chunks(count);
    NX_GRID_STRIDE(q, n * cpr) {
        const u64 e = q / cpr;
        const u64 k = q - e * cpr;
        u64 ce[4];
        nx_coords(gd, e, ce);
        dst[q] = nx_chunk_partial(count, k, [&](float acc, u64 t) {
            u64 c[4];
            nx_coords(sd, t, c);
            for (int a = 0; a < 4; ++a) {
                c[a] += ce[a];
            }
            const float d = dy[nx_bcast_index(od, c)];
            return other != nullptr ? fmaf(d, other[nx_bcast_index(zd, c)], acc) : acc + d;
        });
    }
}

// Pass 2: grad[e] = element e's partials added in chunk order.
extern "C" __global__ void nx_broadcast_grad_totals(const float *partial, float *grad, u64 n,
                                                    u64 cpr) {
    NX_GRID_STRIDE(e, n) { grad[e] = nx_sum_partials(partial + e * cpr, cpr, 1); }
}
