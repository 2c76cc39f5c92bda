//! One benchmark result as a JSON line, and a table of results for people.
//!
//! The field set is shared with `benches/pytorch_reference.py`, so `benches/compare.py` can join
//! the two outputs on `(workload, device)`. Fields that do not apply are `null`, never omitted.

use serde::{Deserialize, Serialize};

/// The result of timing one workload on one device in one mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRecord {
    /// `neuroxide` or `pytorch`.
    pub framework: String,
    /// Workload name from WORKLOADS.md.
    pub workload: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// The CPU model or GPU name the run used.
    pub device_name: String,
    /// `exact` / `fast` (Neuroxide) or `fp32`, `tf32`, `bf16`, `compile_fp32`, `compile_bf16`
    /// (PyTorch).
    pub mode: String,
    /// Median milliseconds per training step over the timed runs.
    pub ms_per_step: Option<f64>,
    /// Items per second at that median (`unit` says what an item is).
    pub items_per_s: Option<f64>,
    /// `steps`, `images` or `tokens`.
    pub unit: String,
    /// TFLOP/s where WORKLOADS.md defines the step's FLOPs, else `null`.
    pub tflops: Option<f64>,
    /// Peak device memory in MiB: the model's planned buffers ([`crate::Model::planned_bytes`],
    /// per-batch buffers counted after lifetime-based reuse), on every device; `null` for a skipped workload and for other frameworks that cannot tell.
    pub peak_mem_mib: Option<f64>,
    /// Kernels one training step launches (one replayed CUDA graph counts every kernel it
    /// holds), `null` when not counted.
    pub launches_per_step: Option<u64>,
    /// Samples per step (in a data-parallel run: the global batch, `world_size` × the per-GPU
    /// batch of WORKLOADS.md).
    pub batch: usize,
    /// Processes (GPUs) that trained each step together: 1, or the ranks of a data-parallel
    /// launch. `items_per_s` and `tflops` count the whole job's work.
    #[serde(default = "one")]
    pub world_size: usize,
    /// Training steps in each timed run.
    pub steps: usize,
    /// Number of timed runs the median is taken over.
    pub runs: usize,
    /// Milliseconds per step of each timed run, in run order.
    pub run_ms_per_step: Vec<f64>,
    /// Why the workload did not run (missing layers, device not available, mode not
    /// implemented), else `null`.
    pub skipped: Option<String>,
}

impl BenchRecord {
    /// A record for a workload that did not run, with every measurement `null`.
    pub fn skipped(
        workload: &str,
        device: &str,
        mode: &str,
        unit: &str,
        batch: usize,
        why: impl Into<String>,
    ) -> BenchRecord {
        BenchRecord {
            framework: "neuroxide".into(),
            workload: workload.into(),
            device: device.into(),
            device_name: String::new(),
            mode: mode.into(),
            launches_per_step: None,
            ms_per_step: None,
            items_per_s: None,
            unit: unit.into(),
            tflops: None,
            peak_mem_mib: None,
            batch,
            world_size: 1,
            steps: 0,
            runs: 0,
            run_ms_per_step: Vec::new(),
            skipped: Some(why.into()),
        }
    }

    /// The record as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serialising plain fields cannot fail; fall back to an explicit error object anyway.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn one() -> usize {
    1
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.digits$}"))
}

/// A fixed-width table of records, one per line, for the terminal.
pub fn render_table(records: &[BenchRecord]) -> String {
    let mut s = format!(
        "{:<18} {:<6} {:<6} {:>5} {:>12} {:>14} {:<7} {:>8} {:>9} {:>7}  {}\n",
        "workload",
        "device",
        "mode",
        "ranks",
        "ms/step",
        "items/s",
        "unit",
        "TFLOP/s",
        "peak MiB",
        "steps",
        "notes"
    );
    for r in records {
        s.push_str(&format!(
            "{:<18} {:<6} {:<6} {:>5} {:>12} {:>14} {:<7} {:>8} {:>9} {:>7}  {}\n",
            r.workload,
            r.device,
            r.mode,
            r.world_size,
            opt(r.ms_per_step, 4),
            opt(r.items_per_s, 0),
            r.unit,
            opt(r.tflops, 2),
            opt(r.peak_mem_mib, 1),
            r.steps,
            r.skipped
                .as_deref()
                .map_or_else(|| r.device_name.clone(), |w| format!("skipped: {w}"))
        ));
    }
    s
}
