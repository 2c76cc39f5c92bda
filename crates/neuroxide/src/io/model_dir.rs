//! A saved model is a directory:
//! - `model.json`: the architecture, compile settings, preprocessing and training progress;
//! - `weights.safetensors`: every parameter, named `node/param`, then every non-trainable state
//!   tensor (BatchNorm's running statistics), named `node/state`, f32 (a model without state
//!   has only parameters there, as before state existed);
//! - `optimizer.safetensors` (optional): the optimizer state per parameter and slot, with the
//!   update count, for resuming training exactly;
//! - `manifest.json`: size and SHA-256 of each file above, written last (see [`super::manifest`]).
//!
//! The directory is replaced as a whole (see [`super::atomic_dir`]), so it holds either the
//! complete old or the complete new model. Loading checks everything against the manifest and
//! the rebuilt model (preprocessing included) and names what does not match; a model whose
//! weights hold NaN or infinity (a diverged run) is refused.

use super::architecture::{Architecture, TrainingState};
use super::manifest::{self, MANIFEST_FILE};
use super::preprocessing::Preprocessing;
use super::tensors::{parse_tensors, serialize_tensors, NamedTensor, TensorFile};
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

/// Saves `model` into directory `dir` (created if needed), replacing an earlier model there as
/// a whole. An existing file, or an existing directory that holds something other than a model,
/// is refused.
pub fn save(model: &mut Model, dir: impl AsRef<Path>, options: &SaveOptions) -> Result<()> {
    let dir = dir.as_ref();
    super::atomic_dir::check_target(dir)?;
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
    let mut tensors = model.weights()?;
    tensors.extend(model.state_tensors()?);
    let weights: Vec<NamedTensor> = tensors
        .into_iter()
        .map(|(name, t)| NamedTensor {
            name,
            shape: t.shape().to_vec(),
            values: t.into_data(),
        })
        .collect();
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "neuroxide-weights".to_string());
    let mut files = vec![
        (MODEL_FILE.to_string(), json.into_bytes()),
        (
            WEIGHTS_FILE.to_string(),
            serialize_tensors(&dir.join(WEIGHTS_FILE), &weights, meta)?,
        ),
    ];
    let opt_path = dir.join(OPTIMIZER_FILE);
    let state = if options.include_optimizer {
        model.optimizer_state()?
    } else {
        None
    };
    // Without state no optimizer file is written: the directory is replaced whole, so no
    // stale one from an earlier save survives beside these weights.
    if let (Some(state), Some(kind)) = (state, model.train_config().map(|c| c.optimizer)) {
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
        files.push((
            OPTIMIZER_FILE.to_string(),
            serialize_tensors(&opt_path, &tensors, meta)?,
        ));
    }
    let manifest = manifest::manifest_of(&files)?;
    files.push((MANIFEST_FILE.to_string(), manifest));
    super::atomic_dir::replace_dir(dir, &files)
}

/// The raw files of a model directory (`None`: absent), as [`load`] reads them before checking
/// anything; [`load_from_files`] takes them from memory (the fuzz tests do).
#[derive(Clone, Debug, Default)]
pub struct ModelFiles {
    pub model: Option<Vec<u8>>,
    pub weights: Option<Vec<u8>>,
    pub optimizer: Option<Vec<u8>>,
    pub manifest: Option<Vec<u8>>,
}

/// Reads `path`; `Ok(None)` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// A required file that is absent: an interrupted save without a manifest, a missing file
/// with one.
fn required<'b>(
    dir: &Path,
    name: &str,
    file: &'b Option<Vec<u8>>,
    sealed: bool,
) -> Result<&'b [u8]> {
    match file {
        Some(b) => Ok(b),
        None if sealed => Err(Error::io(
            dir.join(name),
            std::io::Error::from_raw_os_error(libc::ENOENT),
        )),
        None => Err(manifest::incomplete(dir, name)),
    }
}

/// Explains a missing model directory that an interrupted save left beside its old or new
/// contents.
fn missing_dir(dir: &Path) -> Error {
    let previous = super::atomic_dir::leftovers(dir, "previous");
    if let Some(p) = previous.first() {
        return Error::Format(format!(
            "{}: does not exist: a save into it was interrupted while swapping directories; \
             the previous model is complete in {} — rename it to {} to use it",
            dir.display(),
            p.display(),
            dir.display()
        ));
    }
    Error::invalid(format!(
        "{}: not a model directory (expected {MODEL_FILE} and {WEIGHTS_FILE} inside)",
        dir.display()
    ))
}

/// Loads a model directory written by [`save`] onto the CPU. Weights holding NaN or infinity
/// are refused (see [`load_allowing_non_finite`] to inspect a diverged model).
pub fn load(dir: impl AsRef<Path>) -> Result<SavedModel> {
    load_checked(dir.as_ref(), true)
}

/// [`load`] without the finiteness check of the weights.
pub fn load_allowing_non_finite(dir: impl AsRef<Path>) -> Result<SavedModel> {
    load_checked(dir.as_ref(), false)
}

/// Refuses weights holding NaN or infinity, naming the tensor.
fn check_finite(file: &TensorFile, path: &Path) -> Result<()> {
    for (name, t) in &file.tensors {
        if let Some(i) = t.values.iter().position(|v| !v.is_finite()) {
            return Err(file_err(
                path,
                format!(
                    "tensor '{name}' holds {} at index {i} of {}: the model diverged when it was \
                     trained and its predictions would be meaningless; train it again (e.g. with \
                     a lower learning rate)",
                    t.values[i],
                    t.values.len()
                ),
            ));
        }
    }
    Ok(())
}

fn load_checked(dir: &Path, finite: bool) -> Result<SavedModel> {
    if !dir.is_dir() {
        return Err(missing_dir(dir));
    }
    let files = ModelFiles {
        model: read_optional(&dir.join(MODEL_FILE))?,
        weights: read_optional(&dir.join(WEIGHTS_FILE))?,
        optimizer: read_optional(&dir.join(OPTIMIZER_FILE))?,
        manifest: read_optional(&dir.join(MANIFEST_FILE))?,
    };
    load_from_files(dir, &files, finite)
}

/// Builds the model from the files of directory `dir` (which only names them in messages),
/// with every check of [`load`]; `finite` refuses weights holding NaN or infinity.
pub fn load_from_files(dir: &Path, files: &ModelFiles, finite: bool) -> Result<SavedModel> {
    let manifest = match &files.manifest {
        Some(b) => Some(manifest::parse_manifest(b, dir)?),
        None => None,
    };
    let m = manifest.as_ref();
    let sealed = m.is_some();
    let json_path = dir.join(MODEL_FILE);
    let json = required(dir, MODEL_FILE, &files.model, sealed)?;
    let text = std::str::from_utf8(json)
        .map_err(|e| file_err(&json_path, format!("not UTF-8 text: {e}")))?;
    let arch = Architecture::from_json(text, &json_path.display().to_string())?;
    let mut model = arch.build().map_err(|e| prefix(&json_path, e))?;
    if let Some(p) = &arch.preprocessing {
        let (inputs, outputs) = io_sizes(&arch);
        p.validate(&json_path.display().to_string(), inputs, outputs)?;
    }
    let weights_bytes = required(dir, WEIGHTS_FILE, &files.weights, sealed)?;
    let weights = parse_tensors(weights_bytes, &dir.join(WEIGHTS_FILE))?;
    set_weights_from(&mut model, &weights, &dir.join(WEIGHTS_FILE))?;
    if finite {
        check_finite(&weights, &dir.join(WEIGHTS_FILE))?;
    }
    let opt_path = dir.join(OPTIMIZER_FILE);
    let opt_bytes = &files.optimizer;
    if let Some(bytes) = opt_bytes {
        let file = parse_tensors(bytes, &opt_path)?;
        set_optimizer_from(&mut model, &file, &opt_path)?;
    }
    let mut read: Vec<(&str, &[u8])> = vec![(MODEL_FILE, json), (WEIGHTS_FILE, weights_bytes)];
    if let Some(b) = opt_bytes {
        read.push((OPTIMIZER_FILE, b));
    }
    manifest::verify(dir, m, &read)?;
    Ok(SavedModel {
        model,
        preprocessing: arch.preprocessing,
        training: arch.training,
    })
}

/// Values per sample of the first input and the first output, from the saved node shapes.
fn io_sizes(arch: &Architecture) -> (usize, usize) {
    let size = |name: Option<&String>| {
        name.and_then(|n| arch.nodes.iter().find(|node| &node.name == n))
            .map_or(0, |node| {
                node.shape
                    .iter()
                    .try_fold(1usize, |a, &d| a.checked_mul(d))
                    .unwrap_or(usize::MAX)
            })
    };
    (size(arch.inputs.first()), size(arch.outputs.first()))
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

/// Matches the file's tensors to the model's parameters and state tensors by name and shape.
fn set_weights_from(model: &mut Model, file: &TensorFile, path: &Path) -> Result<()> {
    let weights = named_from(model.params(), file, path)?;
    let state = named_from(model.state_info(), file, path)?;
    if let Some(extra) = file.tensors.keys().find(|k| {
        !model
            .params()
            .iter()
            .chain(model.state_info())
            .any(|p| &p.name == *k)
    }) {
        return Err(file_err(
            path,
            format!(
                "tensor '{extra}' does not belong to any parameter of the model (nor to its state)"
            ),
        ));
    }
    model.set_weights(&weights)?;
    model.set_state_tensors(&state)
}

/// The file's tensors for `info` (parameters or state), checked by name and shape.
fn named_from(
    info: &[crate::graph::ParamInfo],
    file: &TensorFile,
    path: &Path,
) -> Result<Vec<(String, Tensor)>> {
    let mut weights = Vec::with_capacity(info.len());
    for p in info {
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
    Ok(weights)
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
