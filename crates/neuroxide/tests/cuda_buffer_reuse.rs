//! Buffer reuse by lifetime on a GPU: training with shared per-batch buffers on CUDA equals the
//! CPU bit for bit (with and without reuse there) — every step's loss, every final weight,
//! predictions and evaluation — for a CNN with BatchNorm, dropout and pooling and for a
//! transformer-like graph with residual fan-out, plain and sharded, with the steps recorded
//! and replayed as CUDA graphs; and still so when every shared buffer is filled with NaN
//! before each step. Needs a GPU; skip rules of PARITY.md.

#[path = "support/require_cuda.rs"]
mod require_cuda;

mod common;
#[path = "support/reuse_models.rs"]
mod reuse_models;

use neuroxide::{Device, Model};
use reuse_models::{cnn, images, run, tokens, transformer, Batches, Plan};

fn check(name: &str, build: fn(u64) -> Model, data: Batches, shards: usize, gpu: Device) {
    let cpu_private = run(build, data, Plan::Private, shards, Device::cpu());
    let cpu_shared = run(build, data, Plan::Shared, shards, Device::cpu());
    assert_eq!(cpu_shared, cpu_private, "{name}: CPU with vs without reuse");
    let cuda_shared = run(build, data, Plan::Shared, shards, gpu);
    assert_eq!(
        cuda_shared.0, cpu_shared.0,
        "{name}: step losses, CUDA vs CPU"
    );
    assert_eq!(cuda_shared, cpu_shared, "{name}: CUDA vs CPU with reuse");
    let cuda_poisoned = run(build, data, Plan::Poisoned, shards, gpu);
    assert_eq!(
        cuda_poisoned, cpu_shared,
        "{name}: CUDA with NaN-filled shared buffers"
    );
    let cuda_private = run(build, data, Plan::Private, shards, gpu);
    assert_eq!(
        cuda_private, cpu_private,
        "{name}: CUDA vs CPU without reuse"
    );
}

#[test]
fn cuda_cnn_with_reuse_equals_cpu_bit_for_bit() {
    let Some(gpu) = require_cuda::gpu() else {
        return;
    };
    check("cnn", cnn, images, 1, gpu);
    check("cnn, 2 shards", cnn, images, 2, gpu);
}

#[test]
fn cuda_transformer_with_reuse_equals_cpu_bit_for_bit() {
    let Some(gpu) = require_cuda::gpu() else {
        return;
    };
    check("transformer", transformer, tokens, 1, gpu);
    check("transformer, 2 shards", transformer, tokens, 2, gpu);
}
