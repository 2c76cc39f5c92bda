//! `neuroxide bench` as a rank of a data-parallel job (`neuroxide launch --gpus R -- bench …`,
//! or any launcher that sets `WORLD_SIZE`): weak scaling, as DDP benchmarks measure it.
//!
//! - Each workload keeps its per-GPU batch `B` of WORKLOADS.md: every rank draws the same four
//!   *global* batches of `R × B` rows (same seed) and trains its shard of `B` rows
//!   (`Model::set_cross_rank`), the gradients summed across ranks over NCCL
//!   (`NEUROXIDE_DP_REDUCE`: exact, or fast with `launch --fast`).
//! - The record counts the job's work: `items_per_s` and `tflops` are those of the global batch
//!   (perfect scaling on 2 GPUs reports twice one GPU's items/s), `batch` is `R × B` and
//!   `world_size` is `R`.
//! - Lockstep: every step is a collective, so every rank must run the same number of steps or
//!   the job waits forever. The warm-up is a fixed `warmup_steps` (no time condition), and the
//!   steps per timed run are rank 0's estimate, handed to every rank over the rendezvous
//!   address ([`agree`]) before the timed runs. Two exchanges on that address never overlap:
//!   between them the ranks always pass collective steps (the communicator's initialisation,
//!   the warm-up, the timed runs, each ending with a read of the loss), which no rank passes
//!   before rank 0 has finished serving the previous exchange.
//! - Each workload's model joins the job on its own (one rendezvous and one communicator per
//!   workload, on the same `MASTER_ADDR:MASTER_PORT`), and is dropped before the next joins.
//! - Workloads that are not a step loop (`mnist_mlp_fit`, `global_norm_124m`) are skipped; a
//!   GPU that is not available is an error, not a skip (a rank that skipped would leave its
//!   peers waiting in the rendezvous).

use super::record::BenchRecord;
use super::runner::{device_name, mode_name, skip_or_special, time_steps, BenchOptions};
use super::workloads::Workload;
use neuroxide::backend::Mode;
use neuroxide::device::Device;
use neuroxide::distributed::{self, rendezvous, DistEnv, ReduceMode};
use neuroxide::error::{Error, Result};
use neuroxide::graph::Model;

/// Times `w` with its per-GPU batch on `cuda:LOCAL_RANK` as one rank of the job `env`
/// (see the module doc). `device` must be a CUDA device (which ordinal is replaced by
/// `LOCAL_RANK`).
pub fn run_workload_dp(
    w: &Workload,
    device: Device,
    mode: Mode,
    opts: &BenchOptions,
    env: &DistEnv,
) -> Result<BenchRecord> {
    if !device.is_cuda() {
        return Err(Error::invalid(format!(
            "bench in a data-parallel launch (WORLD_SIZE={}): every rank trains on \
             cuda:LOCAL_RANK; pass --device cuda",
            env.world_size
        )));
    }
    let device = Device::cuda(env.local_rank);
    let mode_name = mode_name(mode);
    if w.name == super::fit_epoch::NAME || w.name == super::global_norm::NAME {
        return Ok(BenchRecord::skipped(
            w.name,
            "cuda",
            mode_name,
            &w.unit.to_string(),
            w.batch,
            "not a data-parallel workload (a fit epoch or a reduction, not a training step)",
        ));
    }
    if let Some(r) = skip_or_special(w, device, mode, mode_name, opts)? {
        return Ok(r);
    }
    let name = device_name(device).map_err(|why| {
        Error::invalid(format!(
            "bench {} as rank {} of {}: {device} is not available: {why}",
            w.name, env.rank, env.world_size
        ))
    })?;
    let global = global_workload(w, env.world_size)?;
    time_steps(&global, device, mode_name, name, opts, Some(env))
}

/// `w` with the global batch of `world_size` ranks: `world_size` × its per-GPU batch.
pub fn global_workload(w: &Workload, world_size: usize) -> Result<Workload> {
    let batch = w.batch.checked_mul(world_size).ok_or_else(|| {
        Error::invalid(format!(
            "bench {}: batch {} × {world_size} ranks overflows",
            w.name, w.batch
        ))
    })?;
    let mut g = w.clone();
    g.batch = batch;
    Ok(g)
}

/// Makes `model` rank `env.rank` of the job on `cuda:LOCAL_RANK`, with the reduction
/// `NEUROXIDE_DP_REDUCE` chooses.
pub(super) fn join(model: &mut Model, env: &DistEnv) -> Result<()> {
    distributed::join(
        model,
        env,
        ReduceMode::from_env()?,
        distributed::rendezvous_timeout()?,
    )
}

/// Every rank's steps per timed run: rank 0's `proposal`, sent to every other rank over the
/// job's rendezvous address (the others' proposals are ignored). Fails after the rendezvous
/// timeout when a rank never takes part.
pub fn agree(env: &DistEnv, proposal: usize) -> Result<usize> {
    agree_within(env, proposal, distributed::rendezvous_timeout()?)
}

/// [`agree`] with an explicit timeout (for tests).
pub fn agree_within(env: &DistEnv, proposal: usize, timeout: std::time::Duration) -> Result<usize> {
    let bytes = rendezvous::exchange_id(env, timeout, &mut || {
        Ok((proposal as u64).to_le_bytes().to_vec())
    })?;
    let raw: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
        Error::invalid(format!(
            "bench: rank 0 sent {} bytes for the step count, expected 8",
            bytes.len()
        ))
    })?;
    let steps = u64::from_le_bytes(raw);
    usize::try_from(steps)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| Error::invalid(format!("bench: rank 0 sent the step count {steps}")))
}
