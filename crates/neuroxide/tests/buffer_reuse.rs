//! Buffer reuse by lifetime (`graph/executor/lifetimes.rs`) on the CPU: training with shared
//! per-batch buffers gives the same bits as with every buffer private — every step's loss,
//! every final weight, predictions and evaluation after training — for an MLP, a CNN with
//! BatchNorm, dropout and pooling, a transformer-like graph (embeddings, LayerNorm, attention,
//! residual fan-out), a shared layer and sharded steps; still so when every shared buffer is
//! filled with NaN before each step (no layer reads a shared buffer before writing it); and
//! reuse plans strictly fewer bytes.

mod common;

use common::{weight_bits, Rng};
use neuroxide::data::Dataset;
use neuroxide::graph::{add, concat, multiply, SharedLayer};
use neuroxide::layers::{
    AvgPool2D, BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Embedding, Flatten, LayerNorm,
    MaxPool2D, MultiHeadAttention, Padding, PositionEmbedding, SequencePooling, SpatialDropout2D,
};
use neuroxide::train::evaluate;
use neuroxide::{optim, Activation, Graph, LayerApply, Loss, Model, Sequential, Tensor};

/// Rows of a full batch; the last training batch has fewer (a prefix of the planned buffers).
const ROWS: usize = 8;
const LAST_ROWS: usize = 5;

fn mlp(seed: u64) -> Model {
    let mut m = Sequential::new([12])
        .add(Dense::new(24).activation(Activation::GeluTanh))
        .add(Dropout::new(0.3))
        .add(Dense::new(16).relu())
        .add(BatchNorm1D::new())
        .add(Dense::new(16).activation(Activation::Tanh))
        .add(Dense::new(5))
        .build(seed)
        .expect("build mlp");
    m.compile(optim::adam(0.01), Loss::cross_entropy())
        .expect("compile");
    m
}

/// Conv (fused and strided), BatchNorm2D, spatial and plain dropout, max and average pooling.
fn cnn(seed: u64) -> Model {
    let mut m = Sequential::new([2, 12, 12])
        .add(Conv2D::new(6, (3, 3)).same().relu())
        .add(BatchNorm2D::new())
        .add(SpatialDropout2D::new(0.25))
        .add(MaxPool2D::new((2, 2)))
        .add(Conv2D::new(8, (1, 1)).stride(2, 2))
        .add(
            AvgPool2D::new((3, 3))
                .stride(1, 1)
                .padding(Padding::Explicit(1, 1)),
        )
        .add(Flatten::new())
        .add(Dropout::new(0.2))
        .add(Dense::new(16).relu())
        .add(Dense::new(5))
        .build(seed)
        .expect("build cnn");
    m.compile(optim::adam(0.005), Loss::cross_entropy())
        .expect("compile");
    m
}

const VOCAB: usize = 11;
const SEQ: usize = 6;

/// Embeddings, a pre-norm attention block and a gated MLP block, both residual (the block
/// input fans out to the norm and the `add`), then a per-token classifier.
fn transformer(seed: u64) -> Model {
    let g = Graph::new();
    let ids = g.input_ids([SEQ]);
    let x = Embedding::new(VOCAB, 16).apply(&ids);
    let x = PositionEmbedding::new().apply(&x);
    let h = LayerNorm::new().apply(&x);
    let h = MultiHeadAttention::new(2).causal().dropout(0.1).apply(&h);
    let x = add(&[&x, &h]);
    let h = LayerNorm::new().apply(&x);
    let up = Dense::new(32).activation(Activation::GeluTanh).apply(&h);
    let gate = Dense::new(32).activation(Activation::Sigmoid).apply(&h);
    let h = multiply(&up, &gate);
    let h = Dense::new(16).apply(&h);
    let x = add(&[&x, &h]);
    let logits = Dense::new(VOCAB).apply(&LayerNorm::new().apply(&x));
    let mut m = Model::with_seed(&[&ids], &[&logits], seed).expect("transformer");
    m.compile(optim::adamw(3e-3, 0.01), Loss::cross_entropy())
        .expect("compile");
    m
}

/// One encoder applied twice (a shared parameter set), both applications concatenated.
fn shared(seed: u64) -> Model {
    let g = Graph::new();
    let x = g.input([12]);
    let enc = SharedLayer::new(Dense::new(12).activation(Activation::Tanh));
    let a = enc.apply(&x);
    let b = enc.apply(&a);
    let h = concat(&[&a, &b]);
    let y = Dense::new(5).apply(&h);
    let mut m = Model::with_seed(&[&x], &[&y], seed).expect("shared");
    m.compile(
        optim::sgd_momentum(0.05, 0.9, true, 0.0),
        Loss::cross_entropy(),
    )
    .expect("compile");
    m
}

/// Mean-pooled sequence classifier (for a second transformer-like shape in the byte test).
fn pooled_transformer(seed: u64) -> Model {
    let g = Graph::new();
    let ids = g.input_ids([SEQ]);
    let x = Embedding::new(VOCAB, 32).apply(&ids);
    let x = PositionEmbedding::new().apply(&x);
    let mut x = x;
    for _ in 0..3 {
        let h = MultiHeadAttention::new(4).apply(&LayerNorm::new().apply(&x));
        x = add(&[&x, &h]);
        let h = Dense::new(64).relu().apply(&LayerNorm::new().apply(&x));
        x = add(&[&x, &Dense::new(32).apply(&h)]);
    }
    let y = Dense::new(VOCAB).apply(&SequencePooling::mean().apply(&x));
    let mut m = Model::with_seed(&[&ids], &[&y], seed).expect("pooled");
    m.compile(optim::adam(1e-3), Loss::cross_entropy())
        .expect("compile");
    m
}

fn features(seed: u64, rows: usize, width: usize, classes: usize) -> (Tensor, Tensor) {
    let mut r = Rng::new(seed);
    let x = Tensor::new([rows, width], r.vec(rows * width, -1.0, 1.0)).expect("x");
    let y = (0..rows).map(|_| r.index(classes) as i32).collect();
    (x, Tensor::from_i32([rows, 1], y).expect("y"))
}

fn images(seed: u64, rows: usize) -> (Tensor, Tensor) {
    let (x, y) = features(seed, rows, 2 * 12 * 12, 5);
    (x.reshape([rows, 2, 12, 12]).expect("reshape"), y)
}

fn tokens(seed: u64, rows: usize) -> (Tensor, Tensor) {
    let mut r = Rng::new(seed);
    let mut ids = || (0..rows * SEQ).map(|_| r.index(VOCAB) as i32).collect();
    let x = Tensor::from_i32([rows, SEQ], ids()).expect("ids");
    let y = Tensor::from_i32([rows, SEQ], ids()).expect("targets");
    (x, y)
}

/// How a run plans its buffers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plan {
    Private,
    Shared,
    /// Shared, with every shared buffer filled with NaN before each step.
    Poisoned,
}

/// Loss bits per step, named weight bits, prediction bits, evaluation loss bits.
type RunBits = (Vec<u32>, Vec<(String, Vec<u32>)>, Vec<u32>, u64);

type Batches = fn(u64, usize) -> (Tensor, Tensor);

/// Four training steps (the last on a partial batch), then predictions and an evaluation.
fn run(build: fn(u64) -> Model, data: Batches, plan: Plan, shards: usize) -> RunBits {
    let mut m = build(7);
    m.set_buffer_reuse(plan != Plan::Private).expect("reuse");
    m.set_poison_shared_buffers(plan == Plan::Poisoned)
        .expect("poison");
    m.set_shards(shards).expect("shards");
    let last = if shards > 1 { ROWS / 2 } else { LAST_ROWS };
    let losses: Vec<u32> = (0..4)
        .map(|s| {
            let rows = if s == 3 { last } else { ROWS };
            let (x, y) = data(s + 1, rows);
            let loss = m.train_on_batch(&x, &y).expect("step");
            assert!(loss.is_finite(), "{plan:?} step {s}: loss {loss}");
            loss.to_bits()
        })
        .collect();
    let bytes = m.planned_bytes().expect("planned");
    if plan == Plan::Private {
        assert_eq!(bytes.activations, bytes.activations_unshared);
    } else {
        assert!(bytes.activations <= bytes.activations_unshared);
    }
    let (x, y) = data(99, ROWS + 3);
    let preds = m.predict(&x).expect("predict");
    let eval = evaluate(&mut m, &Dataset::new(x, y).expect("data"), 4, &[]).expect("eval");
    let pred_bits = preds.data().iter().map(|v| v.to_bits()).collect();
    (losses, weight_bits(&mut m), pred_bits, eval.loss.to_bits())
}

fn check_bit_identical(name: &str, build: fn(u64) -> Model, data: Batches, shards: usize) {
    let private = run(build, data, Plan::Private, shards);
    let shared = run(build, data, Plan::Shared, shards);
    assert_eq!(shared.0, private.0, "{name}: losses with reuse");
    assert_eq!(
        shared, private,
        "{name}: weights, predictions, evaluation with reuse"
    );
    let poisoned = run(build, data, Plan::Poisoned, shards);
    assert_eq!(
        poisoned, private,
        "{name}: NaN-filled shared buffers change the result"
    );
}

#[test]
fn mlp_trains_bit_identically_with_reuse() {
    check_bit_identical("mlp", mlp, |s, r| features(s, r, 12, 5), 1);
}

#[test]
fn cnn_trains_bit_identically_with_reuse() {
    check_bit_identical("cnn", cnn, images, 1);
}

#[test]
fn transformer_trains_bit_identically_with_reuse() {
    check_bit_identical("transformer", transformer, tokens, 1);
}

#[test]
fn shared_layer_trains_bit_identically_with_reuse() {
    check_bit_identical("shared", shared, |s, r| features(s, r, 12, 5), 1);
}

#[test]
fn sharded_steps_train_bit_identically_with_reuse() {
    check_bit_identical("sharded cnn", cnn, images, 2);
    check_bit_identical("sharded transformer", transformer, tokens, 2);
}

/// Switching reuse mid-training replans and changes no bit: two steps shared, two private
/// equal four private.
#[test]
fn switching_reuse_replans_without_changing_bits() {
    let steps = |m: &mut Model, switch: bool| -> Vec<u32> {
        (0..4)
            .map(|s| {
                if switch && s == 2 {
                    m.set_buffer_reuse(false).expect("off");
                }
                let (x, y) = tokens(s + 1, ROWS);
                m.train_on_batch(&x, &y).expect("step").to_bits()
            })
            .collect()
    };
    let mut reference = transformer(3);
    reference.set_buffer_reuse(false).expect("off");
    let mut switched = transformer(3);
    switched.set_buffer_reuse(true).expect("on");
    assert!(switched.buffer_reuse());
    assert_eq!(steps(&mut switched, true), steps(&mut reference, false));
    assert!(!switched.buffer_reuse());
    assert_eq!(weight_bits(&mut switched), weight_bits(&mut reference));
    let b = switched.planned_bytes().expect("planned");
    assert_eq!(b.activations, b.activations_unshared, "replanned private");
}

/// Planned bytes of `m` for `rows`-row batches with reuse on and off.
fn planned(m: &mut Model, rows: usize, reuse: bool) -> neuroxide::graph::PlannedBytes {
    m.set_buffer_reuse(reuse).expect("reuse");
    m.plan_for_batch(rows).expect("plan");
    m.planned_bytes().expect("planned")
}

#[test]
fn reuse_plans_fewer_bytes() {
    let mut s = Sequential::new([64]);
    for _ in 0..8 {
        s = s.add(Dense::new(64).relu());
    }
    let mut deep = s.add(Dense::new(10)).build(1).expect("deep mlp");
    deep.compile(optim::adam(1e-3), Loss::cross_entropy())
        .expect("compile");
    let mut pooled = pooled_transformer(1);
    for (name, m) in [("deep mlp", &mut deep), ("mini transformer", &mut pooled)] {
        let off = planned(m, 32, false);
        let on = planned(m, 32, true);
        println!(
            "{name}: activations {} B shared, {} B private; total {:.3} MiB vs {:.3} MiB",
            on.activations,
            off.activations,
            on.total_mib(),
            on.total_unshared_mib()
        );
        assert_eq!(off.activations, off.activations_unshared);
        assert_eq!(on.activations_unshared, off.activations, "{name}");
        assert!(
            on.activations < off.activations,
            "{name}: {on:?} vs {off:?}"
        );
        assert_eq!(on.workspaces, off.workspaces, "workspaces stay private");
        assert_eq!(on.params, off.params);
        assert_eq!(on.optimizer, off.optimizer);
        assert!(on.optimizer > 0, "planned ahead with the optimizer state");
        assert_eq!(on.total_unshared_mib(), off.total_mib());
    }
    // A chain of 8 hidden Dense(64) nodes then Dense(10) (N = 10 nodes): gradient j lives over
    // [19 − j, 20 − j], output i over [i, 20 − i]. Largest first, first fit: gradients 1..6
    // move into the buffers of outputs 3..8 (dead by then), gradients 7 and 8 take two new
    // buffers, and the output's gradient (10 values) joins gradient 7's: 6·64 + 10 values per
    // row saved, no more (closed intervals: touching lifetimes never share).
    let off = planned(&mut deep, 32, false);
    let on = planned(&mut deep, 32, true);
    assert_eq!(off.activations - on.activations, (6 * 64 + 10) * 32 * 4);
}
