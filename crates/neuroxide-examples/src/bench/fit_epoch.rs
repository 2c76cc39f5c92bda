//! The `mnist_mlp_fit` workload: whole `fit` epochs of the MNIST MLP on the real training set
//! (60,000 images, batch 64, shuffled every epoch, accuracy counted as `compile` sets it) —
//! the path users run, loader, prefetch and recorded steps included, timed like a step
//! workload: one warm-up epoch, then the median of the timed epochs. `items_per_s` is
//! 60,000 ÷ epoch seconds; `ms_per_step` the epoch divided by its 938 steps. The PyTorch
//! reference (`benches/pytorch_reference.py`) times the same epoch under the same name.

use super::record::BenchRecord;
use super::runner::{device_kind, device_name, median, BenchOptions};
use crate::mnist;
use neuroxide::data::{Mnist, MnistOptions};
use neuroxide::error::{Error, Result};
use neuroxide::train::{fit_dataset, FitOptions, Verbosity};
use neuroxide::Device;
use std::time::Instant;

/// Workload name (WORKLOADS.md / issue 9).
pub const NAME: &str = "mnist_mlp_fit";
/// Batch size of the epoch.
pub const BATCH: usize = 64;

/// Times `runs` fit epochs of the MNIST MLP on `device` after one warm-up epoch.
pub fn run(device: Device, opts: &BenchOptions) -> Result<BenchRecord> {
    let kind = device_kind(device);
    let name = match device_name(device) {
        Ok(n) => n,
        Err(why) => {
            return Ok(BenchRecord::skipped(
                NAME,
                kind,
                "exact",
                "images",
                BATCH,
                format!("not available: {why}"),
            ))
        }
    };
    let dir = std::env::var("NEUROXIDE_DATA_DIR")
        .map(|d| std::path::PathBuf::from(d).join("mnist"))
        .unwrap_or_else(|_| mnist::default_data_dir());
    let (train, _) = Mnist::load_with(&dir, &MnistOptions::default())
        .map_err(|e| Error::invalid(format!("{NAME}: MNIST in {}: {e}", dir.display())))?;
    let mut model = mnist::model(opts.seed)?;
    model.to_device(device)?;
    let runs = opts.runs.max(3);
    let mut epoch_s = Vec::with_capacity(runs);
    let mut steps = 0;
    for epoch in 0..=runs {
        let t0 = Instant::now();
        let history = fit_dataset(
            &mut model,
            &train,
            FitOptions {
                epochs: epoch + 1,
                initial_epoch: epoch,
                batch_size: BATCH,
                shuffle: true,
                verbose: Verbosity::Silent,
                ..FitOptions::default()
            },
        )?;
        let secs = t0.elapsed().as_secs_f64();
        let loss = history
            .epochs
            .last()
            .and_then(|e| e.logs.get("loss"))
            .unwrap_or(f64::NAN);
        if !loss.is_finite() {
            return Err(Error::invalid(format!(
                "{NAME}: epoch {epoch} loss is {loss}"
            )));
        }
        steps = train.len().div_ceil(BATCH);
        if epoch > 0 {
            epoch_s.push(secs); // epoch 0 is the warm-up
        }
    }
    let s = median(&epoch_s);
    let ms_per_step = s * 1e3 / steps as f64;
    Ok(BenchRecord {
        framework: "neuroxide".into(),
        workload: NAME.into(),
        device: kind.into(),
        device_name: name,
        mode: "exact".into(),
        ms_per_step: Some(ms_per_step),
        items_per_s: Some(train.len() as f64 / s),
        unit: "images".into(),
        tflops: None,
        peak_mem_mib: model.planned_bytes().map(|b| b.total_mib()),
        launches_per_step: model.step_launch_info().map(|(n, _)| n),
        batch: BATCH,
        world_size: 1,
        steps,
        runs: epoch_s.len(),
        run_ms_per_step: epoch_s.iter().map(|e| e * 1e3 / steps as f64).collect(),
        skipped: None,
    })
}
