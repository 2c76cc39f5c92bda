//! Runs the examples on the selected backends and assembles the report: criteria, CPU-vs-CUDA
//! parity from one seed, CPU 1-thread-vs-N-threads parity, and speed.

use super::examples::{examples, Budget, Example, ExampleRun};
use super::report::{Outcome, Parity, Report, Row};
use super::system::{self, SystemInfo};
use neuroxide::device::Device;
use neuroxide::error::{Error, Result};
use neuroxide::parity::{compare_losses, compare_weights};
use std::time::Instant;

/// Which backends to validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceSelection {
    /// Every available backend (an absent GPU is "not available", not a failure).
    All,
    Cpu,
    /// CUDA only; an absent GPU is a failure, since it was asked for.
    Cuda,
}

impl DeviceSelection {
    /// Parses `all`, `cpu` or `cuda`.
    pub fn parse(s: &str) -> Result<DeviceSelection> {
        match s {
            "all" => Ok(DeviceSelection::All),
            "cpu" => Ok(DeviceSelection::Cpu),
            "cuda" | "gpu" => Ok(DeviceSelection::Cuda),
            _ => Err(Error::invalid(format!(
                "--device {s}: expected all, cpu or cuda"
            ))),
        }
    }
    fn cpu(self) -> bool {
        self != DeviceSelection::Cuda
    }
    fn cuda(self) -> bool {
        self != DeviceSelection::Cpu
    }
}

/// Options of a validation run.
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    pub devices: DeviceSelection,
    pub quick: bool,
    /// Seed of every run (CPU and CUDA use the same one, which parity requires).
    pub seed: u64,
    /// Example names to run (empty: all).
    pub only: Vec<String>,
    /// Threshold overrides `(example name, threshold)`: how tests force a criterion to fail.
    pub thresholds: Vec<(String, f64)>,
    /// Also train on the CPU with 1 thread and compare with the default thread count.
    pub thread_parity: bool,
    /// The command line, recorded in the report.
    pub command: String,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            devices: DeviceSelection::All,
            quick: true,
            seed: 1,
            only: Vec::new(),
            thresholds: Vec::new(),
            thread_parity: true,
            command: "neuroxide validate --quick".into(),
        }
    }
}

/// Runs the library's examples on this machine.
pub fn validate(opts: &ValidateOptions, log: &mut dyn FnMut(&str)) -> Result<Report> {
    validate_examples(examples(), system::probe(), opts, log)
}

/// Runs `examples` with the machine facts `sys` (tests pass their own of both).
pub fn validate_examples(
    mut examples: Vec<Example>,
    sys: SystemInfo,
    opts: &ValidateOptions,
    log: &mut dyn FnMut(&str),
) -> Result<Report> {
    let names: Vec<&str> = examples.iter().map(|e| e.name).collect();
    for n in opts
        .only
        .iter()
        .chain(opts.thresholds.iter().map(|(n, _)| n))
    {
        if !names.contains(&n.as_str()) {
            return Err(Error::invalid(format!(
                "unknown example '{n}': expected one of {}",
                names.join(", ")
            )));
        }
    }
    if !opts.only.is_empty() {
        examples.retain(|e| opts.only.iter().any(|n| n == e.name));
    }
    if opts.quick {
        for e in examples.iter_mut() {
            if let Some(t) = e.quick_threshold {
                e.criterion.threshold = t;
            }
        }
    }
    for (n, t) in &opts.thresholds {
        for e in examples.iter_mut().filter(|e| e.name == n) {
            e.criterion.threshold = *t;
        }
    }
    let budget = Budget {
        quick: opts.quick,
        parity_subset: false,
    };
    let start = Instant::now();
    let gpu_reason = sys
        .gpu
        .strip_prefix("none: ")
        .unwrap_or(&sys.gpu)
        .to_string();
    let mut rows = Vec::new();
    for ex in &examples {
        rows.push(validate_one(ex, &budget, &sys, &gpu_reason, opts, log));
    }
    let mode = if opts.quick { "quick" } else { "full" };
    let limit = if opts.quick {
        "must finish within 3 minutes on 2 CPU cores"
    } else {
        "the full budget; its wall time is recorded below"
    };
    Ok(Report {
        command: opts.command.clone(),
        budget: format!("{mode} ({limit}): {}", budget.describe()),
        rows,
        wall_s: start.elapsed().as_secs_f64(),
        notes: vec![
            "Exact mode only: fast mode does not exist yet, so no fast-mode rows or relative-error parity."
                .into(),
            "Parity: the CPU and CUDA runs start from the same seed; every step's loss and every final weight are compared bit for bit (f32 bits; ulp = representable floats between two values)."
                .into(),
            "Speed: wall-clock time per training step of the run above, reading the loss back every step (for parity); `neuroxide bench` times the step without that read."
                .into(),
        ],
        system: sys,
    })
}

fn measured(run: &ExampleRun) -> Outcome {
    Outcome::Measured {
        metric: run.metric,
        steps: run.steps,
        ms_per_step: run.ms_per_step,
    }
}

fn train(
    ex: &Example,
    device: Device,
    budget: &Budget,
    seed: u64,
    log: &mut dyn FnMut(&str),
) -> std::result::Result<ExampleRun, Outcome> {
    let Ok(run) = &ex.run else {
        return Err(Outcome::NotRequested);
    };
    let label = match device {
        Device::Cpu { threads: 0 } => "cpu".to_string(),
        Device::Cpu { threads } => format!("cpu ({threads} thread(s))"),
        d => d.to_string(),
    };
    let device_label = label.as_str();
    log(&format!("{}: training on {device_label} …", ex.name));
    let t = Instant::now();
    match run(device, budget, seed) {
        Ok(r) => {
            // A thread-parity run is short: only its bits matter, not its criterion.
            let result = if budget.parity_subset {
                "thread-parity run done".to_string()
            } else {
                ex.criterion.describe(r.metric)
            };
            log(&format!(
                "{}: {device_label}: {result} ({:.1} s)",
                ex.name,
                t.elapsed().as_secs_f64()
            ));
            Ok(r)
        }
        Err(e) => {
            log(&format!("{}: {device_label}: error: {e}", ex.name));
            Err(Outcome::Error(e.to_string()))
        }
    }
}

fn validate_one(
    ex: &Example,
    budget: &Budget,
    sys: &SystemInfo,
    gpu_reason: &str,
    opts: &ValidateOptions,
    log: &mut dyn FnMut(&str),
) -> Row {
    let mut row = Row {
        name: ex.name.into(),
        title: ex.title.into(),
        criterion: ex.criterion.clone(),
        cpu: Outcome::NotRequested,
        gpu: Outcome::NotRequested,
        parity: Parity::NotMeasured("no run".into()),
        checks: Vec::new(),
        notes: Vec::new(),
    };
    if let Err(why) = &ex.run {
        row.cpu = Outcome::NotAvailable(why.clone());
        row.gpu = Outcome::NotAvailable(why.clone());
        row.parity = Parity::NotMeasured("example not available".into());
        return row;
    }
    let mut cpu_run = None;
    if opts.devices.cpu() {
        match train(ex, Device::cpu(), budget, opts.seed, log) {
            Ok(r) => {
                row.cpu = measured(&r);
                row.notes.push(r.detail.clone());
                cpu_run = Some(r);
            }
            Err(o) => row.cpu = o,
        }
    }
    if cpu_run.is_some() && opts.thread_parity {
        let threads = sys.cpu_threads;
        let other = if threads > 1 { 1 } else { 2 };
        let short = Budget {
            parity_subset: true,
            ..*budget
        };
        let a = train(ex, Device::cpu_threads(threads), &short, opts.seed, log);
        let b = train(ex, Device::cpu_threads(other), &short, opts.seed, log);
        match (a, b) {
            (Ok(a), Ok(b)) => row.checks.push(thread_check(threads, other, &a, &b)),
            (Err(o), _) | (_, Err(o)) => {
                let why = match o {
                    Outcome::Error(e) => e,
                    _ => "no run".into(),
                };
                row.checks
                    .push((format!("CPU thread-parity run failed: {why}"), false));
            }
        }
    }
    let mut gpu_run = None;
    if opts.devices.cuda() {
        if sys.gpu_available {
            match train(ex, Device::cuda(0), budget, opts.seed, log) {
                Ok(r) => {
                    row.gpu = measured(&r);
                    gpu_run = Some(r);
                }
                Err(o) => row.gpu = o,
            }
        } else if opts.devices == DeviceSelection::Cuda {
            row.gpu = Outcome::Error(format!("--device cuda, but {gpu_reason}"));
        } else {
            row.gpu = Outcome::NotAvailable(gpu_reason.to_string());
        }
    }
    row.parity = match (&cpu_run, &gpu_run) {
        (Some(c), Some(g)) => match (
            compare_losses(&c.losses, &g.losses),
            compare_weights(&c.weights, &g.weights),
        ) {
            (Ok(losses), Ok(weights)) => Parity::Compared { losses, weights },
            (Err(e), _) | (_, Err(e)) => Parity::Error(system::reason(&e)),
        },
        (None, _) => Parity::NotMeasured("no CPU run".into()),
        (_, None) => Parity::NotMeasured("no CUDA run".into()),
    };
    row
}

/// Compares the default-thread CPU run with a run on `other` threads: exact mode promises the
/// same bits whatever the thread count.
fn thread_check(threads: usize, other: usize, a: &ExampleRun, b: &ExampleRun) -> (String, bool) {
    let label = format!("CPU {threads} vs {other} thread(s)");
    match (
        compare_losses(&a.losses, &b.losses),
        compare_weights(&a.weights, &b.weights),
    ) {
        (Ok(l), Ok(w)) => {
            let ok = l.identical() && w.identical();
            (
                format!(
                    "{label}: {} ({} losses + {} weight elements, {} differing, max ulp {})",
                    if ok {
                        "bit-identical"
                    } else {
                        "not bit-identical"
                    },
                    l.compared,
                    w.compared,
                    l.differing + w.differing,
                    l.max_ulp.max(w.max_ulp)
                ),
                ok,
            )
        }
        (Err(e), _) | (_, Err(e)) => (format!("{label}: {}", system::reason(&e)), false),
    }
}
