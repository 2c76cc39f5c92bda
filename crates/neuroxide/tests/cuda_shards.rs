//! Sharded training on one GPU equals the CPU with the same shard count, bit for bit: the shards
//! run one after the other on the device, inside one recorded step (CUDA graph), through `fit`'s
//! prefetch path, with dropout and gradient clipping. Needs a GPU; skip rules of PARITY.md.

mod common;

#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::data::Dataset;
use neuroxide::layers::{Conv2D, Dense, Dropout, Flatten, MaxPool2D, Padding};
use neuroxide::optim;
use neuroxide::train::{fit_dataset, FitOptions, Verbosity};
use neuroxide::{Activation, Device, Loss, Model, Sequential, Tensor};

fn mlp() -> Model {
    let mut m = Sequential::new([12])
        .add(Dense::new(24).activation(Activation::GeluTanh))
        .add(Dropout::new(0.3))
        .add(Dense::new(16).relu())
        .add(Dense::new(5))
        .build(5)
        .expect("build");
    m.compile(optim::adam(0.01), Loss::cross_entropy())
        .expect("compile");
    m.set_clip_norm(Some(0.5)).expect("clip");
    m
}

fn cnn() -> Model {
    let conv = |f| {
        Conv2D::new(f, (3, 3))
            .padding(Padding::Explicit(1, 1))
            .relu()
    };
    let mut m = Sequential::new([1, 12, 12])
        .add(conv(4))
        .add(MaxPool2D::new((2, 2)))
        .add(conv(8))
        .add(MaxPool2D::new((2, 2)))
        .add(Flatten::new())
        .add(Dense::new(16).relu())
        .add(Dense::new(10))
        .build(5)
        .expect("build");
    m.compile(optim::adam(0.005), Loss::cross_entropy())
        .expect("compile");
    m
}

/// `rows` deterministic rows of `width` features (±0 and a denormal among them) and classes.
fn data(rows: usize, width: usize, classes: usize) -> Dataset {
    let mut x: Vec<f32> = (0..rows * width)
        .map(|i| (((i * 7) % 31) as f32 - 15.0) * 0.09)
        .collect();
    x[1] = -0.0;
    x[2] = 1e-40;
    let y = (0..rows).map(|i| ((i * 3) % classes) as i32).collect();
    let x = Tensor::new([rows, width], x).expect("x");
    let y = Tensor::from_i32([rows, 1], y).expect("y");
    Dataset::new(x, y).expect("dataset")
}

/// `fit` (3 epochs, batch 16, `shards` shards) on `device`: epoch losses and weights, as bits.
fn run(
    mut m: Model,
    data: &Dataset,
    device: Device,
    shards: usize,
) -> (Vec<u64>, Vec<(String, Vec<u32>)>) {
    m.to_device(device).expect("device");
    let h = fit_dataset(
        &mut m,
        data,
        FitOptions::new()
            .epochs(3)
            .batch_size(16)
            .shards(shards)
            .verbose(Verbosity::Silent),
    )
    .expect("fit");
    let losses = h
        .epochs
        .iter()
        .map(|e| e.logs.get("loss").expect("loss").to_bits())
        .collect();
    let w = common::weight_bits(&mut m);
    (losses, w)
}

#[test]
fn cuda_shards_equal_cpu_shards_bit_for_bit() {
    let Some(gpu) = require_cuda::gpu() else {
        return;
    };
    let d = data(64, 12, 5);
    for r in [1, 2, 4] {
        let cpu = run(mlp(), &d, Device::cpu(), r);
        let cuda = run(mlp(), &d, gpu, r);
        assert_eq!(cpu, cuda, "mlp, {r} shards: CPU and CUDA differ");
    }
    let d = data(48, 144, 10);
    let reshaped = Dataset::new(
        d.x.clone().reshape([48, 1, 12, 12]).expect("reshape"),
        d.y.clone(),
    )
    .expect("dataset");
    let cpu = run(cnn(), &reshaped, Device::cpu(), 2);
    let cuda = run(cnn(), &reshaped, gpu, 2);
    assert_eq!(cpu, cuda, "cnn, 2 shards: CPU and CUDA differ");
}

#[test]
fn cuda_sharded_step_records_and_replays() {
    let Some(gpu) = require_cuda::gpu() else {
        return;
    };
    let d = data(64, 12, 5);
    let mut queued = mlp();
    queued.to_device(gpu).expect("device");
    queued.set_step_recording(false).expect("recording off");
    let mut recorded = mlp();
    recorded.to_device(gpu).expect("device");
    let mut out = Vec::new();
    for m in [&mut queued, &mut recorded] {
        m.set_shards(2).expect("shards");
        let mut losses = Vec::new();
        for _ in 0..4 {
            losses.push(m.train_on_batch(&d.x, &d.y).expect("step").to_bits());
        }
        out.push(losses);
    }
    assert_eq!(out[0], out[1], "recorded vs queued sharded steps");
    let (_, failure) = recorded.step_launch_info().expect("info");
    assert_eq!(failure, None, "recording a sharded step failed");
}
