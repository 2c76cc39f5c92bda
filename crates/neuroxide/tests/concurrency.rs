//! Several models training at once on different threads give results bit-identical to training
//! them one after another (each model owns its backend: its own CPU thread pool, or its own CUDA
//! stream on a shared GPU).

#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::layers::{Dense, Dropout};
use neuroxide::{optim, Activation, Device, Loss, Model, Sequential, Tensor};

fn synthetic(seed: u32, rows: usize) -> (Tensor, Tensor) {
    let mut x = Vec::with_capacity(rows * 16);
    let mut y = Vec::with_capacity(rows);
    for r in 0..rows {
        let w = neuroxide::philox::philox4x32_10([r as u32, 0, seed, 7], [11, 13]);
        let feats: Vec<f32> = (0..16)
            .map(|j| neuroxide::philox::uniform01(w[j % 4].rotate_left(j as u32 * 5)) - 0.5)
            .collect();
        let label = usize::from(feats[0] + feats[1] > 0.0) + usize::from(feats[2] > 0.2);
        x.extend(feats);
        y.push(label as i32);
    }
    (
        Tensor::new([rows, 16], x).expect("x"),
        Tensor::from_i32([rows, 1], y).expect("y"),
    )
}

fn model(seed: u64) -> Model {
    let mut m = Sequential::new([16])
        .add(Dense::new(64).activation(Activation::GeluTanh))
        .add(Dropout::new(0.1))
        .add(Dense::new(32).relu())
        .add(Dense::new(3))
        .build(seed)
        .expect("build");
    m.compile(optim::adamw(1e-2, 0.01), Loss::cross_entropy())
        .expect("compile");
    m
}

/// Trains one model for 30 steps; returns every loss's bits and the final weights' bits.
fn run(device: Device, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut m = model(seed);
    m.to_device(device).expect("device");
    let (x, y) = synthetic(seed as u32, 96);
    let mut losses = Vec::new();
    for _ in 0..30 {
        losses.push(m.train_on_batch(&x, &y).expect("step").to_bits());
    }
    let weights = m
        .weights()
        .expect("weights")
        .into_iter()
        .flat_map(|(_, t)| t.into_data())
        .map(f32::to_bits)
        .collect();
    (losses, weights)
}

fn check_concurrent(device: Device) {
    let seeds = [1u64, 2, 3, 4];
    let sequential: Vec<_> = seeds.iter().map(|&s| run(device, s)).collect();
    let handles: Vec<_> = seeds
        .iter()
        .map(|&s| std::thread::spawn(move || run(device, s)))
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let concurrent = h.join().expect("thread panicked");
        assert_eq!(
            concurrent.0, sequential[i].0,
            "model {i} on {device}: losses differ between concurrent and sequential training"
        );
        assert_eq!(
            concurrent.1, sequential[i].1,
            "model {i} on {device}: weights differ between concurrent and sequential training"
        );
    }
    // Different seeds really give different models (the comparison above is not vacuous).
    assert_ne!(sequential[0].1, sequential[1].1);
}

#[test]
fn four_cpu_models_on_four_threads_match_sequential() {
    check_concurrent(Device::cpu_threads(2));
}

#[test]
fn four_cuda_models_on_four_threads_match_sequential() {
    match neuroxide::backend::cuda::probe(0) {
        Ok(_) => check_concurrent(Device::cuda(0)),
        Err(e) => require_cuda::skip(format!("no usable CUDA device: {e}")),
    }
}
