//! Rebuilding layers from their saved JSON configuration (the architecture file).

use super::{
    ActivationLayer, ActivationOp, Add, Concat, Dense, Dropout, Embedding, Flatten, Initializer,
    Layer, LayerNorm, MultiHeadAttention, Multiply, PositionEmbedding, Reshape, RmsNorm,
    SeqPoolMode, SequencePooling,
};
use crate::backend::Activation;
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn field<T: DeserializeOwned>(kind: &str, config: &Value, name: &str) -> Result<T> {
    let v = config
        .get(name)
        .ok_or_else(|| Error::Format(format!("layer {kind}: missing field '{name}'")))?;
    serde_json::from_value(v.clone())
        .map_err(|e| Error::Format(format!("layer {kind}: field '{name}': {e}")))
}

/// Builds a layer from its kind and [`Layer::config`].
pub fn layer_from_config(kind: &str, config: &Value) -> Result<Box<dyn Layer>> {
    Ok(match kind {
        "Dense" => Box::new(Dense {
            units: field(kind, config, "units")?,
            activation: field::<Activation>(kind, config, "activation")?,
            use_bias: field(kind, config, "use_bias")?,
            kernel_init: field::<Initializer>(kind, config, "kernel_init")?,
            bias_init: field::<Initializer>(kind, config, "bias_init")?,
        }),
        "Activation" => Box::new(ActivationLayer {
            op: field::<ActivationOp>(kind, config, "op")?,
        }),
        "Dropout" => Box::new(Dropout {
            rate: field(kind, config, "rate")?,
        }),
        "Flatten" => Box::new(Flatten),
        "Reshape" => Box::new(Reshape {
            target: field(kind, config, "target")?,
        }),
        "Embedding" => Box::new(Embedding {
            vocab: field(kind, config, "vocab")?,
            dim: field(kind, config, "dim")?,
            init: field::<Initializer>(kind, config, "init")?,
        }),
        "PositionEmbedding" => Box::new(PositionEmbedding {
            init: field::<Initializer>(kind, config, "init")?,
        }),
        "LayerNorm" => Box::new(LayerNorm {
            eps: field(kind, config, "eps")?,
        }),
        "SequencePooling" => Box::new(SequencePooling {
            mode: field::<SeqPoolMode>(kind, config, "mode")?,
        }),
        "RmsNorm" => Box::new(RmsNorm {
            eps: field(kind, config, "eps")?,
        }),
        "MultiHeadAttention" => Box::new(MultiHeadAttention {
            heads: field(kind, config, "heads")?,
            causal: field(kind, config, "causal")?,
            use_bias: field(kind, config, "use_bias")?,
            kernel_init: field::<Initializer>(kind, config, "kernel_init")?,
            // Absent in architectures saved before the option existed.
            key_padding_mask: config
                .get("key_padding_mask")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }),
        "Add" => Box::new(Add),
        "Concat" => Box::new(Concat),
        "Multiply" => Box::new(Multiply),
        other => return Err(Error::Format(format!("unknown layer kind '{other}'"))),
    })
}
