//! The models, batches and training run the buffer-reuse tests share (CPU in
//! `tests/buffer_reuse.rs`, CUDA in `tests/cuda_buffer_reuse.rs`; include with
//! `#[path = "support/reuse_models.rs"] mod reuse_models;` beside `mod common;`): an MLP, a CNN
//! with BatchNorm, dropout and pooling, a transformer-like graph with residual fan-out, a
//! shared layer, and a run that trains four steps (the last on a partial batch), predicts and
//! evaluates, returning every bit that matters.
#![allow(dead_code)]

use crate::common::{weight_bits, Rng};
use neuroxide::data::Dataset;
use neuroxide::graph::{add, concat, multiply, SharedLayer};
use neuroxide::layers::{
    AvgPool2D, BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Embedding, Flatten, LayerNorm,
    MaxPool2D, MultiHeadAttention, Padding, PositionEmbedding, SequencePooling, SpatialDropout2D,
};
use neuroxide::train::evaluate;
use neuroxide::{optim, Activation, Device, Graph, LayerApply, Loss, Model, Sequential, Tensor};

/// Rows of a full batch; the last training batch has fewer (a prefix of the planned buffers).
pub const ROWS: usize = 8;
pub const LAST_ROWS: usize = 5;

pub fn mlp(seed: u64) -> Model {
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
pub fn cnn(seed: u64) -> Model {
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

pub const VOCAB: usize = 11;
pub const SEQ: usize = 6;

/// Embeddings, a pre-norm attention block and a gated MLP block, both residual (the block
/// input fans out to the norm and the `add`), then a per-token classifier.
pub fn transformer(seed: u64) -> Model {
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
pub fn shared(seed: u64) -> Model {
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
pub fn pooled_transformer(seed: u64) -> Model {
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

pub fn features(seed: u64, rows: usize, width: usize, classes: usize) -> (Tensor, Tensor) {
    let mut r = Rng::new(seed);
    let x = Tensor::new([rows, width], r.vec(rows * width, -1.0, 1.0)).expect("x");
    let y = (0..rows).map(|_| r.index(classes) as i32).collect();
    (x, Tensor::from_i32([rows, 1], y).expect("y"))
}

pub fn images(seed: u64, rows: usize) -> (Tensor, Tensor) {
    let (x, y) = features(seed, rows, 2 * 12 * 12, 5);
    (x.reshape([rows, 2, 12, 12]).expect("reshape"), y)
}

pub fn tokens(seed: u64, rows: usize) -> (Tensor, Tensor) {
    let mut r = Rng::new(seed);
    let mut ids = || (0..rows * SEQ).map(|_| r.index(VOCAB) as i32).collect();
    let x = Tensor::from_i32([rows, SEQ], ids()).expect("ids");
    let y = Tensor::from_i32([rows, SEQ], ids()).expect("targets");
    (x, y)
}

/// How a run plans its buffers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Plan {
    Private,
    Shared,
    /// Shared, with every shared buffer filled with NaN before each step.
    Poisoned,
}

/// Loss bits per step, named weight bits, prediction bits, evaluation loss bits.
pub type RunBits = (Vec<u32>, Vec<(String, Vec<u32>)>, Vec<u32>, u64);

pub type Batches = fn(u64, usize) -> (Tensor, Tensor);

/// Four training steps (the last on a partial batch), then predictions and an evaluation.
pub fn run(
    build: fn(u64) -> Model,
    data: Batches,
    plan: Plan,
    shards: usize,
    device: Device,
) -> RunBits {
    let mut m = build(7);
    m.to_device(device).expect("device");
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
