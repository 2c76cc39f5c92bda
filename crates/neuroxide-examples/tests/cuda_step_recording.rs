//! Recorded training steps (CUDA graphs, `graph/step.rs`): a replayed step computes the same
//! bits as the same step queued kernel by kernel, and as the CPU — over 100 steps with a
//! learning-rate schedule, gradient clipping and dropout (every per-step value travels in the
//! scalar block), with each optimizer, and when the batch size changes mid-training (one
//! recording per batch size), and with a running average of the weights (its warming-up decay
//! travels in the scalar block too). Needs a GPU; skip rules of PARITY.md.

#[path = "../../neuroxide/tests/support/require_cuda.rs"]
mod require_cuda;

use neuroxide::layers::{Dense, Dropout};
use neuroxide::optim::{self, OptimizerKind};
use neuroxide::parity::{compare_losses, compare_weights};
use neuroxide::{Activation, Device, Loss, Model, Sequential, Tensor};

fn model(opt: OptimizerKind) -> Model {
    let mut m = Sequential::new([24])
        .add(Dense::new(48).activation(Activation::GeluTanh))
        .add(Dropout::new(0.25))
        .add(Dense::new(32).relu())
        .add(Dense::new(5))
        .build(11)
        .expect("build");
    m.compile(opt, Loss::cross_entropy()).expect("compile");
    m.set_clip_norm(Some(0.5)).expect("clip");
    m
}

/// Deterministic batches of the given sizes.
fn batches(sizes: &[usize]) -> Vec<(Tensor, Tensor)> {
    sizes
        .iter()
        .enumerate()
        .map(|(b, &rows)| {
            let x = (0..rows * 24)
                .map(|i| (((i * 7 + b * 13) % 29) as f32 - 14.0) * 0.11)
                .collect();
            let y = (0..rows).map(|i| ((i + b) % 5) as i32).collect();
            (
                Tensor::new([rows, 24], x).expect("x"),
                Tensor::from_i32([rows, 1], y).expect("y"),
            )
        })
        .collect()
}

/// Trains on `device` with recording on or off and a decaying learning rate set before every
/// step; returns every step's loss and the final weights (with `ema`, the weights' running
/// average, written over them at the end).
fn run(
    device: Device,
    record: bool,
    opt: OptimizerKind,
    data: &[(Tensor, Tensor)],
    ema: Option<f32>,
) -> (Vec<f32>, Vec<(String, Tensor)>, u64) {
    let mut m = model(opt);
    m.to_device(device).expect("device");
    m.set_step_recording(record).expect("recording switch");
    m.set_weight_ema(ema).expect("weight EMA");
    let lr0 = opt.lr();
    let mut losses = Vec::new();
    for (i, (x, y)) in data.iter().enumerate() {
        m.set_learning_rate(lr0 / (1.0 + 0.05 * i as f32))
            .expect("lr");
        losses.push(m.train_on_batch(x, y).expect("step"));
    }
    let replays = m.backend_stats().map_or(0, |s| s.graph_replays);
    if let Some((_, Some(why))) = m.step_launch_info() {
        panic!("step recording was turned off: {why}");
    }
    if ema.is_some() {
        m.apply_weight_ema().expect("apply the average");
    }
    (losses, m.weights().expect("weights"), replays)
}

fn assert_same(
    what: &str,
    a: &(Vec<f32>, Vec<(String, Tensor)>, u64),
    b: &(Vec<f32>, Vec<(String, Tensor)>, u64),
) {
    let l = compare_losses(&a.0, &b.0).expect("same step count");
    let w = compare_weights(&a.1, &b.1).expect("same layout");
    println!(
        "{what}: losses {} compared / {} differing; weights {} / {}",
        l.compared, l.differing, w.compared, w.differing
    );
    assert!(l.identical() && w.identical(), "{what}: results differ");
}

fn check(opt: OptimizerKind, sizes: &[usize]) {
    check_with(opt, sizes, None);
}

fn check_with(opt: OptimizerKind, sizes: &[usize], ema: Option<f32>) {
    let Some(gpu) = require_cuda::gpu() else {
        return;
    };
    let data = batches(sizes);
    let cpu = run(Device::cpu(), true, opt, &data, ema);
    let queued = run(gpu, false, opt, &data, ema);
    let recorded = run(gpu, true, opt, &data, ema);
    assert_eq!(queued.2, 0, "recording off replays nothing");
    // Each batch size's first step is queued and its second recorded; the rest replay.
    assert!(
        recorded.2 as usize >= data.len() / 2,
        "most steps replayed ({} of {})",
        recorded.2,
        data.len()
    );
    assert!(cpu.0.iter().all(|l| l.is_finite()));
    assert_same("recorded vs queued", &recorded, &queued);
    assert_same("recorded vs cpu", &recorded, &cpu);
}

#[test]
fn adamw_100_steps_with_schedule_clipping_and_dropout() {
    check(optim::adamw(3e-3, 0.01), &[32; 100]);
}

#[test]
fn weight_average_replays_the_same_bits() {
    // 60 steps: the decay warms up past 0.9 at step 80, so every update used its own factors.
    check_with(optim::adam(2e-3), &[32; 60], Some(0.9));
    check_with(optim::adamw(3e-3, 0.01), &[16; 20], Some(0.999));
}

#[test]
fn sgd_momentum_and_rmsprop_replay_the_same_bits() {
    check(optim::sgd_momentum(0.05, 0.9, true, 1e-4), &[16; 30]);
    check(optim::rmsprop(1e-3), &[16; 30]);
}

#[test]
fn batch_size_changes_mid_training() {
    // 32-row steps, a short 20-row step (an epoch's last batch), then 32 again and a larger
    // batch that replans the buffers: every size gets its own recording.
    let mut sizes = vec![32; 10];
    sizes.extend([20, 20, 20]);
    sizes.extend([32; 5]);
    sizes.extend([48; 6]);
    sizes.extend([20; 3]);
    check(optim::adam(1e-3), &sizes);
}

#[test]
fn evaluation_and_prediction_are_recorded_and_bit_identical() {
    let Some(gpu) = require_cuda::gpu() else {
        return;
    };
    let data = batches(&[40; 6]);
    let x_all = Tensor::new(
        [600, 24],
        (0..600 * 24)
            .map(|i| ((i * 11 % 37) as f32 - 18.0) * 0.07)
            .collect(),
    )
    .expect("x");
    let run = |device: Device| {
        let mut m = model(optim::adam(1e-3));
        m.to_device(device).expect("device");
        for (x, y) in &data {
            m.train_on_batch(x, y).expect("step");
        }
        // Prediction in batches of 256, 256 and 88, three times: the later ones replay.
        let preds: Vec<Tensor> = (0..3)
            .map(|_| m.predict_multi(&[&x_all], 256).expect("predict").remove(0))
            .collect();
        m.reset_running().expect("reset");
        for (x, y) in data.iter().chain(&data) {
            m.eval_step(&[x], &[y]).expect("eval");
        }
        let totals = m.running_totals().expect("totals");
        let replays = m.backend_stats().map_or(0, |s| s.graph_replays);
        (preds, totals, replays)
    };
    let (cpu_p, cpu_t, _) = run(Device::cpu());
    let (gpu_p, gpu_t, replays) = run(gpu);
    let reference = &cpu_p[0];
    for (i, p) in cpu_p.iter().chain(&gpu_p).enumerate() {
        let same = p
            .data()
            .iter()
            .zip(reference.data())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "prediction run {i} differs from the first CPU run");
    }
    assert_eq!(cpu_t.0.to_bits(), gpu_t.0.to_bits(), "running loss");
    assert_eq!(
        cpu_t.1.to_bits(),
        gpu_t.1.to_bits(),
        "running accuracy count"
    );
    println!("evaluation/prediction: bit-identical, {replays} replays");
    assert!(
        replays >= 4 + 4 + 10,
        "training, prediction and evaluation replayed ({replays})"
    );
}
