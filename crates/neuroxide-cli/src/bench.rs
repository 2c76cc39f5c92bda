//! `neuroxide bench`: times the workloads of WORKLOADS.md (protocol in
//! `neuroxide_examples::bench::runner`) and prints one JSON line per (workload, device, mode) with
//! `--json`, plus a table for people (on stderr with `--json`, on stdout without).
//!
//! Under `neuroxide launch --gpus R -- bench … --device cuda` (any launcher that sets
//! `WORLD_SIZE`) every process is a rank of a data-parallel job and each workload trains its
//! per-GPU batch on `cuda:LOCAL_RANK` (`neuroxide_examples::bench::data_parallel`); only rank 0
//! prints, and its records count the whole job's items (`world_size` = R). The first error
//! ends the rank (its peers would otherwise wait for it).

use clap::Args;
use neuroxide::distributed::DistEnv;
use neuroxide::{Device, Mode};
use neuroxide_examples::bench::{
    render_table, run_workload, run_workload_dp, workload, workloads, BenchOptions,
};

#[derive(Args)]
pub struct BenchArgs {
    /// Workloads to run (default: all of WORKLOADS.md; skipped ones say why).
    workloads: Vec<String>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// exact or fast.
    #[arg(long, default_value = "exact")]
    mode: String,
    /// Print one JSON line per result on stdout.
    #[arg(long)]
    json: bool,
    /// Timed runs (median reported; at least 3).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Target seconds per timed run.
    #[arg(long, default_value_t = 0.5)]
    run_seconds: f64,
}

pub fn run(args: BenchArgs) -> neuroxide::Result<()> {
    let device = match args.device.as_str() {
        "auto" => {
            return Err(neuroxide::Error::invalid(
                "bench --device: name cpu or cuda explicitly (auto would hide which one ran)",
            ))
        }
        d => Device::parse(d)?,
    };
    let mode = match args.mode.as_str() {
        "exact" => Mode::Exact,
        "fast" => Mode::Fast,
        m => {
            return Err(neuroxide::Error::invalid(format!(
                "--mode {m}: expected exact or fast"
            )))
        }
    };
    let list = if args.workloads.is_empty() {
        workloads()
    } else {
        args.workloads
            .iter()
            .map(|n| workload(n))
            .collect::<neuroxide::Result<Vec<_>>>()?
    };
    let opts = BenchOptions {
        runs: args.runs,
        run_s: args.run_seconds,
        ..BenchOptions::default()
    };
    let dist = DistEnv::from_env()?;
    let rank0 = dist.as_ref().is_none_or(|e| e.rank == 0);
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for w in &list {
        let result = match &dist {
            None => run_workload(w, device, mode, &opts),
            // A rank stops at its first error: its peers are stopped by the launcher or by
            // their watchdogs instead of waiting for a step that never comes.
            Some(env) => Ok(run_workload_dp(w, device, mode, &opts, env)?),
        };
        if !rank0 {
            records.extend(result.ok());
            continue;
        }
        match result {
            Ok(r) => {
                if args.json {
                    outln!("{}", r.to_json_line());
                }
                records.push(r);
            }
            Err(e) => {
                eprintln!("{}: error: {e}", w.name);
                errors.push(format!("{}: {e}", w.name));
            }
        }
    }
    let table = render_table(&records);
    if rank0 && args.json {
        eprint!("{table}");
    } else if rank0 {
        out!("{table}");
    }
    // Exit 0 only when something was measured: `--device cuda` without a GPU (or a list of
    // workloads that are all skipped) must not look like a successful benchmark.
    if errors.is_empty() && !records.is_empty() && records.iter().all(|r| r.skipped.is_some()) {
        let why: Vec<String> = records
            .iter()
            .map(|r| format!("{}: {}", r.workload, r.skipped.as_deref().unwrap_or("")))
            .collect();
        return Err(neuroxide::Error::invalid(format!(
            "bench --device {} --mode {}: no workload ran ({})",
            args.device,
            args.mode,
            why.join("; ")
        )));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(neuroxide::Error::invalid(format!(
            "{} workload(s) failed: {}",
            errors.len(),
            errors.join("; ")
        )))
    }
}
