// Scalar activation formulas, mirrored line for line from ops/elementwise/activation.rs.
// Compiled with --fmad=false: every `a * b + c` below is a separate multiply and add, exactly as
// in the Rust source. Literals carry the `f` suffix so nothing is evaluated in double.
// The constants NX_SELU_L, NX_SELU_LA, NX_GELU_K, NX_GELU_C, NX_FRAC_1_SQRT_2, NX_FRAC_1_SQRT_2PI
// are defined by the prelude the host generates from the Rust constants' bit patterns.

#define NX_ACT_LINEAR 0
#define NX_ACT_RELU 1
#define NX_ACT_LEAKY_RELU 2
#define NX_ACT_ELU 3
#define NX_ACT_SELU 4
#define NX_ACT_SIGMOID 5
#define NX_ACT_TANH 6
#define NX_ACT_GELU_TANH 7
#define NX_ACT_GELU_ERF 8
#define NX_ACT_SILU 9
#define NX_ACT_SOFTPLUS 10

// softplus(x) = x > 20 ? x : log1p(exp(x)) (PyTorch's threshold).
__device__ __forceinline__ float nx_softplus(float x) {
    if (x > 20.0f) {
        return x;
    }
    return nx_log1p(nx_exp(x));
}

// y = f(x); `a` is the parameter of LeakyRelu / Elu.
__device__ __forceinline__ float nx_act_forward(int act, float a, float x) {
    switch (act) {
    case NX_ACT_LINEAR:
        return x;
    case NX_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case NX_ACT_LEAKY_RELU:
        return x > 0.0f ? x : a * x;
    case NX_ACT_ELU:
        return x > 0.0f ? x : a * nx_expm1(x);
    case NX_ACT_SELU:
        return x > 0.0f ? NX_SELU_L * x : NX_SELU_LA * nx_expm1(x);
    case NX_ACT_SIGMOID:
        return nx_sigmoid(x);
    case NX_ACT_TANH:
        return nx_tanh(x);
    case NX_ACT_GELU_TANH: {
        float u = NX_GELU_K * (x + NX_GELU_C * (x * x * x));
        return 0.5f * x * (1.0f + nx_tanh(u));
    }
    case NX_ACT_GELU_ERF:
        return 0.5f * x * (1.0f + nx_erf(x * NX_FRAC_1_SQRT_2));
    case NX_ACT_SILU:
        return x * nx_sigmoid(x);
    default: // NX_ACT_SOFTPLUS
        return nx_softplus(x);
    }
}

// dx = dy * f'(x), from the pre-activation x and/or the output y.
__device__ __forceinline__ float nx_act_backward(int act, float a, float x, float y, float dy) {
    switch (act) {
    case NX_ACT_LINEAR:
        return dy;
    case NX_ACT_RELU:
        return x > 0.0f ? dy : 0.0f;
    case NX_ACT_LEAKY_RELU:
        return x > 0.0f ? dy : dy * a;
    case NX_ACT_ELU:
        return x > 0.0f ? dy : dy * (y + a);
    case NX_ACT_SELU:
        return x > 0.0f ? dy * NX_SELU_L : dy * (y + NX_SELU_LA);
    case NX_ACT_SIGMOID:
        return dy * (y * (1.0f - y));
    case NX_ACT_TANH:
        return dy * (1.0f - y * y);
    case NX_ACT_GELU_TANH: {
        float x2 = x * x;
        float u = NX_GELU_K * (x + NX_GELU_C * (x2 * x));
        float t = nx_tanh(u);
        float du = NX_GELU_K * (1.0f + (3.0f * NX_GELU_C) * x2);
        return dy * (0.5f * (1.0f + t) + (0.5f * x) * ((1.0f - t * t) * du));
    }
    case NX_ACT_GELU_ERF: {
        float cdf = 0.5f * (1.0f + nx_erf(x * NX_FRAC_1_SQRT_2));
        float pdf = NX_FRAC_1_SQRT_2PI * nx_exp(-0.5f * (x * x));
        return dy * (cdf + x * pdf);
    }
    case NX_ACT_SILU: {
        float s = nx_sigmoid(x);
        return dy * (s + x * (s * (1.0f - s)));
    }
    default: // NX_ACT_SOFTPLUS
        return dy * nx_sigmoid(x);
    }
}
