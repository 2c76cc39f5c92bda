//! One error type for the whole library. Every message names the thing that was wrong
//! (file and line, layer, tensor, shape) so that a user can fix the input without a debugger.

use std::path::PathBuf;

/// Result alias used across Neuroxide.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Neuroxide.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two shapes that had to agree did not.
    #[error("shape error: {0}")]
    Shape(String),
    /// A layer rejected its inputs or configuration.
    #[error("layer '{layer}': {message}")]
    Layer { layer: String, message: String },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data file had bad content; `line` and `column` are 1-based, 0 when not applicable.
    #[error("{}{}: {message}", file.display(), location(*line, *column))]
    Data {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A saved model, checkpoint or configuration was malformed.
    #[error("format error: {0}")]
    Format(String),
    /// A backend (CPU or CUDA) failed or is unavailable.
    #[error("backend error: {0}")]
    Backend(String),
    /// Training produced a non-finite loss; the message names the epoch and the step. The
    /// model's weights are left as they were when it stopped (usually holding NaN).
    #[error("training diverged: {0}")]
    Diverged(String),
    /// The caller asked for something invalid (bad argument, wrong call order).
    #[error("{0}")]
    Invalid(String),
}

fn location(line: usize, column: usize) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (l, 0) => format!(", line {l}"),
        (l, c) => format!(", line {l}, column {c}"),
    }
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }
    /// Shorthand for [`Error::Backend`].
    pub fn backend(message: impl Into<String>) -> Self {
        Error::Backend(message.into())
    }
    /// Shorthand for [`Error::Layer`].
    pub fn layer(layer: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Layer {
            layer: layer.into(),
            message: message.into(),
        }
    }
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
