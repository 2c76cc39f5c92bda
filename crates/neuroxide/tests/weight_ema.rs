//! The running average of the weights (`Model::set_weight_ema`, the `WeightEma` callback): the
//! device average equals the formula computed on the host from every step's weights, bit for
//! bit; swapping twice restores both; `apply` leaves the average in the model; bad decays are
//! refused with a clear message.

mod common;

use common::{blobs, classifier};
use neuroxide::train::{Callback, FitOptions, Verbosity, WeightEma};
use neuroxide::{Model, Result};

/// The weights as flat vectors.
fn flat(m: &mut Model) -> Vec<Vec<f32>> {
    m.weights()
        .unwrap()
        .into_iter()
        .map(|(_, t)| t.data().to_vec())
        .collect()
}

/// The host formula: TensorFlow's warm-up `min(decay, (1 + t)/(10 + t))` in f64, rounded once;
/// `avg = keep·avg + take·w` with `take = 1 − keep` in f32, no fma.
fn host_update(avg: &mut [Vec<f32>], w: &[Vec<f32>], decay: f32, t: u64) {
    let t = t as f64;
    let keep = f64::from(decay).min((1.0 + t) / (10.0 + t)) as f32;
    let take = 1.0 - keep;
    for (a, w) in avg.iter_mut().zip(w) {
        for (a, &w) in a.iter_mut().zip(w) {
            *a = keep * *a + take * w;
        }
    }
}

fn bits(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
    v.iter()
        .map(|t| t.iter().map(|x| x.to_bits()).collect())
        .collect()
}

#[test]
fn the_average_is_the_host_formula_bit_for_bit() {
    let data = blobs(64, 3);
    let mut m = classifier(7);
    // Two plain steps first: the average starts from the weights of the moment it is turned on.
    for _ in 0..2 {
        m.train_on_batch(&data.x, &data.y).unwrap();
    }
    m.set_weight_ema(Some(0.95)).unwrap();
    assert_eq!(m.weight_ema(), Some(0.95));
    let mut avg = flat(&mut m);
    for t in 1..=40u64 {
        m.train_on_batch(&data.x, &data.y).unwrap();
        host_update(&mut avg, &flat(&mut m), 0.95, t);
    }
    let raw = flat(&mut m);
    m.swap_weight_ema().unwrap();
    assert_eq!(bits(&flat(&mut m)), bits(&avg), "swapped-in average");
    assert_ne!(
        bits(&avg),
        bits(&raw),
        "the average is not the last weights"
    );
    m.swap_weight_ema().unwrap();
    assert_eq!(
        bits(&flat(&mut m)),
        bits(&raw),
        "swapping back restores the weights"
    );
    // Training goes on from the raw weights, and the average with it.
    m.train_on_batch(&data.x, &data.y).unwrap();
    host_update(&mut avg, &flat(&mut m), 0.95, 41);
    m.apply_weight_ema().unwrap();
    assert_eq!(bits(&flat(&mut m)), bits(&avg), "applied average");
    assert_eq!(m.weight_ema(), None);
    let e = m.swap_weight_ema().unwrap_err().to_string();
    assert!(e.contains("no weight EMA is kept"), "{e}");
}

#[test]
fn bad_decays_are_refused() {
    let mut m = classifier(1);
    for d in [0.0f32, 1.0, -0.5, 1.5, f32::NAN] {
        let e = m.set_weight_ema(Some(d)).unwrap_err().to_string();
        assert!(e.contains("weight EMA decay must be in (0, 1)"), "{d}: {e}");
    }
    assert_eq!(m.weight_ema(), None);
}

/// Records the weights after every step (after the average's own hook, which runs first).
struct StepWeights(Vec<Vec<Vec<f32>>>);
impl Callback for StepWeights {
    fn on_batch_end(&mut self, m: &mut Model, _e: usize, _b: usize) -> Result<()> {
        self.0.push(flat(m));
        Ok(())
    }
}

#[test]
fn the_callback_leaves_the_average_in_the_model() {
    let data = blobs(90, 5);
    let mut m = classifier(3);
    let initial = flat(&mut m);
    let mut rec = StepWeights(Vec::new());
    let mut ema = WeightEma::new(0.9);
    m.fit_dataset(
        &data,
        FitOptions::new()
            .epochs(3)
            .batch_size(16)
            .verbose(Verbosity::Silent)
            .callback(&mut ema)
            .callback(&mut rec),
    )
    .unwrap();
    let mut avg = initial;
    for (t, w) in rec.0.iter().enumerate() {
        host_update(&mut avg, w, 0.9, t as u64 + 1);
    }
    assert_eq!(rec.0.len(), 18, "6 steps per epoch × 3");
    assert_eq!(bits(&flat(&mut m)), bits(&avg));
    assert_eq!(m.weight_ema(), None, "averaging stops with training");
    // The model predicts with the average.
    let p = m.predict(&data.x).unwrap();
    assert!(p.data().iter().all(|v| v.is_finite()));
}
