//! Ops: one folder per kernel family, as dfdx lays them out.
//!
//! Each folder holds the op's argument struct with its shape and operand checks (written once),
//! the reduction order as that struct's doc comment (the contract both backends follow,
//! `../../shared/PARITY.md`), the CPU kernel, and the CUDA source (`<op>.cu`) beside it. An op
//! function takes `&mut dyn Backend`, checks its arguments, and dispatches on
//! [`crate::backend::Kernels`] to the CPU kernel or the CUDA launch (as candle dispatches one op
//! definition to each backend). Parity tests name the op they cover.
//!
//! This file is the registry: adding an op is a new folder, its `mod` line here, and its CUDA
//! family in [`CUDA_FAMILIES`] (so the compile test builds it).
//!
//! Ops know nothing of layers, graphs or training; layers call them.

pub mod attention;
pub mod batched_matmul;
pub mod batchnorm;
pub mod broadcast;
pub mod channel;
pub mod conv;
pub mod copy;
pub mod dims;
pub mod dropout;
pub mod elementwise;
pub mod embedding;
pub mod gather;
pub mod layernorm;
pub mod loss;
pub mod matmul;
pub mod optimizer;
pub mod permute;
pub mod pool;
pub mod reduce;
pub mod rmsnorm;
pub mod rope;
pub mod seqpool;
pub mod softmax;

use crate::backend::cuda::Family;

/// The CUDA source of every op folder (the NVRTC compile test builds each one).
pub const CUDA_FAMILIES: &[Family] = &[
    reduce::CUDA,
    matmul::CUDA,
    softmax::CUDA,
    dropout::CUDA,
    copy::CUDA,
    elementwise::CUDA,
    loss::CUDA,
    optimizer::CUDA,
    conv::CUDA,
    pool::CUDA,
    channel::CUDA,
    embedding::CUDA,
    layernorm::CUDA,
    attention::CUDA,
    rmsnorm::CUDA,
    rope::CUDA,
    seqpool::CUDA,
    batchnorm::CUDA,
    batched_matmul::CUDA,
    permute::CUDA,
    broadcast::CUDA,
    gather::CUDA,
];
