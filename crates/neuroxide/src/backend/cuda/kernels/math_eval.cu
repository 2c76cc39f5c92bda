// Test kernels: evaluate math.cuh's functions over arrays, so tests can compare them with
// math.rs / philox.rs bit for bit on millions of inputs.

extern "C" __global__ void nx_math_eval(int which, const float *x, float *y, u64 n) {
    NX_GRID_STRIDE(i, n) {
        const float v = x[i];
        float r;
        switch (which) {
        case 0: r = nx_exp(v); break;
        case 1: r = nx_expm1(v); break;
        case 2: r = nx_log(v); break;
        case 3: r = nx_log1p(v); break;
        case 4: r = nx_tanh(v); break;
        case 5: r = nx_sigmoid(v); break;
        case 6: r = nx_erf(v); break;
        case 7: r = nx_softplus(v); break;
        default: r = nx_uniform01(__float_as_uint(v)); break;
        }
        y[i] = r;
    }
}

// Item i: counter = in[6i .. 6i+4], key = in[6i+4 .. 6i+6] -> out[4i .. 4i+4] (bit patterns).
extern "C" __global__ void nx_philox_eval(const unsigned int *in, unsigned int *out, u64 n) {
    NX_GRID_STRIDE(i, n) {
        const unsigned int *c = in + 6 * i;
        unsigned int w[4];
        nx_philox_words(c[0], c[1], c[2], c[3], c[4], c[5], w);
        for (int q = 0; q < 4; ++q) {
            out[4 * i + q] = w[q];
        }
    }
}
