// Row-wise softmax / log-softmax, forward and backward (ops/softmax/mod.rs).
// One warp per row. Reductions are the CPU's sequential chains: the terms are computed in
// parallel by the lanes, then added in column order through warp shuffles (every lane performs
// the identical chain). Formulas mirror ops/softmax/cpu.rs.

extern "C" __global__ void nx_softmax_fwd(int log, const float *x, float *y, u64 rows, u64 cols) {
    NX_WARP_ROWS(row, lane, rows) {
        const float *xr = x + row * cols;
        float *yr = y + row * cols;
        const float mx = nx_warp_row_max(xr, cols, lane);
        const float s = nx_warp_row_sumexp(xr, cols, mx, lane);
        if (log) {
            const float ls = nx_log(s);
            for (u64 j = lane; j < cols; j += 32) {
                yr[j] = (xr[j] - mx) - ls;
            }
        } else {
            for (u64 j = lane; j < cols; j += 32) {
                yr[j] = nx_exp(xr[j] - mx) / s;
            }
        }
    }
}

// Softmax: d = sum_j fma(dy[j], y[j], d) (j increasing), dx = y * (dy - d).
// Log-softmax: d = sum_j dy[j] (j increasing), dx = dy - exp(y) * d.
extern "C" __global__ void nx_softmax_bwd(int log, const float *y, const float *dy, float *dx,
                                          u64 rows, u64 cols) {
    NX_WARP_ROWS(row, lane, rows) {
        const float *yr = y + row * cols;
        const float *dyr = dy + row * cols;
        float *dxr = dx + row * cols;
        float d = 0.0f;
        for (u64 c0 = 0; c0 < cols; c0 += 32) {
            const bool in = c0 + lane < cols;
            const float g = in ? dyr[c0 + lane] : 0.0f;
            const float v = in ? yr[c0 + lane] : 0.0f;
            const unsigned int cnt = cols - c0 < 32 ? (unsigned int)(cols - c0) : 32u;
            for (unsigned int q = 0; q < cnt; ++q) {
                const float gq = __shfl_sync(NX_FULL_MASK, g, q);
                if (log) {
                    d += gq;
                } else {
                    d = fmaf(gq, __shfl_sync(NX_FULL_MASK, v, q), d);
                }
            }
        }
        for (u64 j = lane; j < cols; j += 32) {
            if (log) {
                dxr[j] = dyr[j] - nx_exp(yr[j]) * d;
            } else {
                dxr[j] = yr[j] * (dyr[j] - d);
            }
        }
    }
}
