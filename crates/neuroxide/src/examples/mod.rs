//! The reference examples as library functions, so the `examples/` programs, the CLI and the
//! validation report all train exactly the same models.

pub mod char_transformer;
pub mod csv;
pub mod csv_saved;
pub mod guard;
pub mod mnist;
pub mod play_classifier;
pub mod xor;
