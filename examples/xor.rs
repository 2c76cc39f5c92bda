//! XOR with a 2-4-1 network, written with the public API as a user would: tanh hidden layer,
//! sigmoid output, Adam(0.05), MSE, the four rows as one batch. Prints the four predictions.
//!
//! `cargo run --release --example xor [-- --device cuda] [-- --seed N]`

use neuroxide::layers::Dense;
use neuroxide::{optim, Activation, Device, Loss, Result, Sequential, Tensor};
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let device = Device::parse(&arg("--device").unwrap_or_else(|| "cpu".into()))?;
    let seed = arg("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);

    // Data: the four rows of the truth table.
    let x = Tensor::new([4, 2], vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0])?;
    let y = Tensor::new([4, 1], vec![0.0, 1.0, 1.0, 0.0])?;

    // Build and compile.
    let mut model = Sequential::new([2])
        .add(Dense::new(4).activation(Activation::Tanh))
        .add(Dense::new(1).activation(Activation::Sigmoid))
        .build(seed)?;
    model.compile(optim::adam(0.05), Loss::mse())?;
    model.to_device(device)?;

    // Train: 500 full-batch steps.
    let steps = 500;
    let start = Instant::now();
    let mut loss = f32::NAN;
    for _ in 0..steps {
        loss = model.train_on_batch(&x, &y)?;
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / steps as f64;

    // Predict.
    let predictions = model.predict(&x)?;
    for (row, p) in x.data().chunks(2).zip(predictions.data()) {
        println!("{row:?} -> {p:.4}");
    }
    println!("final loss {loss:.6} after {steps} steps ({micros:.1} µs/step)");
    Ok(())
}
