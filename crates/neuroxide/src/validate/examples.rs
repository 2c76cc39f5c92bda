//! The examples the report validates. Each is a function that trains the library's reference
//! example (`crate::examples::*`) on one device and returns what the report needs: the measured
//! value of its criterion, every step's loss and the final weights (for parity), and its speed.
//! An example whose code does not exist yet says why, and its row says "not available".

use super::criteria::Criterion;
use crate::device::Device;
use crate::error::Result;
use crate::examples::xor;
use crate::tensor::Tensor;

/// How much training each example gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The `--quick` budget (the whole report within 3 minutes on 2 CPU cores).
    pub quick: bool,
    /// A short run for the CPU 1-thread-vs-N-threads comparison: bit-exactness does not need
    /// the whole training run, and the check trains twice more.
    pub parity_subset: bool,
}

impl Budget {
    /// XOR full-batch steps.
    pub fn xor_steps(&self) -> usize {
        if self.quick || self.parity_subset {
            500
        } else {
            2000
        }
    }

    /// One line per example stating its budget, for the report header.
    pub fn describe(&self) -> String {
        format!(
            "XOR {} full-batch steps; CSV and MNIST: see their rows when available",
            self.xor_steps()
        )
    }
}

/// What training one example on one device produced.
#[derive(Clone, Debug)]
pub struct ExampleRun {
    /// The criterion's metric, measured.
    pub metric: f64,
    /// The loss of every training step, in order.
    pub losses: Vec<f32>,
    /// The final weights, named as in `Model::weights`.
    pub weights: Vec<(String, Tensor)>,
    /// Training steps taken.
    pub steps: usize,
    /// Wall-clock milliseconds per training step (loss read back every step).
    pub ms_per_step: f64,
    /// What was trained and measured, e.g. "500 full-batch steps, seed 1".
    pub detail: String,
}

/// Trains one example on a device with a seed.
pub type RunFn = fn(Device, &Budget, u64) -> Result<ExampleRun>;

/// An example row of the report.
#[derive(Clone, Debug)]
pub struct Example {
    /// Short name used on the command line and in overrides (`xor`, `csv`, `mnist`, …).
    pub name: &'static str,
    /// Name in the report's first column.
    pub title: &'static str,
    pub criterion: Criterion,
    /// The runner, or why the example is not available.
    pub run: std::result::Result<RunFn, String>,
}

/// XOR: 2-4-1 tanh/sigmoid, Adam(0.05), MSE; success is every prediction within 0.1 of its
/// target.
pub fn run_xor(device: Device, budget: &Budget, seed: u64) -> Result<ExampleRun> {
    let r = xor::train(device, seed, budget.xor_steps())?;
    Ok(ExampleRun {
        metric: f64::from(r.max_error),
        losses: r.losses,
        weights: r.weights,
        steps: r.steps,
        ms_per_step: r.micros_per_step / 1e3,
        detail: format!(
            "{} full-batch steps, seed {seed}, final loss {:.3e}",
            r.steps, r.final_loss
        ),
    })
}

/// The examples, in report order.
pub fn examples() -> Vec<Example> {
    vec![
        Example {
            name: "xor",
            title: "XOR (2-4-1 MLP)",
            criterion: Criterion::below("max |err|", 0.1),
            run: Ok(run_xor),
        },
        Example {
            name: "csv",
            title: "CSV (iris, MLP)",
            criterion: Criterion::at_least("test accuracy %", 90.0),
            run: Err("the CSV example (examples::csv) does not exist yet".into()),
        },
        Example {
            name: "mnist",
            title: "MNIST (MLP 784-256-128-10)",
            criterion: Criterion::at_least("test accuracy %", 95.0),
            run: Err("the MNIST example (examples::mnist) does not exist yet".into()),
        },
        Example {
            name: "transformer",
            title: "Mini transformer (char LM)",
            criterion: Criterion::below("validation loss", 2.0),
            run: Err("no transformer layers yet".into()),
        },
    ]
}
