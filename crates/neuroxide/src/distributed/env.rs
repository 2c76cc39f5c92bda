//! The launch environment of one data-parallel process: the variables torchrun, SLURM wrappers
//! and `neuroxide launch` set (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`,
//! `MASTER_PORT`), read and checked once, with an error naming the variable and its value.

use crate::error::{Error, Result};

/// Where this process stands in a data-parallel job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistEnv {
    /// This process's rank, `0..world_size`; rank `r` trains shard `r` of every global batch.
    pub rank: usize,
    /// Processes in the job (= shards per global batch).
    pub world_size: usize,
    /// The GPU of this process on its machine (`cuda:LOCAL_RANK`).
    pub local_rank: usize,
    /// Host of rank 0's rendezvous listener.
    pub master_addr: String,
    /// Port of rank 0's rendezvous listener.
    pub master_port: u16,
}

impl DistEnv {
    /// Reads the job from the process environment. `None` when `WORLD_SIZE` is unset (not a
    /// data-parallel launch); an error when any variable is missing or invalid.
    pub fn from_env() -> Result<Option<DistEnv>> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// [`DistEnv::from_env`] over any lookup (for tests).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<DistEnv>> {
        if get("WORLD_SIZE").is_none() {
            return Ok(None);
        }
        let num = |k: &str| -> Result<usize> {
            let v = get(k).ok_or_else(|| {
                Error::invalid(format!(
                    "data-parallel launch: WORLD_SIZE is set but {k} is not"
                ))
            })?;
            v.trim().parse::<usize>().map_err(|_| {
                Error::invalid(format!(
                    "data-parallel launch: {k}='{v}' is not a non-negative integer"
                ))
            })
        };
        let world_size = num("WORLD_SIZE")?;
        let rank = num("RANK")?;
        let local_rank = match get("LOCAL_RANK") {
            Some(_) => num("LOCAL_RANK")?,
            None => rank,
        };
        if world_size == 0 {
            return Err(Error::invalid(
                "data-parallel launch: WORLD_SIZE='0'; it must be at least 1",
            ));
        }
        if rank >= world_size {
            return Err(Error::invalid(format!(
                "data-parallel launch: RANK={rank} is not below WORLD_SIZE={world_size}"
            )));
        }
        let master_addr = get("MASTER_ADDR").ok_or_else(|| {
            Error::invalid("data-parallel launch: WORLD_SIZE is set but MASTER_ADDR is not")
        })?;
        if master_addr.trim().is_empty() {
            return Err(Error::invalid("data-parallel launch: MASTER_ADDR is empty"));
        }
        let port = num("MASTER_PORT")?;
        let master_port = u16::try_from(port)
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "data-parallel launch: MASTER_PORT={port} is not a port in 1..=65535"
                ))
            })?;
        Ok(Some(DistEnv {
            rank,
            world_size,
            local_rank,
            master_addr: master_addr.trim().to_string(),
            master_port,
        }))
    }
}
