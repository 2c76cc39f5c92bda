//! The workloads of `shared/bench/WORKLOADS.md`, built exactly as that file specifies; the
//! PyTorch reference (`benches/pytorch_reference.py`) builds the same models under the same names.
//! A workload whose layers do not exist yet is listed with the reason it is skipped, so the
//! benchmark output always shows the whole table.

use crate::char_transformer::{self, TransformerConfig};
use crate::xor;
use neuroxide::error::{Error, Result};
use neuroxide::graph::TrainConfig;
use neuroxide::layers::Dense;
use neuroxide::philox::{philox4x32_10, uniform01};
use neuroxide::{optim, Activation, Loss, Model, Sequential, Tensor};
use std::fmt;

/// What one item of throughput counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Training steps (XOR: the batch is the whole data set).
    Steps,
    /// Images (MNIST vectors or 1×28×28 images).
    Images,
    /// Tokens (sequences × context length).
    Tokens,
    /// Values reduced (the global-norm workload: `batch` values per step).
    Values,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Steps => "steps",
            Unit::Images => "images",
            Unit::Tokens => "tokens",
            Unit::Values => "values",
        })
    }
}

/// Which model a workload trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arch {
    Xor,
    MnistMlp,
    MnistCnn,
    Transformer {
        vocab: usize,
        context: usize,
        d: usize,
        layers: usize,
    },
    /// No model: one reduction per step (`bench/global_norm.rs`).
    GlobalNorm,
}

/// One benchmark workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Name as in WORKLOADS.md (`xor_mlp`, `mnist_mlp_b64`, …).
    pub name: &'static str,
    /// Samples (rows, images or sequences) per step.
    pub batch: usize,
    /// What `items_per_s` counts.
    pub unit: Unit,
    /// The model, loss and optimizer in one line.
    pub description: &'static str,
    /// Why the workload cannot run yet (layers that do not exist), or `None`.
    pub skipped: Option<&'static str>,
    /// Why the workload is not timed on the CPU (too slow to be useful there), or `None`.
    pub cpu_skipped: Option<&'static str>,
    arch: Arch,
}

impl Workload {
    /// Items counted per step: 1 step, `batch` images, or `batch × T` tokens.
    pub fn items_per_step(&self) -> usize {
        match (self.unit, self.arch) {
            (Unit::Steps, _) => 1,
            (Unit::Values, _) => self.batch,
            (Unit::Tokens, Arch::Transformer { context, .. }) => self.batch * context,
            _ => self.batch,
        }
    }

    /// FLOPs of one training step where WORKLOADS.md defines them (gpt_small:
    /// `6·N·B·T + 12·L·B·T²·d`, `N = L·(4d² + 2d·ff) + V·d`), else `None`.
    pub fn flops_per_step(&self) -> Option<f64> {
        match self.arch {
            Arch::Transformer {
                vocab,
                context,
                d,
                layers,
            } if self.name == "gpt_small" => {
                let (l, b, t, d, v) = (
                    layers as f64,
                    self.batch as f64,
                    context as f64,
                    d as f64,
                    vocab as f64,
                );
                let ff = 4.0 * d;
                let n = l * (4.0 * d * d + 2.0 * d * ff) + v * d;
                Some(6.0 * n * b * t + 12.0 * l * b * t * t * d)
            }
            _ => None,
        }
    }

    /// Builds and compiles the model with `seed`. Fails for a skipped workload.
    pub fn build(&self, seed: u64) -> Result<Model> {
        if let Some(why) = self.skipped {
            return Err(Error::invalid(format!("{}: {why}", self.name)));
        }
        match self.arch {
            Arch::GlobalNorm => Err(Error::invalid(format!(
                "{}: a reduction, not a model (timed by bench/global_norm.rs)",
                self.name
            ))),
            Arch::Xor => xor::model(seed),
            Arch::MnistMlp => {
                let mut m = Sequential::new([784])
                    .add(Dense::new(256).activation(Activation::Relu))
                    .add(Dense::new(128).activation(Activation::Relu))
                    .add(Dense::new(10))
                    .build(seed)?;
                // The workload's step is forward, loss, backward, update: no accuracy counting.
                m.compile_with(TrainConfig {
                    optimizer: optim::adam(1e-3),
                    loss: Loss::cross_entropy(),
                    clip_norm: None,
                    track_accuracy: false,
                })?;
                Ok(m)
            }
            Arch::MnistCnn => {
                let mut m = crate::mnist::cnn_layers(seed)?;
                m.compile_with(TrainConfig {
                    optimizer: optim::adam(1e-3),
                    loss: Loss::cross_entropy(),
                    clip_norm: None,
                    track_accuracy: false,
                })?;
                Ok(m)
            }
            Arch::Transformer {
                vocab,
                context,
                d,
                layers,
            } => {
                let c = TransformerConfig {
                    vocab,
                    seq: context,
                    dim: d,
                    heads: if d >= 768 { 12 } else { 4 },
                    blocks: layers,
                    ff: 4 * d,
                    dropout: 0.0,
                    attention_dropout: 0.0,
                    tie_weights: false,
                };
                char_transformer::model(&c, 3e-4, seed)
            }
        }
    }

    /// The four input/target batches the timed steps rotate among. XOR uses its four rows (all
    /// four batches equal); MNIST uses uniform [0, 1) pixels and uniform class indices, drawn
    /// once from Philox with `seed` (throughput does not depend on the values).
    pub fn batches(&self, seed: u64) -> Result<Vec<(Tensor, Tensor)>> {
        match self.arch {
            Arch::GlobalNorm => Ok(Vec::new()),
            Arch::Xor => {
                let (x, y) = xor::data()?;
                Ok(vec![(x.clone(), y.clone()); 4])
            }
            Arch::MnistMlp | Arch::MnistCnn => (0..4u32)
                .map(|i| {
                    let x = uniform(self.batch * 784, seed, 2 * i);
                    let y = uniform(self.batch, seed, 2 * i + 1)
                        .into_iter()
                        .map(|u| (u * 10.0).floor().min(9.0) as i32)
                        .collect();
                    Ok((
                        Tensor::new([self.batch, 784], x)?,
                        Tensor::from_i32([self.batch], y)?,
                    ))
                })
                .collect(),
            Arch::Transformer { vocab, context, .. } => (0..4u32)
                .map(|i| {
                    let n = self.batch * context;
                    // Token ids (i32), the same draws as when they were floats.
                    let ids = |stream| -> Vec<i32> {
                        uniform(n, seed, stream)
                            .into_iter()
                            .map(|u| (u * vocab as f32).floor().min(vocab as f32 - 1.0) as i32)
                            .collect()
                    };
                    Ok((
                        Tensor::from_i32([self.batch, context], ids(2 * i))?,
                        Tensor::from_i32([self.batch, context], ids(2 * i + 1))?,
                    ))
                })
                .collect(),
        }
    }
}

/// `n` uniform [0, 1) values from Philox4x32-10, key `seed`, counter `(i/4, stream)`.
fn uniform(n: usize, seed: u64, stream: u32) -> Vec<f32> {
    let key = [seed as u32, (seed >> 32) as u32];
    (0..n.div_ceil(4))
        .flat_map(|i| philox4x32_10([i as u32, (i >> 32) as u32, stream, 0], key))
        .take(n)
        .map(uniform01)
        .collect()
}

/// Every workload of WORKLOADS.md, in its order.
pub fn workloads() -> Vec<Workload> {
    let mlp = "Dense(784→256) ReLU → Dense(256→128) ReLU → Dense(128→10); softmax CE on logits, Adam(1e-3)";
    let cnn = "Conv(1→16,3×3) ReLU → MaxPool → Conv(16→32,3×3) ReLU → MaxPool → Dense(1568→128) ReLU → Dense(128→10); CE, Adam(1e-3)";
    let tr = "char LM V=65 T=64 d=128 4 heads 2 blocks MLP 512 GELU; CE, AdamW(3e-4, wd 0.01)";
    let gpt = "V=256 T=256 d=768 12 heads 12 blocks MLP 3072; CE, AdamW(3e-4, wd 0.01)";
    let w = |name, batch, unit, description, skipped, arch| Workload {
        name,
        batch,
        unit,
        description,
        skipped,
        cpu_skipped: None,
        arch,
    };
    vec![
        w(
            "xor_mlp",
            4,
            Unit::Steps,
            "Dense(2→4, tanh) → Dense(4→1, sigmoid); MSE, Adam(0.05)",
            None,
            Arch::Xor,
        ),
        w("mnist_mlp_b64", 64, Unit::Images, mlp, None, Arch::MnistMlp),
        w(
            "mnist_mlp_b512",
            512,
            Unit::Images,
            mlp,
            None,
            Arch::MnistMlp,
        ),
        // Whole `fit` epochs on the real MNIST training set (bench/fit_epoch.rs).
        w(
            "mnist_mlp_fit",
            64,
            Unit::Images,
            "the mnist_mlp model: one shuffled fit epoch of the 60,000 MNIST training images",
            None,
            Arch::MnistMlp,
        ),
        w("mnist_cnn_b64", 64, Unit::Images, cnn, None, Arch::MnistCnn),
        w(
            "mnist_cnn_b512",
            512,
            Unit::Images,
            cnn,
            None,
            Arch::MnistCnn,
        ),
        w(
            "mini_transformer",
            32,
            Unit::Tokens,
            tr,
            None,
            Arch::Transformer {
                vocab: 65,
                context: 64,
                d: 128,
                layers: 2,
            },
        ),
        Workload {
            cpu_skipped: Some("gpt_small is a CUDA-only workload (a CPU step takes minutes)"),
            ..w(
                "gpt_small",
                16,
                Unit::Tokens,
                gpt,
                None,
                Arch::Transformer {
                    vocab: 256,
                    context: 256,
                    d: 768,
                    layers: 12,
                },
            )
        },
        // The clipping norm of issue 8: 124M values through ops::reduce, not a model.
        w(
            super::global_norm::NAME,
            super::global_norm::VALUES,
            Unit::Values,
            "global gradient norm: chunked sum of squares of 124,439,808 f32 values, then sqrt",
            None,
            Arch::GlobalNorm,
        ),
    ]
}

/// The workload called `name`, or an error listing the known names.
pub fn workload(name: &str) -> Result<Workload> {
    let all = workloads();
    let names: Vec<&str> = all.iter().map(|w| w.name).collect();
    all.iter().find(|w| w.name == name).cloned().ok_or_else(|| {
        Error::invalid(format!(
            "unknown workload '{name}': expected one of {}",
            names.join(", ")
        ))
    })
}
