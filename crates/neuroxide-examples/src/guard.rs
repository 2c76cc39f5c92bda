//! What every training command does around `fit` so that a run's result is never lost late or
//! silently wrong: the `--save` target is checked before training (an existing file, a foreign
//! directory or an unwritable place would otherwise be found only after the whole run), and a
//! diverged run is an error that saves nothing unless asked to.

use neuroxide::error::{Error, Result};
use neuroxide::graph::Model;
use neuroxide::io::{save, SaveOptions};
use neuroxide::train::History;
use std::path::Path;

/// Checks the save target before any training.
pub fn check_save_target(save: Option<&Path>) -> Result<()> {
    match save {
        Some(dir) => neuroxide::io::atomic_dir::check_target(dir)
            .map_err(|e| Error::invalid(format!("--save: {e}"))),
        None => Ok(()),
    }
}

/// Passes `fit`'s result through; on divergence saves the model only with
/// `save_on_divergence`, and says in the error what happened to it.
pub fn after_fit(
    result: Result<History>,
    model: &mut Model,
    save_to: Option<&Path>,
    save_on_divergence: bool,
    options: &SaveOptions,
) -> Result<History> {
    let message = match result {
        Err(Error::Diverged(m)) => m,
        other => return other,
    };
    let what = match (save_to, save_on_divergence) {
        (Some(dir), true) => {
            save(model, dir, options)?;
            format!(
                "; the diverged model was saved to {} (--save-on-divergence)",
                dir.display()
            )
        }
        (Some(_), false) => {
            "; no model was saved (pass --save-on-divergence to keep the diverged one)".into()
        }
        (None, _) => String::new(),
    };
    Err(Error::Diverged(format!("{message}{what}")))
}
