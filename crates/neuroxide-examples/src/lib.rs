//! The reference examples of Neuroxide (XOR, CSV, the MNIST MLP and CNN, the character
//! transformer), the validation report that trains them on every backend, and the benchmark
//! workloads. They use the library exactly as any user would, through its public API; the
//! `neuroxide` binary, the validation report and the benchmarks all train these same models.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bench;
pub mod char_transformer;
pub mod csv;
pub mod csv_saved;
pub mod guard;
pub mod mnist;
pub mod play_classifier;
pub mod validate;
pub mod xor;
