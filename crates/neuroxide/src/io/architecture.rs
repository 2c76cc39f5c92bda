//! The architecture file (`model.json`): every node with its layer kind, configuration, inputs
//! and output shape; the model inputs and outputs; the seed; the compiled optimizer and loss;
//! the preprocessing; and how far training got. Enough to rebuild the model exactly.

use super::preprocessing::Preprocessing;
use crate::backend::OptimizerKind;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Graph, Model, NodeDef, SharedLayer, SymbolicTensor};
use crate::layers::layer_from_config;
use crate::loss::Loss;
use crate::shape::Shape;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Value of the `format` field.
pub const FORMAT: &str = "neuroxide-model";
/// Version of the layout written by this library.
pub const VERSION: u32 = 1;

/// One node: a model input (`kind = "Input"`, no config) or a layer application.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub config: serde_json::Value,
    pub inputs: Vec<String>,
    /// Per-sample output shape (no batch axis).
    pub shape: Vec<usize>,
    /// A later application of a shared layer: the node whose parameters (and state) it uses.
    /// Absent otherwise (and in files written before shared layers existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<String>,
}

/// The `config` of an Input node: `{"dtype": "i32"}` for an id input, nothing (null) for an
/// f32 one, so files of f32 models are unchanged.
fn input_config(dtype: DType) -> serde_json::Value {
    match dtype {
        DType::F32 => serde_json::Value::Null,
        d => serde_json::json!({ "dtype": d.name() }),
    }
}

/// The dtype of an Input node from its `config`: f32 when absent (files written before inputs
/// had dtypes), else `"f32"`, `"i32"` or `"bf16"`.
fn input_dtype(config: &serde_json::Value) -> std::result::Result<DType, String> {
    let name = match config {
        serde_json::Value::Null => return Ok(DType::F32),
        serde_json::Value::Object(m) if m.is_empty() => return Ok(DType::F32),
        serde_json::Value::Object(m) if m.len() == 1 && m.contains_key("dtype") => &m["dtype"],
        other => return Err(format!("an Input's config holds only 'dtype', got {other}")),
    };
    match name.as_str() {
        Some("f32") => Ok(DType::F32),
        Some("i32") => Ok(DType::I32),
        Some("bf16") => Ok(DType::BF16),
        _ => Err(format!(
            "input dtype {name} is not one of \"f32\", \"i32\", \"bf16\""
        )),
    }
}

/// What `compile` set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompileSpec {
    pub optimizer: OptimizerKind,
    pub loss: Loss,
    #[serde(default)]
    pub clip_norm: Option<f32>,
    pub track_accuracy: bool,
}

/// Training progress at the time of saving (for resuming).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingState {
    /// Epochs finished; pass as `initial_epoch` to continue.
    pub epochs_completed: usize,
    /// Optimizer updates applied (also stored with the optimizer state).
    pub optimizer_steps: u64,
}

/// The whole `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    pub format: String,
    pub version: u32,
    pub seed: u64,
    pub nodes: Vec<NodeSpec>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    #[serde(default)]
    pub compile: Option<CompileSpec>,
    #[serde(default)]
    pub preprocessing: Option<Preprocessing>,
    #[serde(default)]
    pub training: Option<TrainingState>,
}

impl Architecture {
    /// Describes `model` (its layers, shapes, seed and compile settings).
    pub fn of(model: &Model) -> Architecture {
        let nodes = model
            .layers()
            .into_iter()
            .zip(model.shares())
            .zip(model.node_dtypes())
            .map(|(((name, layer, inputs, shape), shares), dtype)| NodeSpec {
                name,
                kind: layer.map_or_else(|| "Input".to_string(), |l| l.kind().to_string()),
                config: match layer {
                    Some(l) => l.config(),
                    None => input_config(dtype),
                },
                inputs,
                shape: shape.dims().to_vec(),
                shares,
            })
            .collect();
        let (inputs, outputs) = model.io_names();
        Architecture {
            format: FORMAT.to_string(),
            version: VERSION,
            seed: model.seed(),
            nodes,
            inputs,
            outputs,
            compile: model.train_config().map(|c| CompileSpec {
                optimizer: c.optimizer,
                loss: c.loss,
                clip_norm: c.clip_norm,
                track_accuracy: c.track_accuracy,
            }),
            preprocessing: None,
            training: None,
        }
    }

    /// Parses `model.json` text; `file` names it in errors.
    pub fn from_json(text: &str, file: &str) -> Result<Architecture> {
        let a: Architecture =
            serde_json::from_str(text).map_err(|e| Error::Format(format!("{file}: {e}")))?;
        if a.format != FORMAT {
            return Err(Error::Format(format!(
                "{file}: field 'format' is '{}', expected '{FORMAT}'",
                a.format
            )));
        }
        if a.version != VERSION {
            return Err(Error::Format(format!(
                "{file}: field 'version' is {}, this library reads version {VERSION}",
                a.version
            )));
        }
        Ok(a)
    }

    /// Parameters of the Dense layers, from their `units` and their input's saved width,
    /// overflow-checked: known before any weight is allocated (the weights are initialised
    /// while building).
    fn dense_params(&self) -> Result<u64> {
        let mut total = 0u64;
        for n in self.nodes.iter().filter(|n| n.kind == "Dense") {
            let units = n.config.get("units").and_then(|u| u.as_u64()).unwrap_or(0);
            let width = n
                .inputs
                .first()
                .and_then(|i| self.nodes.iter().find(|m| &m.name == i))
                .and_then(|m| m.shape.last())
                .map_or(0, |&w| w as u64);
            total = width
                .checked_add(1)
                .and_then(|w| w.checked_mul(units))
                .and_then(|p| total.checked_add(p))
                .ok_or_else(|| {
                    Error::Format(format!(
                        "node '{}': {units} units on an input of width {width}: the parameter \
                         count overflows 64 bits",
                        n.name
                    ))
                })?;
        }
        Ok(total)
    }

    /// Applies the layer of node `n`: a fresh layer from its configuration, or, when the node
    /// or a later one shares parameters, the [`SharedLayer`] of the owning node.
    fn apply_node<'a>(
        &'a self,
        g: &Graph,
        n: &'a NodeSpec,
        inputs: &[&SymbolicTensor],
        shared: &mut HashMap<&'a str, SharedLayer>,
    ) -> Result<SymbolicTensor> {
        let layer = layer_from_config(&n.kind, &n.config)
            .map_err(|e| Error::Format(format!("node '{}': {e}", n.name)))?;
        let name = Some(n.name.clone());
        if let Some(owner) = &n.shares {
            let s = shared.get(owner.as_str()).ok_or_else(|| {
                Error::Format(format!(
                    "node '{}': field 'shares' names '{owner}', which is not a layer node \
                     defined before it",
                    n.name
                ))
            })?;
            if !s.admits(&n.kind, &n.config) {
                return Err(Error::Format(format!(
                    "node '{}' shares the parameters of '{owner}', but its layer ({} {}) is \
                     neither that node's ({} {}) nor its tied form",
                    n.name,
                    n.kind,
                    n.config,
                    s.layer().kind(),
                    s.layer().config()
                )));
            }
            return Ok(s.push(layer, name, inputs));
        }
        if self
            .nodes
            .iter()
            .any(|m| m.shares.as_deref() == Some(n.name.as_str()))
        {
            let s = SharedLayer::from_box(layer);
            let t = s.apply_to(name, inputs);
            shared.insert(&n.name, s);
            return Ok(t);
        }
        Ok(g.apply_layer(layer, name, inputs))
    }

    /// Rebuilds the model (weights freshly initialised from the seed) and compiles it when the
    /// file says how. Every node is checked: known kind, valid config, inputs defined before
    /// use, and the inferred shape equal to the saved one.
    pub fn build(&self) -> Result<Model> {
        // Shapes come from the file: multiply them out with overflow checks before any layer
        // does (a layer's own arithmetic would overflow or allocate first).
        for n in &self.nodes {
            let numel = n
                .shape
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d as u64));
            let bytes = numel.and_then(|v| v.checked_mul(4)).ok_or_else(|| {
                Error::Format(format!(
                    "node '{}': shape {:?} overflows 64 bits",
                    n.name, n.shape
                ))
            })?;
            crate::memory::check_host(
                bytes,
                &format!("one sample of node '{}' {:?}", n.name, n.shape),
            )
            .map_err(|e| Error::Format(e.to_string()))?;
        }
        let params = self.dense_params()?;
        let bytes = if self.compile.is_some() {
            crate::memory::training_bytes(params, "model.json")?
        } else {
            crate::memory::checked_product(&[params, 4], "model.json")?
        };
        crate::memory::check_host(
            bytes,
            &format!("the model ({params} parameters of its Dense layers' 'units')"),
        )
        .map_err(|e| Error::Format(e.to_string()))?;
        let g = Graph::new();
        let mut sym: HashMap<&str, SymbolicTensor> = HashMap::new();
        let mut shared: HashMap<&str, SharedLayer> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if sym.contains_key(n.name.as_str()) {
                return Err(Error::Format(format!(
                    "nodes[{i}]: the name '{}' is used twice",
                    n.name
                )));
            }
            let t = if n.kind == "Input" {
                if !n.inputs.is_empty() {
                    return Err(Error::Format(format!(
                        "node '{}': an Input node takes no inputs, got {:?}",
                        n.name, n.inputs
                    )));
                }
                let dtype = input_dtype(&n.config)
                    .map_err(|e| Error::Format(format!("node '{}': {e}", n.name)))?;
                let mut defs = g.0.borrow_mut();
                defs.push(NodeDef {
                    name: Some(n.name.clone()),
                    layer: None,
                    input_shape: Shape(n.shape.clone()),
                    dtype,
                    inputs: Vec::new(),
                    shared: None,
                });
                SymbolicTensor {
                    graph: g.clone(),
                    node: defs.len() - 1,
                }
            } else {
                let mut inputs = Vec::with_capacity(n.inputs.len());
                for inp in &n.inputs {
                    inputs.push(sym.get(inp.as_str()).ok_or_else(|| {
                        Error::Format(format!(
                            "node '{}': input '{inp}' is not a node defined before it",
                            n.name
                        ))
                    })?);
                }
                self.apply_node(&g, n, &inputs, &mut shared)?
            };
            sym.insert(&n.name, t);
        }
        let lookup = |names: &[String], what: &str| -> Result<Vec<&SymbolicTensor>> {
            if names.is_empty() {
                return Err(Error::Format(format!("field '{what}' is empty")));
            }
            names
                .iter()
                .map(|n| {
                    sym.get(n.as_str()).ok_or_else(|| {
                        Error::Format(format!("field '{what}': '{n}' is not a node"))
                    })
                })
                .collect()
        };
        let ins = lookup(&self.inputs, "inputs")?;
        let outs = lookup(&self.outputs, "outputs")?;
        let mut model = Model::with_seed(&ins, &outs, self.seed)
            .map_err(|e| Error::Format(format!("the saved graph does not build: {e}")))?;
        let rebuilt = model.layers();
        if rebuilt.len() != self.nodes.len() {
            return Err(Error::Format(format!(
                "the file lists {} nodes, but only {} feed the outputs",
                self.nodes.len(),
                rebuilt.len()
            )));
        }
        for ((name, _, _, shape), n) in rebuilt.iter().zip(&self.nodes) {
            if shape.dims() != n.shape.as_slice() {
                return Err(Error::Format(format!(
                    "node '{name}': saved shape {:?}, but the layer produces {:?}",
                    n.shape,
                    shape.dims()
                )));
            }
        }
        if let Some(c) = &self.compile {
            model.compile(c.optimizer, c.loss)?;
            let mut config = model
                .train_config()
                .cloned()
                .ok_or_else(|| Error::invalid("compile did not take effect"))?;
            config.clip_norm = c.clip_norm;
            config.track_accuracy = c.track_accuracy;
            model.compile_with(config)?;
        }
        Ok(model)
    }
}
