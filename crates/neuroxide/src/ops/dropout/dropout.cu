// Inverted dropout (ops/dropout/mod.rs): element i uses word i % 4 of
// philox4x32_10(counter = [i/4 low, i/4 high, stream, step], key = [seed low, seed high]).
extern "C" __global__ void nx_dropout(const float *x, float *y, float *mask, u64 n, float p,
                                      float scale, u64 seed, unsigned int stream,
                                      unsigned int step, const float *step_block) {
    // With a per-step scalar block (StepBlock) the counter is read there (PARITY rule 8).
    if (step_block != nullptr) {
        step = __float_as_uint(step_block[NX_BLOCK_DROPOUT_STEP]);
    }
    NX_GRID_STRIDE(i, n) {
        u64 block = i / 4;
        unsigned int w[4];
        nx_philox_words((unsigned int)block, (unsigned int)(block >> 32), stream, step,
                        (unsigned int)seed, (unsigned int)(seed >> 32), w);
        float m = nx_uniform01(w[i % 4]) >= p ? scale : 0.0f;
        mask[i] = m;
        y[i] = x[i] * m;
    }
}
