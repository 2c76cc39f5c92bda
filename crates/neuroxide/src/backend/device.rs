//! Devices and backend selection.

use super::{cpu::CpuBackend, cuda, Backend};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a model's buffers live and its kernels run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Device {
    /// The CPU backend, using the given number of threads (0 = all available cores).
    Cpu { threads: usize },
    /// A CUDA GPU by ordinal.
    Cuda(usize),
}

impl Device {
    /// The CPU with every available core (or `NEUROXIDE_THREADS` when set).
    pub fn cpu() -> Device {
        Device::Cpu { threads: 0 }
    }
    /// The CPU with exactly `threads` threads.
    pub fn cpu_threads(threads: usize) -> Device {
        Device::Cpu { threads }
    }
    /// CUDA device `ordinal`.
    pub fn cuda(ordinal: usize) -> Device {
        Device::Cuda(ordinal)
    }
    /// CUDA device 0 when a usable GPU is present, else the CPU; says why on stderr.
    pub fn auto() -> Device {
        match cuda::probe(0) {
            Ok(name) => {
                eprintln!("neuroxide: using cuda:0 ({name})");
                Device::Cuda(0)
            }
            Err(e) => {
                eprintln!("neuroxide: using the CPU: {e}");
                Device::cpu()
            }
        }
    }
    /// Parses `cpu`, `cuda`, `cuda:N` or `auto`.
    pub fn parse(s: &str) -> Result<Device> {
        match s {
            "cpu" => Ok(Device::cpu()),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            "auto" => Ok(Device::auto()),
            _ => {
                if let Some(n) = s.strip_prefix("cuda:") {
                    n.parse::<usize>().map(Device::Cuda).map_err(|_| {
                        Error::invalid(format!("device '{s}': expected cuda:N with N a number"))
                    })
                } else {
                    Err(Error::invalid(format!(
                        "unknown device '{s}': expected cpu, cuda, cuda:N or auto"
                    )))
                }
            }
        }
    }
    /// Whether this is a CUDA device.
    pub fn is_cuda(&self) -> bool {
        matches!(self, Device::Cuda(_))
    }
    /// Creates a fresh backend for this device.
    pub fn backend(&self) -> Result<Box<dyn Backend>> {
        match *self {
            Device::Cpu { threads } => Ok(Box::new(CpuBackend::new(threads))),
            Device::Cuda(ordinal) => cuda::create(ordinal),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu { .. } => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}
