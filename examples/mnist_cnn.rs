//! MNIST with the mnist_cnn model of bench/WORKLOADS.md, written with the public API as a user
//! would: load the IDX files, build the graph, compile, fit, evaluate.
//!
//! Conv2D(1→16, 3×3, pad 1) ReLU → MaxPool(2) → Conv2D(16→32, 3×3, pad 1) ReLU → MaxPool(2) →
//! Flatten → Dense(1568→128) ReLU → Dense(128→10); softmax cross-entropy on logits, Adam(1e-3),
//! batch 64, pixels in [0, 1]. Prints per-epoch loss and accuracy, the test accuracy, images/s
//! and the confusion matrix.
//!
//! `cargo run --release --example mnist_cnn [-- --epochs 1 --seed 1 --device cpu --data-dir data/mnist]`

use neuroxide::data::{Mnist, MnistOptions};
use neuroxide::graph::LayerApply;
use neuroxide::layers::{Conv2D, Dense, Flatten, Initializer, MaxPool2D, Padding};
use neuroxide::train::{evaluate, fit_dataset, ConfusionMatrix, FitOptions, Metric, Verbosity};
use neuroxide::{optim, Device, Graph, Loss, Model, Result};
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let epochs = arg("--epochs").and_then(|s| s.parse().ok()).unwrap_or(1);
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

    // Build: each sample is a [1, 28, 28] image (the rows of 784 pixels are its NCHW values).
    let g = Graph::new();
    let x = g.input([1, 28, 28]);
    // He-uniform kernels for the ReLU layers.
    let he = Initializer::HeUniform;
    let h = Conv2D::new(16, (3, 3))
        .padding(Padding::Explicit(1, 1))
        .relu()
        .kernel_init(he)
        .apply(&x);
    let h = MaxPool2D::new((2, 2)).apply(&h);
    let h = Conv2D::new(32, (3, 3))
        .padding(Padding::Explicit(1, 1))
        .relu()
        .kernel_init(he)
        .apply(&h);
    let h = MaxPool2D::new((2, 2)).apply(&h);
    let h = Flatten::new().apply(&h);
    let h = Dense::new(128).relu().kernel_init(he).apply(&h);
    let y = Dense::new(10).apply(&h);
    let mut model = Model::with_seed(&[&x], &[&y], seed)?;

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
