// Loss kernels (ops/loss/mod.rs, LossKind). Mirrors ops/loss/cpu.rs.
//
// Pass 1 (nx_loss_rows): one warp per row writes the gradient of every element (in parallel) and
// the row's sum row_sum = sum_j term[i,j] (j increasing, from 0: the lanes compute the terms,
// then every lane adds them in column order through shuffles) into scratch[i].
// Pass 2 (nx_loss_total): ONE thread adds scratch[0], scratch[1], ... in the chunked order of
// PARITY rule 2a (each chunk of NX_CHUNK rows summed from 0 in row order, then the chunk sums
// in chunk order; the first chunk's sum is the start) and writes total / denom (and adds it to
// the running sum when asked). This is the CPU's exact order.
//
// Class indices are i32 labels (`const int *labels`). Invalid ones (negative or >= cols) cannot
// return an error from the device: the smallest offending row and its value are recorded in
// status (atomicMin on (row << 32 | value bits), so the report does not depend on scheduling)
// and the host raises the error at the next synchronisation.


__device__ __forceinline__ float nx_sign(float d) {
    if (d > 0.0f) {
        return 1.0f;
    } else if (d < 0.0f) {
        return -1.0f;
    }
    return 0.0f;
}

// f32::clamp(p, lo, hi): NaN stays NaN.
__device__ __forceinline__ float nx_clamp(float p, float lo, float hi) {
    float x = p;
    if (x < lo) {
        x = lo;
    }
    if (x > hi) {
        x = hi;
    }
    return x;
}

// Rust's f32::max(p, 0.0): the non-NaN operand when one is NaN.
__device__ __forceinline__ float nx_max0(float p) { return fmaxf(p, 0.0f); }

// (term, dterm) of the elementwise losses, before division by the element count.
__device__ __forceinline__ void nx_loss_elem(int kind, float param, float p, float t, float *term,
                                             float *dterm) {
    switch (kind) {
    case NX_LOSS_MSE: {
        const float d = p - t;
        *term = d * d;
        *dterm = 2.0f * d;
        break;
    }
    case NX_LOSS_MAE: {
        const float d = p - t;
        *term = fabsf(d);
        *dterm = nx_sign(d);
        break;
    }
    case NX_LOSS_HUBER: {
        const float delta = param;
        const float d = p - t;
        const float a = fabsf(d);
        if (a <= delta) {
            *term = 0.5f * d * d;
            *dterm = d;
        } else {
            *term = delta * (a - 0.5f * delta);
            *dterm = delta * nx_sign(d);
        }
        break;
    }
    case NX_LOSS_BCE: {
        const float q = nx_clamp(p, 1e-7f, 1.0f - 1e-7f);
        *term = -(t * nx_log(q) + (1.0f - t) * nx_log(1.0f - q));
        *dterm = (q - t) / (q * (1.0f - q));
        break;
    }
    default: { // NX_LOSS_BCE_LOGITS
        *term = (nx_max0(p) - p * t) + nx_softplus(-fabsf(p));
        *dterm = nx_sigmoid(p) - t;
        break;
    }
    }
}

// Class index of a row: 0 <= t < cols (the CPU's `label`), else -1.
__device__ __forceinline__ long long nx_label(int t, u64 cols) {
    if (t >= 0 && (u64)t < cols) {
        return (long long)t;
    }
    return -1;
}

extern "C" __global__ void nx_loss_rows(int kind, float param, int target_kind,
                                        const float *pred, const float *target,
                                        const int *labels, float *grad,
                                        float *scratch, u64 rows, u64 cols, float d_elem,
                                        float d_rows, u64 *status) {
    const bool class_targets = target_kind == NX_TARGET_CLASS_INDEX;
    NX_WARP_ROWS(row, lane, rows) {
        const float *p = pred + row * cols;
        float *g = grad + row * cols;
        const float *tr = target + row * cols;
        long long lab = -1;
        if (class_targets) {
            const int tv = labels[row];
            lab = nx_label(tv, cols);
            if (lab < 0 && lane == 0) {
                atomicMin(status, (row << 32) | (u64)(unsigned int)tv);
            }
        }
        float mx = 0.0f;
        float s = 0.0f;
        float ls = 0.0f;
        if (kind == NX_LOSS_CE) {
            mx = nx_warp_row_max(p, cols, lane);
            s = nx_warp_row_sumexp(p, cols, mx, lane);
            ls = nx_log(s);
        }
        float row_sum = 0.0f;
        for (u64 c0 = 0; c0 < cols; c0 += 32) {
            const u64 j = c0 + lane;
            float term = 0.0f;
            bool present = false;
            if (j < cols) {
                const float pj = p[j];
                float t;
                if (class_targets) {
                    t = (float)(unsigned char)((long long)j == lab);
                } else {
                    t = tr[j];
                }
                if (kind == NX_LOSS_CE) {
                    const float logsm = (pj - mx) - ls;
                    if (class_targets) {
                        if ((long long)j == lab) {
                            term = -logsm;
                            present = true;
                        }
                    } else {
                        term = -(t * logsm);
                        present = true;
                    }
                    const float sm = nx_exp(pj - mx) / s;
                    g[j] = (sm - t) / d_rows;
                } else if (kind == NX_LOSS_NLL) {
                    if (class_targets) {
                        if ((long long)j == lab) {
                            term = -pj;
                            present = true;
                        }
                    } else {
                        term = -(t * pj);
                        present = true;
                    }
                    g[j] = -t / d_rows;
                } else if (kind == NX_LOSS_KL) {
                    if (t > 0.0f) {
                        term = t * (nx_log(t) - pj);
                        present = true;
                    }
                    g[j] = -t / d_rows;
                } else {
                    float dterm;
                    nx_loss_elem(kind, param, pj, t, &term, &dterm);
                    present = true;
                    g[j] = dterm / d_elem;
                }
            }
            const unsigned int cnt = cols - c0 < 32 ? (unsigned int)(cols - c0) : 32u;
            for (unsigned int q = 0; q < cnt; ++q) {
                const float tq = __shfl_sync(NX_FULL_MASK, term, q);
                const int pq = __shfl_sync(NX_FULL_MASK, (int)present, q);
                if (pq) {
                    row_sum += tq;
                }
            }
        }
        if (lane == 0) {
            scratch[row] = row_sum;
        }
    }
}

// total = sum_i scratch[i] (i increasing, from 0); out[index] = total / denom; then, when
// running >= 0, out[running] = out[running] + out[index] (the epoch's running loss). The block
// stages the row sums through shared memory (coalesced loads by every thread); thread 0 runs
// the one serial chain. Launch with ONE block.
#define NX_LOSS_STAGE 2048
extern "C" __global__ void nx_loss_total(const float *scratch, u64 rows, float denom, float *out,
                                         u64 index, long long running) {
    __shared__ float buf[NX_LOSS_STAGE];
    float total = 0.0f;
    float chunk = 0.0f;
    for (u64 r0 = 0; r0 < rows; r0 += NX_LOSS_STAGE) {
        const u64 len = rows - r0 < NX_LOSS_STAGE ? rows - r0 : NX_LOSS_STAGE;
        for (u64 q = threadIdx.x; q < len; q += blockDim.x) {
            buf[q] = scratch[r0 + q];
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            for (u64 q = 0; q < len; ++q) {
                const u64 r = r0 + q;
                chunk += buf[q];
                if ((r + 1) % NX_CHUNK == 0 || r + 1 == rows) {
                    total = r < NX_CHUNK ? chunk : total + chunk;
                    chunk = 0.0f;
                }
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        const float loss = total / denom;
        out[index] = loss;
        if (running >= 0) {
            out[running] = out[running] + loss;
        }
    }
}
