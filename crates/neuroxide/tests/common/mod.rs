//! Shared helpers of the training and I/O tests: deterministic synthetic tables and small models.
#![allow(dead_code)]

use neuroxide::data::Dataset;
use neuroxide::layers::{Dense, Dropout};
use neuroxide::{optim, Loss, Model, Sequential, Tensor};
use std::path::PathBuf;

/// A 32-bit LCG (Numerical Recipes constants): reproducible test data without a dependency.
pub struct Lcg(pub u32);

impl Lcg {
    pub fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 8) as f32 / 16_777_216.0
    }
}

/// `n` rows of 4 features in 3 Gaussian-ish blobs (class = blob), overlapping a little.
pub fn blobs(n: usize, seed: u32) -> Dataset {
    let mut r = Lcg(seed);
    let centres = [
        [0.0, 0.0, 1.0, -1.0],
        [2.0, 1.0, -1.0, 0.0],
        [-1.0, 2.0, 0.0, 1.5],
    ];
    let mut x = Vec::with_capacity(n * 4);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 3;
        for centre in centres[c] {
            let noise = (r.next_f32() + r.next_f32() + r.next_f32() - 1.5) * 1.2;
            x.push(centre + noise);
        }
        y.push(c as f32);
    }
    Dataset::new(
        Tensor::new([n, 4], x).unwrap(),
        Tensor::new([n, 1], y).unwrap(),
    )
    .unwrap()
}

/// A 4 → 16 (ReLU) → 3 classifier, Adam(0.01), cross-entropy on logits.
pub fn classifier(seed: u64) -> Model {
    let mut m = Sequential::new([4])
        .add(Dense::new(16).relu())
        .add(Dense::new(3))
        .build(seed)
        .unwrap();
    m.compile(optim::adam(0.01), Loss::cross_entropy()).unwrap();
    m
}

/// Like [`classifier`] with dropout between the layers (exercises the step-keyed masks).
pub fn classifier_with_dropout(seed: u64) -> Model {
    let mut m = Sequential::new([4])
        .add(Dense::new(16).relu())
        .add(Dropout::new(0.25))
        .add(Dense::new(3))
        .build(seed)
        .unwrap();
    m.compile(optim::adam(0.01), Loss::cross_entropy()).unwrap();
    m
}

/// Bit patterns of every weight, for exact comparisons.
pub fn weight_bits(m: &mut Model) -> Vec<(String, Vec<u32>)> {
    m.weights()
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.data().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("neuroxide-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The repository's `data/` folder.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}
