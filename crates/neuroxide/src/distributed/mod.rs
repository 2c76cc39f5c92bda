//! Data-parallel training over several processes, one GPU each (issue 13).
//!
//! A job is `R` processes started by `neuroxide launch --gpus R -- <train command>` or by any
//! launcher that sets `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR` and `MASTER_PORT`
//! ([`DistEnv`]). Every rank reads the same global batches (same seed, same shuffle) and trains
//! its shard of each; the gradients are summed across ranks over NCCL
//! (`distributed/nccl.rs`) in rank order, so the job computes the bits of one GPU or the CPU
//! running `R` shards (`Model::set_shards`). [`ReduceMode::Fast`] uses `ncclAllReduce`
//! instead: faster, not bit-exact.
//!
//! Joining: rank 0 creates the NCCL unique id and hands it out through the TCP rendezvous on
//! `MASTER_ADDR:MASTER_PORT` ([`rendezvous`]); each rank then opens its communicator on
//! `cuda:LOCAL_RANK`. Liveness: the rendezvous times out when a rank never joins; afterwards the
//! watchdog ([`liveness`]) exchanges heartbeats over the rendezvous connections and ends a rank
//! with an error as soon as a peer's process ends (or sends nothing for
//! `NEUROXIDE_DP_TIMEOUT` seconds, 30 by default), even while its training thread waits on an
//! NCCL transfer that will never complete; before every step a rank also checks its
//! communicator's asynchronous error; `neuroxide launch` stops the whole job as soon as any
//! rank exits with an error.

pub mod env;
pub mod liveness;
pub mod nccl;
pub mod rendezvous;

pub use env::DistEnv;

use crate::backend::cuda::{CudaBackend, SideStream};
use crate::backend::{Backend, Kernels};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::{CrossRankReduce, Model, ReduceBucket};
use liveness::Watchdog;
use nccl::{unique_id, NcclComm};
use std::time::Duration;

/// How gradients are summed across ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReduceMode {
    /// Rank-order sum with grouped `ncclSend`/`ncclRecv`: bit-identical to `R` shards on one
    /// device.
    #[default]
    Exact,
    /// `ncclAllReduce`: NCCL's own order; not bit-exact.
    Fast,
}

impl ReduceMode {
    /// `NEUROXIDE_DP_REDUCE` (`exact`, the default, or `fast`; `neuroxide launch --fast` sets it).
    pub fn from_env() -> Result<ReduceMode> {
        match std::env::var("NEUROXIDE_DP_REDUCE").as_deref() {
            Err(_) | Ok("exact") | Ok("") => Ok(ReduceMode::Exact),
            Ok("fast") => Ok(ReduceMode::Fast),
            Ok(v) => Err(Error::invalid(format!(
                "NEUROXIDE_DP_REDUCE='{v}': expected exact or fast"
            ))),
        }
    }
}

/// The rendezvous timeout: `NEUROXIDE_RENDEZVOUS_TIMEOUT` seconds, 120 by default.
pub fn rendezvous_timeout() -> Result<Duration> {
    seconds_from_env("NEUROXIDE_RENDEZVOUS_TIMEOUT", 120.0)
}

/// A positive number of seconds from the environment variable `name`, `default` when unset;
/// an error naming the variable and its value otherwise.
pub(crate) fn seconds_from_env(name: &str, default: f64) -> Result<Duration> {
    match std::env::var(name) {
        Err(_) => Ok(Duration::from_secs_f64(default)),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                Error::invalid(format!("{name}='{v}' is not a positive number of seconds"))
            }),
    }
}

/// [`CrossRankReduce`] over an NCCL communicator. Each bucket is reduced on a side stream of
/// the rank's GPU (the copies of its gradients into and out of the flat vector, the NCCL
/// transfers, the fold and the scaling), ordered after the compute stream's work so far by an
/// event, so that it overlaps with the rest of the backward; [`CrossRankReduce::wait`]
/// makes the compute stream wait for the side stream.
pub struct NcclReducer {
    comm: NcclComm,
    mode: ReduceMode,
    /// The stream the buckets are reduced on (created by the first `prepare`).
    side: Option<SideStream>,
}

/// This process's watchdog while it is a rank of a job ([`join`] starts it, [`leave`] ends
/// it). Process-wide, not owned by the model: a model dropped while an error propagates must
/// not tell the peers the rank left normally.
static WATCHDOG: std::sync::Mutex<Option<Watchdog>> = std::sync::Mutex::new(None);

/// Ends this process's part in a data-parallel job after its work is done: the watchdog says
/// goodbye to the peers (they stop watching this rank) and stops. A rank that exits without
/// calling it (an error, a crash, a kill) is reported dead by its peers, which then stop with
/// an error instead of waiting for it forever. Does nothing outside a job.
pub fn leave() {
    if let Ok(mut w) = WATCHDOG.lock() {
        w.take();
    }
}

/// The CUDA backend under `backend`; an error on any other.
fn cuda_of(backend: &mut dyn Backend) -> Result<&mut CudaBackend> {
    match backend.kernels() {
        Kernels::Cuda(cuda) => Ok(cuda),
        Kernels::Cpu(_) => Err(Error::invalid(
            "data-parallel training over NCCL needs a CUDA device",
        )),
    }
}

impl CrossRankReduce for NcclReducer {
    fn rank(&self) -> usize {
        self.comm.rank()
    }
    fn world_size(&self) -> usize {
        self.comm.world()
    }
    fn prepare(&mut self, backend: &mut dyn Backend, largest: usize) -> Result<()> {
        let cuda = cuda_of(backend)?;
        if self.side.is_none() {
            self.side = Some(cuda.new_side_stream()?);
        }
        self.comm.ensure_slots(cuda, largest)
    }
    fn reduce(&mut self, backend: &mut dyn Backend, bucket: &ReduceBucket) -> Result<()> {
        let cuda = cuda_of(backend)?;
        let side = self
            .side
            .as_mut()
            .ok_or_else(|| Error::invalid("nccl: reduce before prepare"))?;
        let (comm, mode) = (&mut self.comm, self.mode);
        let (flat, range, scaled) = (bucket.flat, bucket.range.clone(), bucket.scaled);
        let done = cuda.on_side_stream(side, |cuda| {
            bucket.pack(cuda)?;
            match mode {
                ReduceMode::Exact => comm.reduce_exact(cuda, flat, range, scaled)?,
                ReduceMode::Fast => comm.all_reduce_fast(cuda, flat, range, scaled)?,
            }
            bucket.unpack(cuda)
        });
        if done.is_err() {
            self.comm.abort();
        }
        done
    }
    fn wait(&mut self, backend: &mut dyn Backend) -> Result<()> {
        match self.side.as_mut() {
            Some(side) => cuda_of(backend)?.join_side_stream(side),
            None => Ok(()),
        }
    }
    fn check_alive(&self) -> Result<()> {
        self.comm.async_error()
    }
}

/// Makes `model` rank `env.rank` of the job: moves it to `cuda:LOCAL_RANK`, exchanges the NCCL
/// id through the rendezvous (failing after `timeout`), opens the communicator and installs
/// the reducer. The model must be compiled-ready and not sharded locally.
pub fn join(model: &mut Model, env: &DistEnv, mode: ReduceMode, timeout: Duration) -> Result<()> {
    model.to_device(Device::cuda(env.local_rank))?;
    let rv = rendezvous::rendezvous(env, timeout, &mut unique_id)?;
    let watchdog = Watchdog::start(
        env.rank,
        rv.links,
        liveness::timeout_from_env()?,
        liveness::exit_on_dead(),
    )
    .map_err(|e| Error::invalid(format!("data-parallel job: cannot start the watchdog: {e}")))?;
    // Kept process-wide from now on: if opening the communicator fails below, this rank ends
    // without a goodbye and its peers stop instead of waiting in NCCL's initialisation.
    if let Ok(mut w) = WATCHDOG.lock() {
        *w = Some(watchdog);
    }
    let id = rv.id;
    model.reset_running()?; // creates the device state
    let comm =
        model.with_backend(&mut |b| NcclComm::new(cuda_of(b)?, &id, env.rank, env.world_size))?;
    model.set_cross_rank(Box::new(NcclReducer {
        comm,
        mode,
        side: None,
    }))
}

/// Puts `model` on `device`, or — in a data-parallel launch ([`DistEnv::from_env`]) — joins
/// the job on `cuda:LOCAL_RANK` (any `device` given is replaced; a CPU device is an error).
/// Returns the job's environment when it joined one.
pub fn to_device_or_join(model: &mut Model, device: Device) -> Result<Option<DistEnv>> {
    match DistEnv::from_env()? {
        None => {
            model.to_device(device)?;
            Ok(None)
        }
        Some(env) => {
            if !device.is_cuda() {
                return Err(Error::invalid(format!(
                    "data-parallel launch (WORLD_SIZE={}): training runs on cuda:LOCAL_RANK; \
                     pass --device cuda",
                    env.world_size
                )));
            }
            join(model, &env, ReduceMode::from_env()?, rendezvous_timeout()?)?;
            Ok(Some(env))
        }
    }
}

/// This process's rank in a data-parallel launch (0 otherwise): only rank 0 prints progress,
/// saves models and writes plots.
pub fn rank_from_env() -> Result<usize> {
    Ok(DistEnv::from_env()?.map_or(0, |e| e.rank))
}
