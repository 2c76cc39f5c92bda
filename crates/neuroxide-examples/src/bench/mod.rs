//! The benchmark workloads of `shared/bench/WORKLOADS.md` and the harness that times them.
//!
//! Neuroxide's speed is always stated as a ratio against a reference measured on the same
//! machine in the same run, so this module produces machine-readable records (one JSON object
//! per workload, device and mode) that `benches/compare.py` joins with the PyTorch reference
//! script's records, which carry the same fields.
//!
//! - [`workloads`]: the models, batch sizes and units, exactly as WORKLOADS.md defines them.
//! - [`runner`]: the timing protocol (warm-up, median of timed runs, device synchronised).
//! - [`record`]: the JSON record and the human-readable table.
//! - [`data_parallel`]: the same protocol as one rank of a data-parallel job (weak scaling).

pub mod data_parallel;
pub mod fit_epoch;
pub mod global_norm;
pub mod record;
pub mod runner;
pub mod workloads;

pub use data_parallel::run_workload_dp;
pub use record::{render_table, BenchRecord};
pub use runner::{run_workload, BenchOptions};
pub use workloads::{workload, workloads, Unit, Workload};
