//! `neuroxide launch --gpus N -- train …` (or `-- bench …`): one process per GPU on this
//! machine, each a rank of a data-parallel job (`neuroxide::distributed`). `bench` times the
//! workloads with their per-GPU batch on every GPU (weak scaling; see `bench.rs`).
//!
//! Each process is this executable with the given arguments and the variables torchrun sets:
//! `RANK` = `LOCAL_RANK` = `0..N`, `WORLD_SIZE` = N, `MASTER_ADDR` = 127.0.0.1, `MASTER_PORT` (a
//! free port unless `--port`), plus `NCCL_NVLS_ENABLE=0` (NVLink multicast stays off) and
//! `NEUROXIDE_DP_REDUCE` (`exact`, or `fast` with `--fast`). Rank 0's standard output is this
//! command's; the others' is discarded (their errors still reach standard error). When any
//! rank exits with an error, the others are stopped at once and `launch` fails naming it.

use clap::Args;
use neuroxide::{Error, Result};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

#[derive(Args)]
pub struct LaunchArgs {
    /// Processes to start, one per GPU (rank r trains on cuda:r).
    #[arg(long)]
    gpus: usize,
    /// Sum gradients with ncclAllReduce (faster, NOT bit-exact) instead of the exact
    /// rank-order reduction.
    #[arg(long)]
    fast: bool,
    /// Rendezvous port on 127.0.0.1 (default: a free port).
    #[arg(long)]
    port: Option<u16>,
    /// The command each rank runs, after `--`: `train mnist|csv|transformer …` or
    /// `bench WORKLOAD… --device cuda`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// A free TCP port on 127.0.0.1 (the listener is closed before the ranks start).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::invalid(format!("launch: no free port on 127.0.0.1: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::invalid(format!("launch: {e}")))
}

pub fn run(a: LaunchArgs) -> Result<()> {
    if a.gpus == 0 {
        return Err(Error::invalid("launch: --gpus must be at least 1"));
    }
    if !matches!(
        a.command.first().map(String::as_str),
        Some("train") | Some("bench")
    ) {
        return Err(Error::invalid(format!(
            "launch: the command after -- must be `train …` or `bench …` (got `{}`)",
            a.command.join(" ")
        )));
    }
    let port = match a.port {
        Some(p) => p,
        None => free_port()?,
    };
    let exe = std::env::current_exe()
        .map_err(|e| Error::invalid(format!("launch: cannot find this executable: {e}")))?;
    let mut children: Vec<Child> = Vec::with_capacity(a.gpus);
    for rank in 0..a.gpus {
        let spawned = Command::new(&exe)
            .args(&a.command)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", a.gpus.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .env("NCCL_NVLS_ENABLE", "0")
            .env("NEUROXIDE_DP_REDUCE", if a.fast { "fast" } else { "exact" })
            .stdout(if rank == 0 {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn();
        match spawned {
            Ok(c) => children.push(c),
            Err(e) => {
                stop_all(&mut children);
                return Err(Error::invalid(format!(
                    "launch: cannot start rank {rank}: {e}"
                )));
            }
        }
    }
    watch(children)
}

/// Waits for every rank; the first one to fail stops the others.
fn watch(mut children: Vec<Child>) -> Result<()> {
    let mut done: Vec<Option<ExitStatus>> = vec![None; children.len()];
    while done.iter().any(Option::is_none) {
        for (rank, c) in children.iter_mut().enumerate() {
            if done[rank].is_some() {
                continue;
            }
            let status = c
                .try_wait()
                .map_err(|e| Error::invalid(format!("launch: waiting for rank {rank}: {e}")))?;
            if let Some(s) = status {
                done[rank] = Some(s);
                if !s.success() {
                    let others = done.iter().filter(|d| d.is_none()).count();
                    stop_all(&mut children);
                    return Err(Error::invalid(format!(
                        "launch: rank {rank} exited with {s}; stopped the {others} other running \
                         rank(s)"
                    )));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Kills and reaps every rank still running (by its own child handle).
fn stop_all(children: &mut [Child]) {
    for c in children.iter_mut() {
        if let Ok(None) = c.try_wait() {
            let _ = c.kill();
        }
        let _ = c.wait();
    }
}
