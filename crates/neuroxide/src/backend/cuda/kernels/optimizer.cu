// Optimizer updates (OptimizerStep), one element per thread; mirrors backend/cpu/optimizer.rs.
// Compiled with --fmad=false: every `a*b + c` is a separate multiply and add, as documented.

extern "C" __global__ void nx_sgd(float *w, const float *g, float *buf, u64 n, float lr,
                                  float momentum, int nesterov, float weight_decay,
                                  const float *blk) {
    if (blk != nullptr) {
        lr = blk[NX_BLOCK_LR];
    }
    NX_GRID_STRIDE(i, n) {
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
}

// scalars: step_size, bc2_sqrt, decay, c1, c2 (host-computed, OptimizerStep::new).
extern "C" __global__ void nx_adam(float *w, const float *g, float *m, float *v, u64 n,
                                   float beta1, float beta2, float eps, float weight_decay,
                                   int decoupled, float step_size, float bc2_sqrt, float decay,
                                   float c1, float c2, const float *blk) {
    // With a per-step scalar block (StepBlock) the host scalars are read there (PARITY rule 8).
    if (blk != nullptr) {
        step_size = blk[NX_BLOCK_SCALARS + 0];
        bc2_sqrt = blk[NX_BLOCK_SCALARS + 1];
        decay = blk[NX_BLOCK_SCALARS + 2];
        c1 = blk[NX_BLOCK_SCALARS + 3];
        c2 = blk[NX_BLOCK_SCALARS + 4];
    }
    NX_GRID_STRIDE(i, n) {
        float gi = g[i];
        float wv = w[i];
        if (decoupled) {
            wv = wv * decay;
        } else if (weight_decay != 0.0f) {
            gi = gi + weight_decay * wv;
        }
        const float mi = beta1 * m[i] + c1 * gi;
        const float vi = beta2 * v[i] + c2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        const float den = sqrtf(vi) / bc2_sqrt + eps;
        w[i] = wv - step_size * (mi / den);
    }
}

// scalar c = 1 - alpha (host-computed).
extern "C" __global__ void nx_rmsprop(float *w, const float *g, float *v, float *buf, u64 n,
                                      float lr, float alpha, float eps, float momentum,
                                      float weight_decay, float c, const float *blk) {
    if (blk != nullptr) {
        lr = blk[NX_BLOCK_LR];
        c = blk[NX_BLOCK_SCALARS + 0];
    }
    NX_GRID_STRIDE(i, n) {
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
}
