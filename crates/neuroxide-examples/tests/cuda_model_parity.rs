//! Per-example parity (PARITY.md, "How parity is proven"): N training steps on the CPU and on
//! CUDA from one seed, every step's loss and all final weights compared bit for bit. Also the
//! steady-state promise of the CUDA executor: after the first step, a training step makes no
//! device allocation and no host↔device synchronisation except reading the loss when asked.
//!
//! Without a usable GPU every test prints why it was skipped and passes.

#[path = "../../neuroxide/tests/support/require_cuda.rs"]
mod require_cuda;

use neuroxide::data::{CsvOptions, Mnist, MnistOptions, TargetColumns};
use neuroxide::layers::{Dense, Dropout};
use neuroxide::parity::{compare_losses, compare_weights, ParityStats};
use neuroxide::{optim, Activation, Device, Loss, Model, Sequential, Tensor};
use std::path::PathBuf;

/// The repository's `data/` folder: `NEUROXIDE_DATA_DIR`, else the source tree, else `./data`
/// (test executables copied to a GPU machine run from the repository root there).
fn data_dir() -> PathBuf {
    if let Ok(d) = std::env::var("NEUROXIDE_DATA_DIR") {
        return PathBuf::from(d);
    }
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data");
    if src.exists() {
        src
    } else {
        PathBuf::from("data")
    }
}

/// Trains `make()` on `batches` on `device`; returns each step's loss and the final weights.
fn trace(
    make: &dyn Fn() -> Model,
    device: Device,
    batches: &[(Tensor, Tensor)],
) -> (Vec<f32>, Vec<(String, Tensor)>) {
    let mut m = make();
    m.to_device(device).expect("device");
    let losses = batches
        .iter()
        .map(|(x, y)| m.train_on_batch(x, y).expect("step"))
        .collect();
    (losses, m.weights().expect("weights"))
}

fn assert_parity(name: &str, make: &dyn Fn() -> Model, batches: &[(Tensor, Tensor)]) {
    let Some(gpu) = require_cuda::gpu() else {
        return;
    };
    let (cpu_loss, cpu_w) = trace(make, Device::cpu(), batches);
    let (gpu_loss, gpu_w) = trace(make, gpu, batches);
    let l = compare_losses(&cpu_loss, &gpu_loss).expect("same step count");
    let w = compare_weights(&cpu_w, &gpu_w).expect("same weights layout");
    report(name, "losses", &l);
    report(name, "weights", &w);
    assert!(
        l.identical() && w.identical(),
        "{name}: CPU and CUDA differ ({} of {} losses, {} of {} weights; max ulp {} / {})",
        l.differing,
        l.compared,
        w.differing,
        w.compared,
        l.max_ulp,
        w.max_ulp
    );
}

fn report(name: &str, what: &str, s: &ParityStats) {
    println!(
        "{name}: {what}: {} compared, {} differing, max ulp {}",
        s.compared, s.differing, s.max_ulp
    );
}

/// Splits a dataset into consecutive batches of `size` rows (the last one may be smaller).
fn batches(x: &Tensor, y: &Tensor, size: usize) -> Vec<(Tensor, Tensor)> {
    (0..x.rows())
        .step_by(size)
        .map(|s| {
            let idx: Vec<usize> = (s..(s + size).min(x.rows())).collect();
            (
                x.select_rows(&idx).expect("x"),
                y.select_rows(&idx).expect("y"),
            )
        })
        .collect()
}

#[test]
fn xor_500_steps_bit_identical() {
    let (x, y) = neuroxide_examples::xor::data().expect("data");
    let steps: Vec<_> = (0..500).map(|_| (x.clone(), y.clone())).collect();
    assert_parity(
        "xor",
        &|| neuroxide_examples::xor::model(3).expect("model"),
        &steps,
    );
}

#[test]
fn iris_csv_mlp_bit_identical() {
    let opts = CsvOptions {
        target: TargetColumns::Names(vec!["species".into()]),
        ..CsvOptions::default()
    };
    let data = neuroxide::data::read_csv(data_dir().join("iris.csv"), &opts).expect("iris");
    let ds = data.dataset().expect("dataset");
    let b = batches(&ds.x, &ds.y, 16);
    let epochs: Vec<_> = (0..20).flat_map(|_| b.clone()).collect();
    let make = || {
        let mut m = Sequential::new([4])
            .add(Dense::new(32).activation(Activation::Tanh))
            .add(Dropout::new(0.1))
            .add(Dense::new(16).activation(Activation::GeluErf))
            .add(Dense::new(3))
            .build(7)
            .expect("build");
        m.compile(optim::adamw(1e-2, 0.01), Loss::cross_entropy())
            .expect("compile");
        m
    };
    assert_parity("iris", &make, &epochs);
}

#[test]
fn mnist_mlp_one_full_epoch_bit_identical() {
    let Some(_) = require_cuda::gpu() else { return };
    let (train, _) = Mnist::load_with(data_dir().join("mnist"), &MnistOptions::default())
        .expect("MNIST in data/mnist");
    let b = batches(&train.x, &train.y, 64);
    assert_eq!(b.len(), 938);
    let make = || {
        let mut m = Sequential::new([784])
            .add(Dense::new(256).relu())
            .add(Dense::new(128).relu())
            .add(Dense::new(10))
            .build(1)
            .expect("build");
        m.compile(optim::adam(1e-3), Loss::cross_entropy())
            .expect("compile");
        m
    };
    assert_parity("mnist_mlp epoch", &make, &b);
}

/// The MNIST CNN of issue 10 (conv, max-pool, dense; Adam 1e-3): one full epoch of 938 batches
/// on both backends, every loss and every final weight bit-identical.
#[test]
fn mnist_cnn_one_full_epoch_bit_identical() {
    let Some(_) = require_cuda::gpu() else { return };
    let (train, _) = Mnist::load_with(data_dir().join("mnist"), &MnistOptions::default())
        .expect("MNIST in data/mnist");
    let b = batches(&train.x, &train.y, 64);
    assert_eq!(b.len(), 938);
    let make = || neuroxide_examples::mnist::cnn_model(1).expect("cnn");
    assert_parity("mnist_cnn epoch", &make, &b);
}

#[test]
fn cuda_step_allocates_nothing_and_syncs_only_for_the_loss() {
    let Some(gpu) = require_cuda::gpu() else {
        return;
    };
    let mut m = Sequential::new([64])
        .add(Dense::new(128).activation(Activation::Silu))
        .add(Dropout::new(0.2))
        .add(Dense::new(10))
        .build(5)
        .expect("build");
    m.compile(optim::adam(1e-3), Loss::cross_entropy())
        .expect("compile");
    m.set_clip_norm(Some(1.0)).expect("clip");
    m.to_device(gpu).expect("device");
    let x = Tensor::new(
        [32, 64],
        (0..32 * 64).map(|i| (i % 7) as f32 * 0.1).collect(),
    )
    .expect("x");
    let y = Tensor::from_i32([32, 1], (0..32).map(|i| i % 10).collect()).expect("y");
    m.train_step(&[&x], &[&y]).expect("first step");
    m.last_loss().expect("loss");
    let before = m.backend_stats().expect("stats");
    for _ in 0..50 {
        m.train_step(&[&x], &[&y]).expect("step");
    }
    let mid = m.backend_stats().expect("stats");
    let loss = m.last_loss().expect("loss");
    let after = m.backend_stats().expect("stats");
    println!("before {before:?}\nafter 50 steps {mid:?}\nafter reading the loss {after:?}");
    assert!(loss.is_finite());
    assert_eq!(
        mid.device_allocs, before.device_allocs,
        "device allocations during steady-state steps"
    );
    assert_eq!(mid.syncs, before.syncs, "host waits during 50 steps");
    assert!(
        mid.graph_replays >= 49,
        "steps after the second are replayed CUDA graphs ({} replays)",
        mid.graph_replays
    );
    assert_eq!(after.syncs, mid.syncs + 1, "reading the loss is one wait");
}

/// The mini transformer of WORKLOADS.md (vocab 76 from the text, T 64, d 128, 4 heads, 2 blocks,
/// MLP 512 GELU-tanh, AdamW) on Shakespeare windows: 200 steps of batch 32, every loss and every
/// final weight bit-identical between the CPU and CUDA.
#[test]
fn mini_transformer_200_steps_bit_identical() {
    use neuroxide::data::text::{lm_batch, load_shakespeare, train_val_split, CharTokenizer};
    use neuroxide_examples::char_transformer::{self as ct, TransformerConfig};
    if require_cuda::gpu().is_none() {
        return;
    }
    let text = load_shakespeare(data_dir()).expect("shakespeare");
    let tokenizer = CharTokenizer::fit(&text);
    let ids = tokenizer.encode(&text).expect("encode");
    let (train, _) = train_val_split(&ids);
    let steps: Vec<_> = (0..200u64)
        .map(|s| lm_batch(train, 64, 32, 1, s).expect("batch"))
        .collect();
    let c = TransformerConfig::mini(tokenizer.vocab());
    assert_parity(
        "mini_transformer",
        &|| ct::model(&c, 1e-3, 1).expect("model"),
        &steps,
    );
}
