//! `neuroxide bench`: the workloads of bench/WORKLOADS.md. Interim: not yet implemented.

use clap::Args;

#[derive(Args)]
pub struct BenchArgs {
    /// Workloads to run (default: all).
    workloads: Vec<String>,
}

pub fn run(_args: BenchArgs) -> neuroxide::Result<()> {
    Err(neuroxide::Error::invalid("bench: not implemented yet"))
}
