//! The timing protocol of WORKLOADS.md, shared with `benches/pytorch_reference.py`:
//!
//! 1. Build the model, move it to the device, draw the four batches once.
//! 2. Warm up: one step (allocates and plans every buffer), synchronise, then keep stepping until
//!    both `warmup_steps` steps and `warmup_s` seconds have passed; synchronise. The warm-up's
//!    steady-state time per step fixes the number of steps per timed run, so that each run lasts
//!    about `run_s` seconds whatever the workload.
//! 3. `runs` timed runs: read the clock, train that many steps rotating among the four batches,
//!    synchronise, read the clock. The reported time is the median run's time per step.
//!
//! A step is `Model::train_step` (upload of the batch, forward, loss, backward, optimizer
//! update). `Model` has no separate synchronise call: reading the loss (`Model::last_loss`) waits
//! for the device, so it is the synchronisation point, once per timed run.

use super::record::BenchRecord;
use super::workloads::Workload;
use crate::validate::system;
use neuroxide::backend::{cuda, Mode};
use neuroxide::device::Device;
use neuroxide::distributed::DistEnv;
use neuroxide::error::{Error, Result};
use neuroxide::graph::Model;
use std::time::Instant;

/// Timing parameters. The defaults are the protocol's; tests shorten them.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Minimum warm-up steps (after the first step).
    pub warmup_steps: usize,
    /// Minimum warm-up seconds.
    pub warmup_s: f64,
    /// Target seconds per timed run.
    pub run_s: f64,
    /// Number of timed runs (the median is reported; at least 3).
    pub runs: usize,
    /// Upper bound on steps per timed run.
    pub max_steps: usize,
    /// Seed of the weights and of the random batches.
    pub seed: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            warmup_steps: 20,
            warmup_s: 0.5,
            run_s: 0.5,
            runs: 5,
            max_steps: 1_000_000,
            seed: 1,
        }
    }
}

/// `cpu` or `cuda` for a device.
pub fn device_kind(device: Device) -> &'static str {
    if device.is_cuda() {
        "cuda"
    } else {
        "cpu"
    }
}

/// Why `device` cannot run, or its name (CPU model and threads, or the GPU's name).
pub fn device_name(device: Device) -> std::result::Result<String, String> {
    match device {
        Device::Cpu { threads } => {
            let t = if threads == 0 {
                system::cpu_threads()
            } else {
                threads
            };
            Ok(format!("{}, {t} threads", system::cpu_model()))
        }
        Device::Cuda(ordinal) => cuda::probe(ordinal).map_err(|e| system::reason(&e)),
    }
}

/// `exact` or `fast`, as records name a mode.
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Exact => "exact",
        Mode::Fast => "fast",
    }
}

/// The median of a non-empty list (mean of the middle two for an even length).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Times `w` on `device` in `mode`. Returns a skipped record when the workload's layers, the
/// device or the mode do not exist; returns an error when a run that should work fails.
pub fn run_workload(
    w: &Workload,
    device: Device,
    mode: Mode,
    opts: &BenchOptions,
) -> Result<BenchRecord> {
    let mode_name = mode_name(mode);
    if let Some(r) = skip_or_special(w, device, mode, mode_name, opts)? {
        return Ok(r);
    }
    let name = match device_name(device) {
        Ok(n) => n,
        Err(why) => {
            let unit = w.unit.to_string();
            let kind = device_kind(device);
            let why = format!("not available: {why}");
            return Ok(BenchRecord::skipped(
                w.name, kind, mode_name, &unit, w.batch, why,
            ));
        }
    };
    time_steps(w, device, mode_name, name, opts, None)
}

/// The record of a workload that is not timed as a step loop here: skipped (layers, device
/// kind or mode missing) or timed by its own module (`fit_epoch`, `global_norm`). `None`: time
/// it with [`time_steps`].
pub(super) fn skip_or_special(
    w: &Workload,
    device: Device,
    mode: Mode,
    mode_name: &str,
    opts: &BenchOptions,
) -> Result<Option<BenchRecord>> {
    let kind = device_kind(device);
    let unit = w.unit.to_string();
    let skip = |why: String| BenchRecord::skipped(w.name, kind, mode_name, &unit, w.batch, why);
    if let Some(why) = w.skipped {
        return Ok(Some(skip(why.to_string())));
    }
    if w.name == super::fit_epoch::NAME {
        return super::fit_epoch::run(device, opts).map(Some);
    }
    if w.name == super::global_norm::NAME {
        return super::global_norm::run(device, opts).map(Some);
    }
    if let (Some(why), false) = (w.cpu_skipped, device.is_cuda()) {
        return Ok(Some(skip(why.to_string())));
    }
    if mode == Mode::Fast {
        return Ok(Some(skip(
            "fast mode is not implemented yet (exact only)".into(),
        )));
    }
    if opts.runs < 3 {
        return Err(Error::invalid(format!(
            "bench: {} timed runs requested, the protocol needs at least 3",
            opts.runs
        )));
    }
    Ok(None)
}

/// Warm-up steps are done after `n` steps and `elapsed_s` seconds: at least
/// `opts.warmup_steps` and `opts.warmup_s`; in a data-parallel job exactly
/// `opts.warmup_steps` (at least 1), whatever the clocks say, so every rank runs the same
/// steps (they move in lockstep through the gradient reduction).
pub fn warmup_done(n: usize, elapsed_s: f64, opts: &BenchOptions, data_parallel: bool) -> bool {
    let steps = n >= opts.warmup_steps.max(1);
    steps && (data_parallel || elapsed_s >= opts.warmup_s)
}

/// Steps per timed run from the warm-up's seconds per step: about `opts.run_s` seconds, at
/// least 3, at most `opts.max_steps`.
pub fn steps_per_run(est_s: f64, opts: &BenchOptions) -> usize {
    ((opts.run_s / est_s.max(1e-9)).ceil() as usize).clamp(3, opts.max_steps.max(3))
}

/// The protocol's step loop for `w` (already checked by [`skip_or_special`]) on `device`
/// (named `name`). With `dp`, the model joins that data-parallel job on `cuda:LOCAL_RANK`, `w`
/// is the global workload (its batch is `world_size` × the per-GPU batch), the warm-up is a
/// fixed step count and rank 0's steps per run is every rank's ([`super::data_parallel`]).
pub(super) fn time_steps(
    w: &Workload,
    device: Device,
    mode_name: &str,
    name: String,
    opts: &BenchOptions,
    dp: Option<&DistEnv>,
) -> Result<BenchRecord> {
    let kind = device_kind(device);
    let unit = w.unit.to_string();
    let ctx = |e: Error| Error::invalid(format!("bench {} on {device}: {e}", w.name));
    let mut model = w.build(opts.seed)?;
    match dp {
        None => model.to_device(device)?,
        Some(env) => super::data_parallel::join(&mut model, env).map_err(ctx)?,
    }
    let batches = w.batches(opts.seed)?;

    // On a GPU the next batch uploads (pinned staging, copy stream) while the current one
    // trains, as a training loop would; PyTorch's reference keeps its 4 batches on the device.
    let staged = device.is_cuda();
    let mut k = 0usize;
    let mut step = |model: &mut Model| -> Result<()> {
        let (x, y) = &batches[k % 4];
        k += 1;
        if staged {
            let (nx, ny) = &batches[k % 4];
            model.train_step_prefetched()?;
            model.prefetch(&[nx], &[ny])
        } else {
            model.train_step(&[x], &[y])
        }
    };
    // Warm-up.
    if staged {
        let (x, y) = &batches[0];
        model.prefetch(&[x], &[y]).map_err(ctx)?;
    }
    step(&mut model).map_err(ctx)?;
    model.last_loss().map_err(ctx)?;
    let start = Instant::now();
    let mut n = 0usize;
    while !warmup_done(n, start.elapsed().as_secs_f64(), opts, dp.is_some()) {
        step(&mut model).map_err(ctx)?;
        n += 1;
        if n.is_multiple_of(64) {
            // Keep an asynchronous device from queueing far ahead of the clock.
            model.last_loss().map_err(ctx)?;
        }
    }
    let loss = model.last_loss().map_err(ctx)?;
    let est = start.elapsed().as_secs_f64() / n as f64;
    if !loss.is_finite() {
        return Err(ctx(Error::invalid(format!("loss is {loss} after warm-up"))));
    }
    let mut steps = steps_per_run(est, opts);
    if let Some(env) = dp {
        steps = super::data_parallel::agree(env, steps).map_err(ctx)?;
    }

    // Timed runs.
    let mut per_step = Vec::with_capacity(opts.runs);
    for _ in 0..opts.runs {
        let t0 = Instant::now();
        for _ in 0..steps {
            step(&mut model).map_err(ctx)?;
        }
        model.last_loss().map_err(ctx)?;
        per_step.push(t0.elapsed().as_secs_f64() * 1e3 / steps as f64);
    }
    let ms = median(&per_step);
    let (launches, recording_failure) = model.step_launch_info().unzip();
    if let Some(Some(why)) = recording_failure {
        eprintln!("bench {}: step recording was turned off: {why}", w.name);
    }
    // The model's planned device bytes (parameters, gradients, optimizer state, activations,
    // workspaces, state): the step allocates nothing beyond its plan, so this is its peak, the
    // same number on every device (kernels' scratch for chunked partials not included).
    let peak_mem_mib = model.planned_bytes().map(|b| b.total_mib());
    Ok(BenchRecord {
        framework: "neuroxide".into(),
        workload: w.name.into(),
        device: kind.into(),
        device_name: name,
        mode: mode_name.into(),
        ms_per_step: Some(ms),
        items_per_s: Some(w.items_per_step() as f64 * 1e3 / ms),
        unit,
        tflops: w.flops_per_step().map(|f| f / (ms * 1e-3) / 1e12),
        peak_mem_mib,
        launches_per_step: launches,
        batch: w.batch,
        world_size: dp.map_or(1, |e| e.world_size),
        steps,
        runs: opts.runs,
        run_ms_per_step: per_step,
        skipped: None,
    })
}
