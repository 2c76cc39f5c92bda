//! A saved model is a directory:
//! - `model.json`: the architecture, compile settings, preprocessing and training progress;
//! - `weights.safetensors`: every parameter, named `node/param`, f32;
//! - `optimizer.safetensors` (optional): the optimizer state per parameter and slot, with the
//!   update count, for resuming training exactly.
//!
//! Loading checks everything against the rebuilt model and names what does not match.

use super::architecture::{Architecture, TrainingState};
use super::preprocessing::Preprocessing;
use super::tensors::{read_tensors, write_atomically, write_tensors, NamedTensor, TensorFile};
use crate::backend::OptimizerKind;
use crate::error::{Error, Result};
use crate::graph::Model;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The architecture file's name inside a model directory.
pub const MODEL_FILE: &str = "model.json";
/// The weights file's name.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// The optimizer state file's name.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// What to write besides the architecture and weights.
#[derive(Clone, Debug, Default)]
pub struct SaveOptions {
    pub preprocessing: Option<Preprocessing>,
    /// Epochs finished so far (recorded for resuming).
    pub epochs_completed: Option<usize>,
    /// Write `optimizer.safetensors` (when the optimizer has state).
    pub include_optimizer: bool,
}

/// A loaded model directory.
pub struct SavedModel {
    /// The model with its weights (and optimizer state, when saved), compiled if it was.
    pub model: Model,
    pub preprocessing: Option<Preprocessing>,
    /// Training progress recorded at saving time.
    pub training: Option<TrainingState>,
}

/// Names of an optimizer's state slots, in the order of `Model::optimizer_state`.
fn slot_names(kind: &OptimizerKind) -> &'static [&'static str] {
    match kind {
        OptimizerKind::Sgd { momentum, .. } if *momentum != 0.0 => &["momentum"],
        OptimizerKind::Sgd { .. } => &[],
        OptimizerKind::Adam { .. } => &["m", "v"],
        OptimizerKind::RmsProp { momentum, .. } if *momentum != 0.0 => &["square_avg", "momentum"],
        OptimizerKind::RmsProp { .. } => &["square_avg"],
    }
}

fn optimizer_name(kind: &OptimizerKind) -> &'static str {
    match kind {
        OptimizerKind::Sgd { .. } => "sgd",
        OptimizerKind::Adam { .. } => "adam",
        OptimizerKind::RmsProp { .. } => "rmsprop",
    }
}

/// Saves `model` into directory `dir` (created if needed).
pub fn save(model: &mut Model, dir: impl AsRef<Path>, options: &SaveOptions) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut arch = Architecture::of(model);
    arch.preprocessing = options.preprocessing.clone();
    arch.training = options
        .epochs_completed
        .map(|e| super::architecture::TrainingState {
            epochs_completed: e,
            optimizer_steps: model.optimizer_steps(),
        });
    let json = serde_json::to_string_pretty(&arch)
        .map_err(|e| Error::Format(format!("cannot serialise the architecture: {e}")))?;
    // Floats are written in their shortest form; make sure every one reads back to the same
    // bits, since the learning rate and the normaliser feed the results.
    if Architecture::from_json(&json, MODEL_FILE)? != arch {
        return Err(Error::Format(
            "the architecture does not survive a JSON round trip (a non-finite hyper-parameter?)"
                .into(),
        ));
    }
    let weights: Vec<NamedTensor> = model
        .weights()?
        .into_iter()
        .map(|(name, t)| NamedTensor {
            name,
            shape: t.shape().to_vec(),
            values: t.into_data(),
        })
        .collect();
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "neuroxide-weights".to_string());
    write_tensors(&dir.join(WEIGHTS_FILE), &weights, meta)?;
    let opt_path = dir.join(OPTIMIZER_FILE);
    let state = if options.include_optimizer {
        model.optimizer_state()?
    } else {
        None
    };
    match (state, model.train_config().map(|c| c.optimizer)) {
        (Some(state), Some(kind)) => {
            let slots = slot_names(&kind);
            let mut tensors = Vec::new();
            for (p, per_param) in model.params().iter().zip(state) {
                if per_param.len() != slots.len() {
                    return Err(Error::invalid(format!(
                        "optimizer state of '{}' has {} slots, {} expects {}",
                        p.name,
                        per_param.len(),
                        optimizer_name(&kind),
                        slots.len()
                    )));
                }
                for (slot, values) in slots.iter().zip(per_param) {
                    tensors.push(NamedTensor {
                        name: format!("{}/{slot}", p.name),
                        shape: p.shape.dims().to_vec(),
                        values,
                    });
                }
            }
            let mut meta = HashMap::new();
            meta.insert("format".to_string(), "neuroxide-optimizer".to_string());
            meta.insert("optimizer".to_string(), optimizer_name(&kind).to_string());
            meta.insert("steps".to_string(), model.optimizer_steps().to_string());
            write_tensors(&opt_path, &tensors, meta)?;
        }
        _ => {
            // A stale state file from an earlier save would not match these weights.
            if opt_path.exists() {
                std::fs::remove_file(&opt_path).map_err(|e| Error::io(&opt_path, e))?;
            }
        }
    }
    write_atomically(&dir.join(MODEL_FILE), json.as_bytes())
}

/// Loads a model directory written by [`save`] onto the CPU.
pub fn load(dir: impl AsRef<Path>) -> Result<SavedModel> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(Error::invalid(format!(
            "{}: not a model directory (expected {MODEL_FILE} and {WEIGHTS_FILE} inside)",
            dir.display()
        )));
    }
    let json_path = dir.join(MODEL_FILE);
    let text = std::fs::read_to_string(&json_path).map_err(|e| Error::io(&json_path, e))?;
    let arch = Architecture::from_json(&text, &json_path.display().to_string())?;
    let mut model = arch.build().map_err(|e| prefix(&json_path, e))?;
    let weights = read_tensors(&dir.join(WEIGHTS_FILE))?;
    set_weights_from(&mut model, &weights, &dir.join(WEIGHTS_FILE))?;
    let opt_path = dir.join(OPTIMIZER_FILE);
    if opt_path.exists() {
        let file = read_tensors(&opt_path)?;
        set_optimizer_from(&mut model, &file, &opt_path)?;
    }
    Ok(SavedModel {
        model,
        preprocessing: arch.preprocessing,
        training: arch.training,
    })
}

fn prefix(path: &Path, e: Error) -> Error {
    match e {
        Error::Format(m) => Error::Format(format!("{}: {m}", path.display())),
        other => other,
    }
}

fn file_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Format(format!("{}: {message}", path.display()))
}

/// Matches the file's tensors to the model's parameters by name and shape.
fn set_weights_from(model: &mut Model, file: &TensorFile, path: &Path) -> Result<()> {
    let mut weights = Vec::with_capacity(model.params().len());
    for p in model.params() {
        let t = file
            .tensors
            .get(&p.name)
            .ok_or_else(|| file_err(path, format!("tensor '{}' is missing", p.name)))?;
        if t.shape != p.shape.dims() {
            return Err(file_err(
                path,
                format!(
                    "tensor '{}' has shape {:?}, the model expects {:?}",
                    p.name,
                    t.shape,
                    p.shape.dims()
                ),
            ));
        }
        weights.push((
            p.name.clone(),
            Tensor::new(t.shape.clone(), t.values.clone())?,
        ));
    }
    if let Some(extra) = file
        .tensors
        .keys()
        .find(|k| !model.params().iter().any(|p| &p.name == *k))
    {
        return Err(file_err(
            path,
            format!("tensor '{extra}' does not belong to any parameter of the model"),
        ));
    }
    model.set_weights(&weights)
}

fn set_optimizer_from(model: &mut Model, file: &TensorFile, path: &Path) -> Result<()> {
    let kind = model.train_config().map(|c| c.optimizer).ok_or_else(|| {
        file_err(
            path,
            "optimizer state present, but model.json has no 'compile' section",
        )
    })?;
    let saved = file
        .metadata
        .get("optimizer")
        .ok_or_else(|| file_err(path, "metadata field 'optimizer' is missing"))?;
    if saved != optimizer_name(&kind) {
        return Err(file_err(
            path,
            format!(
                "metadata field 'optimizer' is '{saved}', but the model is compiled with {}",
                optimizer_name(&kind)
            ),
        ));
    }
    let steps: u64 = file
        .metadata
        .get("steps")
        .ok_or_else(|| file_err(path, "metadata field 'steps' is missing"))?
        .parse()
        .map_err(|e| file_err(path, format!("metadata field 'steps': {e}")))?;
    let slots = slot_names(&kind);
    let mut state = Vec::with_capacity(model.params().len());
    let mut expected = Vec::new();
    for p in model.params() {
        let mut per_param = Vec::with_capacity(slots.len());
        for slot in slots {
            let name = format!("{}/{slot}", p.name);
            let t = file
                .tensors
                .get(&name)
                .ok_or_else(|| file_err(path, format!("tensor '{name}' is missing")))?;
            if t.shape != p.shape.dims() {
                return Err(file_err(
                    path,
                    format!(
                        "tensor '{name}' has shape {:?}, the model expects {:?}",
                        t.shape,
                        p.shape.dims()
                    ),
                ));
            }
            per_param.push(t.values.clone());
            expected.push(name);
        }
        state.push(per_param);
    }
    if let Some(extra) = file.tensors.keys().find(|k| !expected.contains(k)) {
        return Err(file_err(
            path,
            format!(
                "tensor '{extra}' is not part of the {} state",
                optimizer_name(&kind)
            ),
        ));
    }
    model.set_optimizer_state(steps, &state)
}

/// The directory for a checkpoint path template: `{epoch}` is replaced by the 1-based epoch,
/// zero-padded to 4 digits.
pub fn expand_epoch(template: &Path, epoch: usize) -> PathBuf {
    let s = template.to_string_lossy();
    if s.contains("{epoch}") {
        PathBuf::from(s.replace("{epoch}", &format!("{:04}", epoch + 1)))
    } else {
        template.to_path_buf()
    }
}
