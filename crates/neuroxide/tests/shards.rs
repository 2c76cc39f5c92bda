//! Sharded training (`Model::set_shards`, `FitOptions::shards`, `graph/executor/shards.rs`) on
//! the CPU: one shard is the plain step bit for bit; 2 and 4 shards give exactly the gradient
//! of a hand-written reference (each shard trained by a plain step on a learning-rate-0 copy,
//! gradients summed in rank order on the host, then scaled by 1/R) and the loss reduced the
//! same way; runs are deterministic, independent of the thread count and of the prefetch path;
//! bad shard counts are clear errors.

use neuroxide::data::Dataset;
use neuroxide::graph::shard_seed;
use neuroxide::layers::{Conv2D, Dense, Dropout, Flatten, MaxPool2D, Padding};
use neuroxide::optim::{self, OptimizerKind};
use neuroxide::train::{fit_dataset, FitOptions, Verbosity};
use neuroxide::{Activation, Device, Loss, Model, Sequential, Tensor};

const SEED: u64 = 5;

/// A small MLP (with dropout when `dropout`), classification over 5 classes of 12 features.
fn mlp(seed: u64, dropout: bool, opt: OptimizerKind) -> Model {
    let mut s = Sequential::new([12]).add(Dense::new(24).activation(Activation::GeluTanh));
    if dropout {
        s = s.add(Dropout::new(0.3));
    }
    let mut m = s
        .add(Dense::new(16).relu())
        .add(Dense::new(5))
        .build(seed)
        .expect("build mlp");
    m.compile(opt, Loss::cross_entropy()).expect("compile");
    m
}

/// The MNIST CNN's shape (conv, pool, conv, pool, flatten, dense, dense) on 1×12×12 images.
fn cnn(seed: u64, opt: OptimizerKind) -> Model {
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
        .build(seed)
        .expect("build cnn");
    m.compile(opt, Loss::cross_entropy()).expect("compile");
    m
}

/// Deterministic batch `b` of `rows` rows with `width` features and `classes` classes.
fn batch(b: usize, rows: usize, width: usize, classes: usize) -> (Tensor, Tensor) {
    let x = (0..rows * width)
        .map(|i| (((i * 7 + b * 13) % 31) as f32 - 15.0) * 0.09)
        .collect();
    let y = (0..rows).map(|i| ((i * 3 + b) % classes) as i32).collect();
    (
        Tensor::new([rows, width], x).expect("x"),
        Tensor::from_i32([rows, 1], y).expect("y"),
    )
}

fn cnn_batch(b: usize, rows: usize) -> (Tensor, Tensor) {
    let (x, y) = batch(b, rows, 144, 10);
    (x.reshape([rows, 1, 12, 12]).expect("reshape"), y)
}

fn bits(ws: &[(String, Tensor)]) -> Vec<Vec<u32>> {
    ws.iter()
        .map(|(_, t)| t.data().iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// Trains `steps` batches; returns every step's loss bits and the final weights' bits.
fn train(m: &mut Model, batches: &[(Tensor, Tensor)]) -> (Vec<u32>, Vec<Vec<u32>>) {
    let losses = batches
        .iter()
        .map(|(x, y)| m.train_on_batch(x, y).expect("step").to_bits())
        .collect();
    (losses, bits(&m.weights().expect("weights")))
}

#[test]
fn one_shard_is_the_plain_step_bit_for_bit() {
    let mlp_batches: Vec<_> = (0..5).map(|b| batch(b, 16, 12, 5)).collect();
    let mut plain = mlp(SEED, true, optim::adam(0.01));
    let mut one = mlp(SEED, true, optim::adam(0.01));
    one.set_shards(1).expect("shards");
    let (lp, wp) = train(&mut plain, &mlp_batches);
    assert_eq!(train(&mut one, &mlp_batches), (lp.clone(), wp));
    assert!(lp.iter().all(|&l| f32::from_bits(l).is_finite()));

    let cnn_batches: Vec<_> = (0..3).map(|b| cnn_batch(b, 8)).collect();
    let mut plain = cnn(SEED, optim::adam(0.005));
    let mut one = cnn(SEED, optim::adam(0.005));
    one.set_shards(1).expect("shards");
    let expect = train(&mut plain, &cnn_batches);
    assert_eq!(train(&mut one, &cnn_batches), expect);
}

/// The reference of one sharded step from `weights`: each shard trained by a plain step on a
/// copy with learning rate 0 (built with the shard's dropout seed, so it draws the shard's
/// masks), its gradient read back; the gradients summed in rank order on the host and scaled
/// by `fl(1/R)`; the loss likewise.
fn reference_step(
    build: &dyn Fn(u64) -> Model,
    weights: &[(String, Tensor)],
    shards: &[(Tensor, Tensor)],
) -> (u32, Vec<Vec<u32>>) {
    let inv = 1.0 / shards.len() as f32;
    let mut sum: Option<Vec<Vec<f32>>> = None;
    let mut loss_sum = 0.0f32;
    for (r, (x, y)) in shards.iter().enumerate() {
        let mut m = build(shard_seed(SEED, r));
        m.set_weights(weights).expect("set weights");
        let l = m.train_on_batch(x, y).expect("shard step");
        let g: Vec<Vec<f32>> = m
            .gradients()
            .expect("gradients")
            .into_iter()
            .map(|(_, t)| t.data().to_vec())
            .collect();
        match sum.as_mut() {
            None => {
                sum = Some(g);
                loss_sum = l;
            }
            Some(s) => {
                for (a, b) in s.iter_mut().zip(&g) {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += *y;
                    }
                }
                loss_sum += l;
            }
        }
    }
    let grads = sum
        .expect("at least one shard")
        .iter()
        .map(|g| g.iter().map(|v| (v * inv).to_bits()).collect())
        .collect();
    ((loss_sum * inv).to_bits(), grads)
}

/// Splits a batch into `r` shards of consecutive rows.
fn split(x: &Tensor, y: &Tensor, r: usize) -> Vec<(Tensor, Tensor)> {
    let rows = x.rows() / r;
    let (xw, yw) = (x.row_len(), y.row_len());
    let mut xs = x.shape().to_vec();
    xs[0] = rows;
    (0..r)
        .map(|k| {
            let xd = x.data()[k * rows * xw..(k + 1) * rows * xw].to_vec();
            let yd = y.ids().expect("labels")[k * rows * yw..(k + 1) * rows * yw].to_vec();
            (
                Tensor::new(xs.clone(), xd).expect("x shard"),
                Tensor::from_i32([rows, yw], yd).expect("y shard"),
            )
        })
        .collect()
}

/// Trains a sharded model on `batches` and checks each step's gradient and loss against
/// [`reference_step`] from the weights before the step.
fn check_against_reference(
    build: &dyn Fn(u64) -> Model,
    shards: usize,
    batches: &[(Tensor, Tensor)],
) {
    let mut m = build(SEED);
    m.set_shards(shards).expect("shards");
    // The reference trains with learning rate 0 from the sharded model's weights.
    for (step, (x, y)) in batches.iter().enumerate() {
        let before = m.weights().expect("weights");
        let (ref_loss, ref_grads) = reference_step(build, &before, &split(x, y, shards));
        let loss = m.train_on_batch(x, y).expect("sharded step");
        let grads = bits(&m.gradients().expect("gradients"));
        assert_eq!(loss.to_bits(), ref_loss, "R={shards} step {step}: loss");
        assert_eq!(grads, ref_grads, "R={shards} step {step}: gradients");
        assert_ne!(bits(&m.weights().expect("w")), bits(&before), "no update");
    }
}

#[test]
fn two_and_four_shards_equal_the_rank_order_reference() {
    // Dropout only at the first step: the reference models start at optimizer step 0.
    let mlp_drop = |s| mlp(s, true, optim::sgd(0.1));
    let mlp_batches: Vec<_> = (0..1).map(|b| batch(b, 16, 12, 5)).collect();
    for r in [2, 4] {
        check_against_reference(&mlp_drop, r, &mlp_batches);
    }
    // Several steps (weights change between them: the sharded model trains with Adam; the
    // reference only needs the weights before each step).
    let adam_mlp = |s| mlp(s, false, optim::adam(0.01));
    let many: Vec<_> = (0..4).map(|b| batch(b, 16, 12, 5)).collect();
    for r in [2, 4] {
        check_against_reference(&adam_mlp, r, &many);
    }
    let adam_cnn = |s| cnn(s, optim::adam(0.005));
    let cnn_batches: Vec<_> = (0..2).map(|b| cnn_batch(b, 8)).collect();
    for r in [2, 4] {
        check_against_reference(&adam_cnn, r, &cnn_batches);
    }
}

/// `fit` on 64 rows (batch 16) with `shards` shards on `device`; loss history bits and weights.
fn fit_run(device: Device, shards: usize) -> (Vec<u64>, Vec<Vec<u32>>) {
    let (x, y) = batch(9, 64, 12, 5);
    let data = Dataset::new(x, y).expect("dataset");
    let mut m = mlp(SEED, true, optim::adam(0.01));
    m.to_device(device).expect("device");
    let o = FitOptions::new()
        .epochs(3)
        .batch_size(16)
        .shards(shards)
        .verbose(Verbosity::Silent);
    let h = fit_dataset(&mut m, &data, o).expect("fit");
    let losses = h
        .epochs
        .iter()
        .map(|e| e.logs.get("loss").expect("loss").to_bits())
        .collect();
    (losses, bits(&m.weights().expect("weights")))
}

#[test]
fn sharded_fit_is_deterministic_and_independent_of_threads() {
    for r in [2, 4] {
        let a = fit_run(Device::cpu_threads(1), r);
        let b = fit_run(Device::cpu_threads(1), r);
        let c = fit_run(Device::cpu_threads(2), r);
        assert_eq!(a, b, "R={r}: two runs differ");
        assert_eq!(a, c, "R={r}: 1 vs 2 threads differ");
        assert_ne!(a, fit_run(Device::cpu_threads(1), 1), "R={r} equals R=1");
    }
}

#[test]
fn prefetched_sharded_steps_equal_synchronous_ones() {
    let batches: Vec<_> = (0..4).map(|b| batch(b, 12, 12, 5)).collect();
    let mut sync = mlp(SEED, true, optim::adam(0.01));
    sync.set_shards(3).expect("shards");
    let expect = train(&mut sync, &batches);
    let mut pre = mlp(SEED, true, optim::adam(0.01));
    pre.set_shards(3).expect("shards");
    let mut losses = Vec::new();
    for (x, y) in &batches {
        pre.prefetch(&[x], &[y]).expect("prefetch");
        pre.train_step_prefetched().expect("step");
        losses.push(pre.last_loss().expect("loss").to_bits());
    }
    assert_eq!((losses, bits(&pre.weights().expect("w"))), expect);
}

#[test]
fn indivisible_batches_are_clear_errors() {
    let mut m = mlp(SEED, false, optim::adam(0.01));
    m.set_shards(4).expect("shards");
    let (x, y) = batch(0, 6, 12, 5);
    let e = m.train_step(&[&x], &[&y]).expect_err("6 rows, 4 shards");
    let msg = e.to_string();
    assert!(
        msg.contains("6 rows") && msg.contains("4 equal shards"),
        "{msg}"
    );
    let e = m.prefetch(&[&x], &[&y]).expect_err("prefetch too");
    assert!(e.to_string().contains("4 equal shards"), "{e}");
    assert!(m
        .set_shards(0)
        .expect_err("zero")
        .to_string()
        .contains("at least 1"));

    // fit: 40 rows in batches of 16 leave a last batch of 8 rows; 16 shards cannot split it.
    let (x, y) = batch(1, 40, 12, 5);
    let data = Dataset::new(x, y).expect("dataset");
    let mut m = mlp(SEED, false, optim::adam(0.01));
    let fit = |m: &mut Model, r: usize, drop_last: bool| {
        fit_dataset(
            m,
            &data,
            FitOptions::new()
                .epochs(1)
                .batch_size(16)
                .shards(r)
                .drop_last(drop_last)
                .verbose(Verbosity::Silent),
        )
    };
    let e = fit(&mut m, 16, false).expect_err("last batch of 8 rows, 16 shards");
    assert!(
        e.to_string()
            .contains("last batch of each epoch has 8 rows"),
        "{e}"
    );
    let e = fit(&mut m, 3, false).expect_err("16 rows, 3 shards");
    assert!(
        e.to_string().contains("16 rows does not split into 3"),
        "{e}"
    );
    let h = fit(&mut m, 16, true).expect("drop_last makes it fit");
    assert!(h.epochs[0].logs.get("loss").expect("loss").is_finite());
}
