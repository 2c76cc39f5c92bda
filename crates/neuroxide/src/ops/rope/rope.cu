// Rotary position embedding on the queries and keys of a packed qkv buffer, in place
// (ops/rope/mod.rs states the arithmetic). One thread per rotated pair (row, q/k head, i).

extern "C" __global__ void nx_rope(float *qkv, const float *table, u64 rows, u64 seq, u64 heads,
                                   u64 hd, unsigned int inverse) {
    const u64 half = hd / 2;
    const u64 d = heads * hd;
    NX_GRID_STRIDE(e, rows * 2 * heads * half) {
        const u64 i = e % half;
        const u64 rest = e / half;
        const u64 head = rest % (2 * heads);
        const u64 row = rest / (2 * heads);
        const u64 t = row % seq;
        const float c = table[t * half + i];
        const float s = table[seq * half + t * half + i];
        float *x = qkv + row * 3 * d + head * hd;
        const float a = x[i];
        const float b = x[i + half];
        if (inverse) {
            x[i] = fmaf(a, c, b * s);
            x[i + half] = fmaf(b, c, -(a * s));
        } else {
            x[i] = fmaf(a, c, -(b * s));
            x[i + half] = fmaf(a, s, b * c);
        }
    }
}
