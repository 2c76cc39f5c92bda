//! Building a model from the functional graph: topological order, lazy shape inference,
//! parameter declaration and seeded initialisation.

use super::{Model, Node, ParamInfo, ReuseOptions};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{NodeDef, SymbolicTensor};
use crate::shape::Shape;
use std::collections::HashMap;

impl Model {
    /// Builds a model from its input and output symbolic tensors, seed 0.
    pub fn new(inputs: &[&SymbolicTensor], outputs: &[&SymbolicTensor]) -> Result<Model> {
        Self::with_seed(inputs, outputs, 0)
    }

    /// Builds a model: checks the graph, infers every shape, names the nodes, initialises the
    /// parameters from `seed` (Philox; parameter `i` uses stream `i`).
    pub fn with_seed(
        inputs: &[&SymbolicTensor],
        outputs: &[&SymbolicTensor],
        seed: u64,
    ) -> Result<Model> {
        let first = inputs
            .first()
            .ok_or_else(|| Error::invalid("a model needs at least one input"))?;
        if outputs.is_empty() {
            return Err(Error::invalid("a model needs at least one output"));
        }
        for t in inputs.iter().chain(outputs) {
            if !t.same_graph(first) {
                return Err(Error::invalid(
                    "inputs and outputs belong to different graphs",
                ));
            }
        }
        let defs = first.graph.0.borrow();
        let names = node_names(&defs);
        let input_nodes: Vec<usize> = inputs.iter().map(|t| t.node).collect();
        let output_nodes: Vec<usize> = outputs.iter().map(|t| t.node).collect();
        for (i, &n) in input_nodes.iter().enumerate() {
            if defs[n].layer.is_some() {
                return Err(Error::invalid(format!(
                    "model input {i} is the output of layer '{}'; inputs must come from Graph::input",
                    names[n]
                )));
            }
            if input_nodes[..i].contains(&n) {
                return Err(Error::invalid(format!(
                    "input '{}' is listed twice",
                    names[n]
                )));
            }
        }
        for (i, &n) in output_nodes.iter().enumerate() {
            if output_nodes[..i].contains(&n) {
                return Err(Error::invalid(format!(
                    "output '{}' is listed twice; apply a separate layer for each loss",
                    names[n]
                )));
            }
        }
        // Keep the nodes the outputs depend on, plus every listed input (an unused input is
        // kept so the caller's input list still lines up), in creation (= topological) order.
        let mut needed = vec![false; defs.len()];
        let mut stack: Vec<usize> = output_nodes.iter().chain(&input_nodes).copied().collect();
        while let Some(n) = stack.pop() {
            if needed[n] {
                continue;
            }
            needed[n] = true;
            for inp in &defs[n].inputs {
                if !inp.same_graph(first) {
                    return Err(Error::invalid(format!(
                        "layer '{}' takes an input from another graph",
                        names[n]
                    )));
                }
                stack.push(inp.node);
            }
        }
        for (n, def) in defs.iter().enumerate() {
            if needed[n] && def.layer.is_none() && !input_nodes.contains(&n) {
                return Err(Error::invalid(format!(
                    "the outputs depend on '{}' (shape {}), which is not among the model's inputs",
                    names[n], def.input_shape
                )));
            }
        }
        let mut remap = vec![usize::MAX; defs.len()];
        let mut nodes: Vec<Node> = Vec::new();
        let mut created = Created::default();
        let mut owners: HashMap<usize, usize> = HashMap::new();
        for (n, def) in defs.iter().enumerate() {
            if !needed[n] {
                continue;
            }
            let owner = def.shared.and_then(|id| owners.get(&id).copied());
            let node = build_node(
                def,
                names[n].clone(),
                &remap,
                &nodes,
                owner,
                &mut created,
                seed,
            )?;
            if let (Some(id), None) = (def.shared, owner) {
                owners.insert(id, nodes.len());
            }
            remap[n] = nodes.len();
            nodes.push(node);
        }
        let mut seen = std::collections::HashSet::new();
        for node in &nodes {
            if !seen.insert(node.name.clone()) {
                return Err(Error::invalid(format!(
                    "two layers are named '{}'",
                    node.name
                )));
            }
        }
        Ok(Model {
            inputs: input_nodes.iter().map(|&n| remap[n]).collect(),
            outputs: outputs.iter().map(|t| remap[t.node]).collect(),
            nodes,
            params: created.params,
            host_weights: created.weights,
            state_info: created.state_info,
            host_state: created.state,
            seed,
            device: Device::cpu(),
            exec: None,
            config: None,
            shards: 1,
            reuse: ReuseOptions::default(),
            weight_ema: None,
        })
    }
}

/// Every node's name: the user's, or `kind_N` numbering each kind in creation order.
fn node_names(defs: &[NodeDef]) -> Vec<String> {
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    defs.iter()
        .map(|def| {
            let kind = def.layer.as_ref().map_or("input", |l| l.kind());
            let counter = counts.entry(kind).or_insert(0);
            *counter += 1;
            def.name
                .clone()
                .unwrap_or_else(|| format!("{}_{}", kind.to_ascii_lowercase(), counter))
        })
        .collect()
}

/// The parameters and state tensors created so far, with their initial values.
#[derive(Default)]
struct Created {
    params: Vec<ParamInfo>,
    weights: Vec<Vec<f32>>,
    state_info: Vec<ParamInfo>,
    state: Vec<Vec<f32>>,
}

/// Philox stream base of state initialisers (apart from the parameters' streams `0, 1, …`;
/// today's state initialisers are constants and draw nothing).
const STATE_STREAM: u32 = 0x5747_0000;

/// Builds one node: infers its shape and creates its parameters and state, or, for a later
/// application of a shared layer, checks that the owner's parameters fit and uses them.
fn build_node(
    def: &NodeDef,
    name: String,
    remap: &[usize],
    nodes: &[Node],
    owner: Option<usize>,
    created: &mut Created,
    seed: u64,
) -> Result<Node> {
    let inputs: Vec<usize> = def.inputs.iter().map(|t| remap[t.node]).collect();
    let input_shapes: Vec<Shape> = inputs.iter().map(|&i| nodes[i].shape.clone()).collect();
    let Some(layer) = &def.layer else {
        if def.input_shape.numel() == 0 {
            return Err(Error::Shape(format!(
                "input '{name}' has an empty shape {}",
                def.input_shape
            )));
        }
        return Ok(Node {
            name,
            layer: None,
            inputs,
            input_shapes,
            shape: def.input_shape.clone(),
            dtype: def.dtype,
            params: 0..0,
            state: 0..0,
            shares: None,
        });
    };
    for (slot, &i) in inputs.iter().enumerate() {
        let (have, want) = (nodes[i].dtype, layer.input_dtype(slot));
        if have != want {
            let hint = match want {
                DType::I32 => "; declare the model input with Graph::input_ids",
                _ => "; i32 ids feed an Embedding",
            };
            return Err(Error::layer(
                &name,
                format!(
                    "{} input {slot} must be {want}, but '{}' is {have}{hint}",
                    layer.kind(),
                    nodes[i].name
                ),
            ));
        }
    }
    let shape = layer.output_shape(&input_shapes).map_err(|e| {
        let shapes: Vec<String> = input_shapes.iter().map(ToString::to_string).collect();
        Error::layer(&name, format!("{e} (input shapes: {})", shapes.join(", ")))
    })?;
    if let Some(o) = owner {
        let own = &nodes[o];
        let want: Vec<&Shape> = created.params[own.params.clone()]
            .iter()
            .chain(&created.state_info[own.state.clone()])
            .map(|p| &p.shape)
            .collect();
        let need_params = layer.params(&input_shapes);
        let need_state = layer.state(&input_shapes);
        let need: Vec<&Shape> = need_params
            .iter()
            .map(|p| &p.shape)
            .chain(need_state.iter().map(|s| &s.shape))
            .collect();
        if want != need {
            let show = |v: &[&Shape]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
            return Err(Error::layer(
                &name,
                format!(
                    "shares the parameters of '{}', which have shapes {:?}, but its inputs need \
                     {:?}",
                    own.name,
                    show(&want),
                    show(&need)
                ),
            ));
        }
        return Ok(Node {
            name,
            layer: Some(layer.clone()),
            inputs,
            input_shapes,
            shape,
            dtype: DType::F32,
            params: own.params.clone(),
            state: own.state.clone(),
            shares: Some(o),
        });
    }
    let start = created.params.len();
    for spec in layer.params(&input_shapes) {
        let stream = created.params.len() as u32;
        created.weights.push(spec.init.values(
            spec.shape.numel(),
            spec.fan_in,
            spec.fan_out,
            seed,
            stream,
        ));
        created.params.push(ParamInfo {
            name: format!("{name}/{}", spec.name),
            shape: spec.shape,
        });
    }
    let state_start = created.state_info.len();
    for spec in layer.state(&input_shapes) {
        let stream = STATE_STREAM + created.state_info.len() as u32;
        let n = spec.shape.numel();
        created.state.push(spec.init.values(n, n, n, seed, stream));
        created.state_info.push(ParamInfo {
            name: format!("{name}/{}", spec.name),
            shape: spec.shape,
        });
    }
    Ok(Node {
        name,
        layer: Some(layer.clone()),
        inputs,
        input_shapes,
        shape,
        dtype: DType::F32,
        params: start..created.params.len(),
        state: state_start..created.state_info.len(),
        shares: None,
    })
}
