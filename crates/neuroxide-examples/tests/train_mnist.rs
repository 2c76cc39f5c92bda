//! MNIST through the training workflow, CI-sized: the mnist_mlp model trained for one epoch on
//! the first 10 000 training images (157 steps of 64), evaluated on the full 10 000-image test
//! set. The full run (60 000 images, 5 epochs, ≥ 97.5%) is `cargo run --release --example
//! mnist_mlp`; see the report of issue 3 for its numbers.

#[path = "../../neuroxide/tests/common/mod.rs"]
mod common;

use neuroxide::train::Verbosity;
use neuroxide_examples::mnist::{self, MnistModel, MnistTrainOptions};

#[test]
fn mnist_mlp_on_10k_images_reaches_90_percent() {
    let r = mnist::train(&MnistTrainOptions {
        model: MnistModel::Mlp,
        data_dir: common::data_dir().join("mnist"),
        epochs: 1,
        train_limit: Some(10_000),
        seed: 1,
        verbose: Verbosity::Silent,
        ..MnistTrainOptions::default()
    })
    .unwrap();
    assert_eq!(r.train_images, 10_000);
    assert_eq!(r.test_images, 10_000);
    assert_eq!(r.model.optimizer_steps(), 157);
    println!(
        "test accuracy {:.4}, loss {:.4}, {:.0} images/s\n{}",
        r.test_accuracy, r.test_loss, r.images_per_sec, r.confusion
    );
    // Measured 92.27% with seed 1 (exact mode: the same on every machine); the bound leaves
    // room for a change of initialisation (e.g. the final Philox implementation).
    assert!(r.test_accuracy >= 0.90, "test accuracy {}", r.test_accuracy);
    // The confusion matrix counts the same predictions the device counted.
    assert_eq!(r.confusion.total(), 10_000);
    assert_eq!(r.confusion.accuracy(), r.test_accuracy);
    let h = r.history.last().unwrap();
    assert!(h.get("loss").unwrap() < 0.6, "{h:?}");
}

/// The MNIST CNN (issue 10), CI-sized: one epoch on the first 10 000 training images, the full
/// test set. The full runs (60 000 images; 1 epoch ≥ 98.5%, 3 epochs ≥ 99.0%) are
/// `neuroxide train mnist --model cnn`.
#[test]
fn mnist_cnn_on_10k_images_reaches_96_percent() {
    let r = mnist::train(&MnistTrainOptions {
        model: MnistModel::Cnn,
        data_dir: common::data_dir().join("mnist"),
        epochs: 1,
        train_limit: Some(10_000),
        seed: 1,
        verbose: Verbosity::Silent,
        ..MnistTrainOptions::default()
    })
    .unwrap();
    assert_eq!(r.model.optimizer_steps(), 157);
    println!(
        "CNN test accuracy {:.4}, loss {:.4}, {:.0} images/s\n{}",
        r.test_accuracy, r.test_loss, r.images_per_sec, r.confusion
    );
    assert!(r.test_accuracy >= 0.96, "test accuracy {}", r.test_accuracy);
    assert_eq!(r.confusion.total(), 10_000);
}
