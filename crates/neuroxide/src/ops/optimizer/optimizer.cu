// Optimizer updates (OptimizerStep), one element per thread; mirrors ops/optimizer/cpu.rs.
// Compiled with --fmad=false: every `a*b + c` is a separate multiply and add, as documented.
//
// Each optimizer's per-element update is one device function, called by the one-tensor kernel
// (nx_<opt>) and by the multi-tensor kernel (nx_<opt>_multi: every parameter of a model in
// one launch, ops::optimizer::step_all), so both compute the same bits by construction.
// With a per-step scalar block (StepBlock, PARITY rule 8) the learning rate and host scalars
// are read there instead of from the launch arguments, so a recorded step replays with each
// step's own values.

__device__ __forceinline__ void nx_sgd_elem(float *w, const float *g, float *buf, u64 i, float lr,
                                            float momentum, int nesterov, float weight_decay) {
    const float w_old = w[i];
    float gi = g[i];
    if (weight_decay != 0.0f) {
        gi = gi + weight_decay * w_old;
    }
    if (momentum != 0.0f && buf != nullptr) {
        float b = buf[i];
        b = momentum * b + gi;
        buf[i] = b;
        gi = nesterov ? gi + momentum * b : b;
    }
    w[i] = w_old - lr * gi;
}

// sc: step_size, bc2_sqrt, decay, c1, c2 (host-computed, OptimizerStep::new).
__device__ __forceinline__ void nx_adam_elem(float *w, const float *g, float *m, float *v, u64 i,
                                             float beta1, float beta2, float eps,
                                             float weight_decay, int decoupled, const float *sc) {
    float gi = g[i];
    float wv = w[i];
    if (decoupled) {
        wv = wv * sc[2];
    } else if (weight_decay != 0.0f) {
        gi = gi + weight_decay * wv;
    }
    const float mi = beta1 * m[i] + sc[3] * gi;
    const float vi = beta2 * v[i] + sc[4] * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    const float den = sqrtf(vi) / sc[1] + eps;
    w[i] = wv - sc[0] * (mi / den);
}

// c = 1 - alpha (host-computed).
__device__ __forceinline__ void nx_rmsprop_elem(float *w, const float *g, float *v, float *buf,
                                                u64 i, float lr, float alpha, float eps,
                                                float momentum, float weight_decay, float c) {
    const float w_old = w[i];
    float gi = g[i];
    if (weight_decay != 0.0f) {
        gi = gi + weight_decay * w_old;
    }
    const float vi = alpha * v[i] + c * (gi * gi);
    v[i] = vi;
    const float den = sqrtf(vi) + eps;
    if (momentum != 0.0f) {
        const float b = momentum * buf[i] + gi / den;
        buf[i] = b;
        w[i] = w_old - lr * b;
    } else {
        w[i] = w_old - lr * (gi / den);
    }
}

extern "C" __global__ void nx_sgd(float *w, const float *g, float *buf, u64 n, float lr,
                                  float momentum, int nesterov, float weight_decay,
                                  const float *blk) {
    if (blk != nullptr) {
        lr = blk[NX_BLOCK_LR];
    }
    NX_GRID_STRIDE(i, n) { nx_sgd_elem(w, g, buf, i, lr, momentum, nesterov, weight_decay); }
}

extern "C" __global__ void nx_adam(float *w, const float *g, float *m, float *v, u64 n,
                                   float beta1, float beta2, float eps, float weight_decay,
                                   int decoupled, float step_size, float bc2_sqrt, float decay,
                                   float c1, float c2, const float *blk) {
    float sc[5] = {step_size, bc2_sqrt, decay, c1, c2};
    if (blk != nullptr) {
        for (int q = 0; q < 5; ++q) {
            sc[q] = blk[NX_BLOCK_SCALARS + q];
        }
    }
    NX_GRID_STRIDE(i, n) {
        nx_adam_elem(w, g, m, v, i, beta1, beta2, eps, weight_decay, decoupled, sc);
    }
}

extern "C" __global__ void nx_rmsprop(float *w, const float *g, float *v, float *buf, u64 n,
                                      float lr, float alpha, float eps, float momentum,
                                      float weight_decay, float c, const float *blk) {
    if (blk != nullptr) {
        lr = blk[NX_BLOCK_LR];
        c = blk[NX_BLOCK_SCALARS + 0];
    }
    NX_GRID_STRIDE(i, n) {
        nx_rmsprop_elem(w, g, v, buf, i, lr, alpha, eps, momentum, weight_decay, c);
    }
}

// ---- multi-tensor updates: one launch for every parameter tensor ----
//
// `table` holds NX_MT_WORDS u64 words per tensor: [w, g, state0, state1, first element], then
// one final word: the total element count. Element e belongs to the tensor whose first element
// is the largest one <= e (binary search); its per-element arithmetic is the one-tensor
// kernel's. The scalar block `blk` is required (the multi-tensor update is the recorded step's).

#define NX_MT_WORDS 5

__device__ __forceinline__ u64 nx_mt_tensor(const u64 *table, u64 tensors, u64 e) {
    u64 lo = 0, hi = tensors - 1;
    while (lo < hi) {
        const u64 mid = (lo + hi + 1) / 2;
        if (table[mid * NX_MT_WORDS + 4] <= e) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo;
}

// The row of the tensor that element e belongs to, and e's index inside it.
#define NX_MT_ROW(r, i, e)                                                                      \
    const u64 *r = table + nx_mt_tensor(table, tensors, e) * NX_MT_WORDS;                       \
    const u64 i = e - r[4]

extern "C" __global__ void nx_sgd_multi(const u64 *table, u64 tensors, float momentum,
                                        int nesterov, float weight_decay, const float *blk) {
    const float lr = blk[NX_BLOCK_LR];
    NX_GRID_STRIDE(e, table[tensors * NX_MT_WORDS]) {
        NX_MT_ROW(r, i, e);
        nx_sgd_elem((float *)r[0], (const float *)r[1], (float *)r[2], i, lr, momentum, nesterov,
                    weight_decay);
    }
}

extern "C" __global__ void nx_adam_multi(const u64 *table, u64 tensors, float beta1, float beta2,
                                         float eps, float weight_decay, int decoupled,
                                         const float *blk) {
    const float *sc = blk + NX_BLOCK_SCALARS;
    NX_GRID_STRIDE(e, table[tensors * NX_MT_WORDS]) {
        NX_MT_ROW(r, i, e);
        nx_adam_elem((float *)r[0], (const float *)r[1], (float *)r[2], (float *)r[3], i, beta1,
                     beta2, eps, weight_decay, decoupled, sc);
    }
}

extern "C" __global__ void nx_rmsprop_multi(const u64 *table, u64 tensors, float alpha, float eps,
                                            float momentum, float weight_decay, const float *blk) {
    const float lr = blk[NX_BLOCK_LR];
    const float c = blk[NX_BLOCK_SCALARS + 0];
    NX_GRID_STRIDE(e, table[tensors * NX_MT_WORDS]) {
        NX_MT_ROW(r, i, e);
        nx_rmsprop_elem((float *)r[0], (const float *)r[1], (float *)r[2], (float *)r[3], i, lr,
                        alpha, eps, momentum, weight_decay, c);
    }
}
