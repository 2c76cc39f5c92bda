//! XOR (2-4-1, tanh/sigmoid, Adam 0.05, MSE, full batch, 500 steps as in `examples/xor.rs`)
//! learns all four rows, |prediction − target| < 0.1, from each of five seeds.

use neuroxide::Device;
use neuroxide_examples::xor;

const STEPS: usize = 500;

fn check_seed(seed: u64) {
    let r = xor::train(Device::cpu_threads(1), seed, STEPS)
        .unwrap_or_else(|e| panic!("seed {seed}: training failed: {e}"));
    assert_eq!(r.steps, STEPS);
    assert_eq!(r.losses.len(), STEPS);
    assert_eq!(r.predictions.len(), 4);
    eprintln!(
        "seed {seed}: predictions {:?}, loss {} -> {}",
        r.predictions, r.losses[0], r.final_loss
    );
    for (row, (p, t)) in r.predictions.iter().zip(xor::TARGETS).enumerate() {
        assert!(
            (p - t).abs() < 0.1,
            "seed {seed}: row {row} {:?} predicts {p}, target {t} (final loss {})",
            xor::INPUTS[row],
            r.final_loss
        );
    }
    assert!(
        r.final_loss < 0.01 && r.final_loss < r.losses[0] / 10.0,
        "seed {seed}: loss went from {} to {}",
        r.losses[0],
        r.final_loss
    );
    let worst = r
        .predictions
        .iter()
        .zip(xor::TARGETS)
        .map(|(p, t)| (p - t).abs())
        .fold(0.0f32, f32::max);
    assert_eq!(worst, r.max_error, "seed {seed}: max_error is misreported");
}

#[test]
fn xor_seed_1() {
    check_seed(1);
}

#[test]
fn xor_seed_2() {
    check_seed(2);
}

#[test]
fn xor_seed_3() {
    check_seed(3);
}

#[test]
fn xor_seed_4() {
    check_seed(4);
}

#[test]
fn xor_seed_5() {
    check_seed(5);
}
