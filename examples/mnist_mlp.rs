//! MNIST with the mnist_mlp model of bench/WORKLOADS.md: 784→256→128→10 (ReLU), softmax
//! cross-entropy on logits, Adam(1e-3), batch 64, pixels in [0, 1]. Prints per-epoch loss and
//! accuracy, the test accuracy, images/s and the confusion matrix.
//!
//! `cargo run --release --example mnist_mlp [-- --epochs 5 --seed 1 --device cpu --data-dir data/mnist]`

use neuroxide::examples::mnist::{self, MnistModel, MnistTrainOptions};
use neuroxide::train::Verbosity;
use neuroxide::{Device, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut o = MnistTrainOptions {
        model: MnistModel::Mlp,
        verbose: Verbosity::Progress,
        ..MnistTrainOptions::default()
    };
    if let Some(d) = arg("--device") {
        o.device = Device::parse(&d)?;
    }
    if let Some(d) = arg("--data-dir") {
        o.data_dir = d.into();
    }
    o.epochs = arg("--epochs").and_then(|s| s.parse().ok()).unwrap_or(5);
    o.seed = arg("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);
    o.batch_size = arg("--batch-size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let r = mnist::train(&o)?;
    println!(
        "test accuracy {:.2}% (loss {:.4}) on {} images; {:.0} images/s over {} epochs",
        100.0 * r.test_accuracy,
        r.test_loss,
        r.test_images,
        r.images_per_sec,
        r.history.len()
    );
    println!("{}", r.confusion);
    Ok(())
}
