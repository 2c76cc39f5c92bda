//! XOR: Dense(2→4, tanh) → Dense(4→1, sigmoid), MSE, Adam(lr 0.05), the four rows as one batch.

use neuroxide::layers::Dense;
use neuroxide::{optim, Activation, Device, Loss, Model, Result, Sequential, Tensor};
use std::time::Instant;

/// The four XOR inputs.
pub const INPUTS: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// Their targets.
pub const TARGETS: [f32; 4] = [0.0, 1.0, 1.0, 0.0];

/// Outcome of one XOR training run.
#[derive(Clone, Debug)]
pub struct XorReport {
    pub predictions: Vec<f32>,
    /// Loss after every step.
    pub losses: Vec<f32>,
    pub final_loss: f32,
    pub steps: usize,
    pub micros_per_step: f64,
    /// Largest |prediction − target| over the four rows.
    pub max_error: f32,
    /// The final weights, for parity checks.
    pub weights: Vec<(String, Tensor)>,
}

/// The XOR model with the given seed.
pub fn model(seed: u64) -> Result<Model> {
    let mut m = Sequential::new([2])
        .add(Dense::new(4).activation(Activation::Tanh))
        .add(Dense::new(1).activation(Activation::Sigmoid))
        .build(seed)?;
    m.compile(optim::adam(0.05), Loss::mse())?;
    Ok(m)
}

/// The four rows as tensors `(x [4, 2], y [4, 1])`.
pub fn data() -> Result<(Tensor, Tensor)> {
    let x = Tensor::new([4, 2], INPUTS.iter().flatten().copied().collect())?;
    let y = Tensor::new([4, 1], TARGETS.to_vec())?;
    Ok((x, y))
}

/// Trains XOR for `steps` full-batch steps on `device`.
pub fn train(device: Device, seed: u64, steps: usize) -> Result<XorReport> {
    let mut m = model(seed)?;
    m.to_device(device)?;
    let (x, y) = data()?;
    let mut losses = Vec::with_capacity(steps);
    let start = Instant::now();
    for _ in 0..steps {
        losses.push(m.train_on_batch(&x, &y)?);
    }
    let micros_per_step = start.elapsed().as_secs_f64() * 1e6 / steps.max(1) as f64;
    let predictions = m.predict(&x)?.into_data();
    let max_error = predictions
        .iter()
        .zip(TARGETS)
        .map(|(p, t)| (p - t).abs())
        .fold(0.0f32, f32::max);
    Ok(XorReport {
        final_loss: losses.last().copied().unwrap_or(f32::NAN),
        predictions,
        losses,
        steps,
        micros_per_step,
        max_error,
        weights: m.weights()?,
    })
}
