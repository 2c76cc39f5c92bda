//! MNIST with the mnist_mlp model of bench/WORKLOADS.md, written with the public API as a user
//! would: 784→256→128→10 (ReLU), softmax cross-entropy on logits, Adam(1e-3), batch 64, pixels
//! in [0, 1]. Prints per-epoch loss and accuracy, the test accuracy, images/s and the confusion
//! matrix.
//!
//! `cargo run --release --example mnist_mlp [-- --epochs 5 --seed 1 --device cpu --data-dir data/mnist]`

use neuroxide::data::{Mnist, MnistOptions};
use neuroxide::layers::Dense;
use neuroxide::train::{evaluate, fit_dataset, ConfusionMatrix, FitOptions, Metric, Verbosity};
use neuroxide::{optim, Device, Loss, Result, Sequential};
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let epochs = arg("--epochs").and_then(|s| s.parse().ok()).unwrap_or(5);
    let seed = arg("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);
    let device = Device::parse(&arg("--device").unwrap_or_else(|| "cpu".into()))?;
    let dir = arg("--data-dir").unwrap_or_else(|| "data/mnist".into());

    // Load: 60 000 training and 10 000 test images as rows of 784 pixels in [0, 1].
    let (train, test) = Mnist::load_with(
        &dir,
        &MnistOptions {
            verify_checksums: false,
            limit: None,
        },
    )?;

    // Build: 784 → 256 → 128 → 10, ReLU hidden layers, logits out.
    let mut model = Sequential::new([784])
        .add(Dense::new(256).relu())
        .add(Dense::new(128).relu())
        .add(Dense::new(10))
        .build(seed)?;

    // Compile and fit.
    model.compile(optim::adam(1e-3), Loss::cross_entropy())?;
    model.to_device(device)?;
    print!("{}", model.summary());
    let start = Instant::now();
    let history = fit_dataset(
        &mut model,
        &train,
        FitOptions::new()
            .epochs(epochs)
            .batch_size(64)
            .seed(seed)
            .verbose(Verbosity::Progress),
    )?;
    let seconds = start.elapsed().as_secs_f64();

    // Evaluate on the test set.
    let result = evaluate(&mut model, &test, 1000, &[Metric::Accuracy])?;
    let predictions = result
        .predictions
        .as_ref()
        .ok_or_else(|| neuroxide::Error::invalid("evaluation returned no predictions"))?;
    let confusion = ConfusionMatrix::from_predictions(predictions, &test.y, &[])?;
    println!(
        "test accuracy {:.2}% (loss {:.4}) on {} images; {:.0} images/s over {} epochs",
        100.0 * result.accuracy.unwrap_or(f64::NAN),
        result.loss,
        test.len(),
        (history.len() * train.len()) as f64 / seconds.max(1e-9),
        history.len()
    );
    println!("{confusion}");
    Ok(())
}
