//! Buffer reuse by lifetime (`graph/executor/lifetimes.rs`) on the CPU: training with shared
//! per-batch buffers gives the same bits as with every buffer private — every step's loss,
//! every final weight, predictions and evaluation after training — for an MLP, a CNN with
//! BatchNorm, dropout and pooling, a transformer-like graph (embeddings, LayerNorm, attention,
//! residual fan-out), a shared layer and sharded steps; still so when every shared buffer is
//! filled with NaN before each step (no layer reads a shared buffer before writing it); and
//! reuse plans strictly fewer bytes.

mod common;
#[path = "support/reuse_models.rs"]
mod reuse_models;

use common::weight_bits;
use neuroxide::layers::Dense;
use neuroxide::{optim, Device, Loss, Model, Sequential};
use reuse_models::{
    cnn, features, images, mlp, pooled_transformer, run, shared, tokens, transformer, Batches,
    Plan, ROWS,
};

fn check_bit_identical(name: &str, build: fn(u64) -> Model, data: Batches, shards: usize) {
    let private = run(build, data, Plan::Private, shards, Device::cpu());
    let shared = run(build, data, Plan::Shared, shards, Device::cpu());
    assert_eq!(shared.0, private.0, "{name}: losses with reuse");
    assert_eq!(
        shared, private,
        "{name}: weights, predictions, evaluation with reuse"
    );
    let poisoned = run(build, data, Plan::Poisoned, shards, Device::cpu());
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
