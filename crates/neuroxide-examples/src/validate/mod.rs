//! `neuroxide validate`: trains the reference examples on every available backend and writes
//! the validation report (GoNeuron's columns: success per backend, bit-for-bit parity, speed,
//! notes), every cell from a live measurement.
//!
//! - [`examples`]: each example as a function (device, budget, seed) → measured run.
//! - [`criteria`]: success criteria and their cell text.
//! - [`parity`]: bit-for-bit comparison of losses and weights (public for parity tests).
//! - [`run`]: runs the examples and checks, producing a [`Report`].
//! - [`report`]: rows, failures and Markdown rendering.
//! - [`system`]: date, commit, CPU, GPU, driver and CUDA version for the header.

pub mod criteria;
pub mod examples;
pub mod loss_log;
pub mod report;
pub mod run;
pub mod system;

pub use criteria::{Cmp, Criterion};
pub use examples::{Budget, Example, ExampleRun};
pub use neuroxide::parity::{
    compare_losses, compare_slices, compare_weights, ulp_distance, ParityStats,
};
pub use report::{Outcome, Parity, Report, Row};
pub use run::{validate, validate_examples, DeviceSelection, ValidateOptions};
pub use system::SystemInfo;
