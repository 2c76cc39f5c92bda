//! The CUDA backend: exact kernels compiled at run time by NVRTC (cudarc, dynamic loading),
//! bit-identical to the CPU backend (PARITY.md).
//!
//! Files: `context.rs` (driver/NVRTC checks, per-GPU context, module cache), `compile.rs`
//! (kernel sources and NVRTC options), `alloc.rs` (caching allocator), `launch.rs` (kernel
//! arguments), `staging.rs` (pinned staging memory and the copy stream for asynchronous input), `backend.rs` (the `Backend` implementation), `blas.rs` (cuBLAS reference for
//! benchmarks), `kernels/*.cu` (one file per kernel family).
//!
//! Builds and runs on machines without CUDA: every entry point checks that the libraries load
//! and returns `Error::Backend` when they do not.

mod alloc;
mod backend;
mod backend_trait;
mod blas;
pub mod compile;
mod context;
mod elementwise;
mod graph;
pub mod launch;
mod loss;
mod matmul;
pub mod nccl;
mod optimizer;
mod profile;
mod staging;

pub(crate) use backend::act_code;
pub use backend::{CudaBackend, CudaStats, MathFn};
pub use compile::Family;
pub use launch::{blocks_for, KArgs, BLOCK};

use crate::backend::Backend;
use crate::error::Result;

/// Checks that a CUDA driver, GPU `ordinal` and NVRTC are usable; returns the GPU's name.
pub fn probe(ordinal: usize) -> Result<String> {
    let dev = context::device(ordinal)?;
    let arch = compile::arch_for(dev.cc).map_err(crate::error::Error::backend)?;
    Ok(format!(
        "{}, sm_{}{}, NVRTC target {arch}",
        dev.name, dev.cc.0, dev.cc.1
    ))
}

/// Creates a CUDA backend on GPU `ordinal`.
pub fn create(ordinal: usize) -> Result<Box<dyn Backend>> {
    Ok(Box::new(CudaBackend::new(ordinal)?))
}
