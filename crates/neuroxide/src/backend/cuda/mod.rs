//! The CUDA backend: device memory, streams and launches for the ops' kernels, compiled at run
//! time by NVRTC (cudarc, dynamic loading), bit-identical to the CPU backend (PARITY.md).
//!
//! Files: `context.rs` (driver/NVRTC checks, per-GPU context, module cache), `compile.rs`
//! (assembling a family's translation unit, NVRTC options), `header.rs` (the codes and
//! constants generated from the Rust definitions), `alloc.rs` (caching allocator), `launch.rs`
//! (kernel arguments), `staging.rs` (pinned staging memory and the copy stream for asynchronous
//! input), `backend.rs` (buffers, launches, scratch and device tables), `operands.rs` (operand
//! checks), `backend_trait.rs` (the `Backend` implementation), `graph.rs` (recorded steps),
//! `blas.rs` (cuBLAS reference for
//! benchmarks), `side_stream.rs` (streams that overlap with the compute stream), `kernels/` (`math.cuh`, `common.cuh`, and `math_eval.cu` which tests
//! `math.cuh`). The kernels themselves are in `crate::ops`.
//!
//! Builds and runs on machines without CUDA: every entry point checks that the libraries load
//! and returns `Error::Backend` when they do not.

mod alloc;
mod backend;
mod backend_trait;
mod blas;
pub mod compile;
mod context;
mod graph;
pub mod header;
pub mod launch;
mod operands;
mod profile;
mod side_stream;
mod staging;

pub use backend::{CudaBackend, CudaStats, MathFn};
pub use compile::Family;
pub use launch::{blocks_for, KArgs, BLOCK};
pub use side_stream::SideStream;

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
