//! Typed buffers changed how ids and labels travel (i32 instead of f32), not one operation of
//! arithmetic: the char transformer's first training losses and the MNIST MLP's epoch loss and
//! test loss are pinned to the bits measured before the change (commit 611bc08, CPU).

#[path = "support/tiny_lm.rs"]
mod tiny_lm;

use neuroxide::data::text::lm_batch;
use neuroxide::train::Verbosity;
use neuroxide::Device;
use neuroxide_examples::char_transformer as ct;
use neuroxide_examples::mnist::{self, MnistModel, MnistTrainOptions};
use tiny_lm::{corpus, data_dir, tiny};

fn char_losses() -> Vec<u32> {
    let (_, ids) = corpus();
    // The vocabulary of the pinned run (the text's 76 characters).
    let c = tiny(76);
    let mut m = ct::model(&c, 1e-3, 2).unwrap();
    m.to_device(Device::Cpu { threads: 2 }).unwrap();
    (0..4u64)
        .map(|s| {
            let (x, y) = lm_batch(&ids, c.seq, 4, 7, s).unwrap();
            m.train_on_batch(&x, &y).unwrap().to_bits()
        })
        .collect()
}

fn mnist_losses() -> Vec<u64> {
    let r = mnist::train(&MnistTrainOptions {
        model: MnistModel::Mlp,
        data_dir: data_dir().join("mnist"),
        epochs: 1,
        train_limit: Some(1024),
        seed: 1,
        verbose: Verbosity::Silent,
        ..MnistTrainOptions::default()
    })
    .unwrap();
    let h = r.history.last().unwrap();
    vec![
        h.get("loss").unwrap().to_bits(),
        r.test_loss.to_bits(),
        r.test_accuracy.to_bits(),
    ]
}

/// Measured on commit 611bc08 (ids and labels as f32) with this file's code; CPU results are
/// the same on every machine (exact mode).
const CHAR_LOSSES_BEFORE: [u32; 4] = [1083248352, 1083451134, 1082998477, 1082674454];
///
/// One value moved on purpose since: the loss mean now adds the row sums in the chunked order of
/// PARITY rule 2a, which differs from the plain row order only above 256 rows. Training batches
/// (64 rows) keep their bits — the epoch loss and the accuracy below are 611bc08's — while the
/// test loss, evaluated in batches of 1000, was 4606839535239902003 on 611bc08 and is pinned here
/// to its chunked-order value.
const MNIST_BEFORE: [u64; 3] = [
    4609883416358289408,
    4606839536098895462,
    4605133280969563832,
];

#[test]
fn char_transformer_losses_are_bit_identical_to_f32_ids() {
    let got = char_losses();
    let values: Vec<f32> = got.iter().map(|&b| f32::from_bits(b)).collect();
    println!("char transformer losses {values:?}");
    assert_eq!(got, CHAR_LOSSES_BEFORE);
}

#[test]
fn mnist_mlp_losses_are_bit_identical_to_f32_labels() {
    let got = mnist_losses();
    println!(
        "mnist epoch loss, test loss, test accuracy {:?}",
        got.iter().map(|&b| f64::from_bits(b)).collect::<Vec<_>>()
    );
    assert_eq!(got, MNIST_BEFORE);
}
