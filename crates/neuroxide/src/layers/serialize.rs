//! Rebuilding layers from their saved JSON configuration (the architecture file).

use super::{
    ActivationLayer, ActivationOp, Add, AvgPool2D, BatchNorm, Concat, Conv1D, Conv2D, Dense,
    Dropout, Embedding, EmbeddingAttend, Flatten, GlobalAveragePool2D, Initializer, Layer,
    LayerNorm, MaxPool1D, MaxPool2D, MultiHeadAttention, Multiply, PoolWindow, PositionEmbedding,
    Reshape, RmsNorm, SeqPoolMode, SequencePooling, SinusoidalPositionEncoding, SpatialDropout2D,
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
        "SpatialDropout2D" => Box::new(SpatialDropout2D {
            rate: field(kind, config, "rate")?,
        }),
        "Flatten" => Box::new(Flatten),
        "Reshape" => Box::new(Reshape {
            target: field(kind, config, "target")?,
        }),
        "Conv2D" => Box::new(conv2d(kind, config)?),
        "Conv1D" => Box::new(Conv1D {
            inner: conv2d(kind, config)?,
        }),
        "MaxPool2D" => Box::new(MaxPool2D {
            window: pool_window(kind, config)?,
        }),
        "MaxPool1D" => Box::new(MaxPool1D {
            inner: MaxPool2D {
                window: pool_window(kind, config)?,
            },
        }),
        "AvgPool2D" => Box::new(AvgPool2D {
            window: pool_window(kind, config)?,
        }),
        "GlobalAveragePool2D" => Box::new(GlobalAveragePool2D),
        "Embedding" => Box::new(Embedding {
            vocab: field(kind, config, "vocab")?,
            dim: field(kind, config, "dim")?,
            init: field::<Initializer>(kind, config, "init")?,
        }),
        "EmbeddingAttend" => Box::new(EmbeddingAttend {
            vocab: field(kind, config, "vocab")?,
            dim: field(kind, config, "dim")?,
            init: field::<Initializer>(kind, config, "init")?,
        }),
        "PositionEmbedding" => Box::new(PositionEmbedding {
            init: field::<Initializer>(kind, config, "init")?,
        }),
        "SinusoidalPositionEncoding" => Box::new(SinusoidalPositionEncoding {
            base: field(kind, config, "base")?,
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
            rope: config.get("rope").and_then(Value::as_f64).map(|b| b as f32),
            dropout: config
                .get("dropout")
                .and_then(Value::as_f64)
                .map_or(0.0, |r| r as f32),
        }),
        "BatchNorm1D" => Box::new(batchnorm::<false>(kind, config)?),
        "BatchNorm2D" => Box::new(batchnorm::<true>(kind, config)?),
        "Add" => Box::new(Add),
        "Concat" => Box::new(Concat),
        "Multiply" => Box::new(Multiply),
        other => return Err(Error::Format(format!("unknown layer kind '{other}'"))),
    })
}

fn conv2d(kind: &str, config: &Value) -> Result<Conv2D> {
    Ok(Conv2D {
        filters: field(kind, config, "filters")?,
        kernel: field(kind, config, "kernel")?,
        stride: field(kind, config, "stride")?,
        padding: field(kind, config, "padding")?,
        dilation: field(kind, config, "dilation")?,
        groups: field(kind, config, "groups")?,
        activation: field::<Activation>(kind, config, "activation")?,
        use_bias: field(kind, config, "use_bias")?,
        kernel_init: field::<Initializer>(kind, config, "kernel_init")?,
        bias_init: field::<Initializer>(kind, config, "bias_init")?,
    })
}

fn pool_window(kind: &str, config: &Value) -> Result<PoolWindow> {
    Ok(PoolWindow {
        size: field(kind, config, "size")?,
        stride: field(kind, config, "stride")?,
        padding: field(kind, config, "padding")?,
    })
}

fn batchnorm<const SPATIAL: bool>(kind: &str, config: &Value) -> Result<BatchNorm<SPATIAL>> {
    Ok(BatchNorm {
        momentum: field(kind, config, "momentum")?,
        eps: field(kind, config, "eps")?,
        affine: field(kind, config, "affine")?,
    })
}
