//! The character-level transformer (the `mini_transformer` workload of bench/WORKLOADS.md): vocab
//! from the text, context T = 64, d = 128, 4 heads, 2 pre-LayerNorm blocks with a GELU-tanh MLP
//! of 512, learned token and position embeddings, a final LayerNorm and a head d→vocab without
//! bias; causal attention; cross-entropy at every position; AdamW(3e-4, wd 0.01) with linear
//! warm-up and cosine decay; batch 32. Options (all off by default, so the workload's bits are
//! unchanged): nanoGPT's dropout (on the embedding sum and on each residual branch) and
//! attention-weight dropout, and an output head tied to the token embedding. Shared by `examples/char_transformer.rs`,
//! `neuroxide train transformer`, `neuroxide generate`, the validation report and the bench.

use neuroxide::data::text::{lm_batch, load_shakespeare, train_val_split};
use neuroxide::data::{TextTokenizer, Tokenizer, TokenizerKind};
use neuroxide::graph::{add, multiply, Graph, LayerApply, SharedLayer, SymbolicTensor};
use neuroxide::layers::{
    Dense, Dropout, Embedding, LayerNorm, MultiHeadAttention, PositionEmbedding,
};
use neuroxide::train::schedule::{CosineWarmup, Schedule};
pub use neuroxide::train::{generate, validation_loss, GenerateOptions};
use neuroxide::{optim, Activation, Device, Loss, Model, Result};
use std::path::PathBuf;
use std::time::Instant;

/// The architecture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerConfig {
    pub vocab: usize,
    pub seq: usize,
    pub dim: usize,
    pub heads: usize,
    pub blocks: usize,
    pub ff: usize,
    /// Dropout during training on the embedding sum and on each residual branch (after the
    /// attention output projection and after the MLP), as nanoGPT's `dropout` (0: none, and no
    /// Dropout node in the graph).
    pub dropout: f32,
    /// Dropout during training on the attention weights (0: none).
    pub attention_dropout: f32,
    /// The output head reads the token embedding's table (`x · tableᵀ`, weight tying) instead
    /// of a Dense `d → vocab` of its own.
    pub tie_weights: bool,
}

impl TransformerConfig {
    /// WORKLOADS.md's mini_transformer with the given vocabulary.
    pub fn mini(vocab: usize) -> Self {
        TransformerConfig {
            vocab,
            seq: 64,
            dim: 128,
            heads: 4,
            blocks: 2,
            ff: 512,
            dropout: 0.0,
            attention_dropout: 0.0,
            tie_weights: false,
        }
    }

    /// The options every block of this architecture gets.
    pub fn block_options(&self) -> BlockOptions {
        BlockOptions {
            attention_dropout: self.attention_dropout,
            residual_dropout: self.dropout,
            ..BlockOptions::default()
        }
    }
}

/// Where a block normalises: before each sublayer (GPT-2, the default) or after each residual
/// sum (the original Transformer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NormPlacement {
    #[default]
    Pre,
    Post,
}

/// Options of [`block_with`] beyond the architecture.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct BlockOptions {
    pub norm: NormPlacement,
    /// Dropout on the attention weights during training (0: none).
    pub attention_dropout: f32,
    /// Dropout during training on each residual branch before it joins the residual stream:
    /// after the attention output projection and after the MLP (0: none).
    pub residual_dropout: f32,
    /// Rotary position embedding of queries and keys with this base.
    pub rope: Option<f32>,
    /// Every position attends to every other (classifiers); default causal (language models).
    pub bidirectional: bool,
}

/// One pre-norm block: `x + MHA(LN(x))`, then `x + W2·gelu(W1·LN(x))`, residuals through Add,
/// with the dropout rates of `c`.
pub fn block(x: &SymbolicTensor, c: &TransformerConfig, i: usize) -> SymbolicTensor {
    block_with(x, c, i, &c.block_options())
}

/// One block with options. Pre-norm: `x + MHA(LN(x))`, `x + FF(LN(x))`; post-norm:
/// `LN(x + MHA(x))`, `LN(x + FF(x))`. Residuals go through the graph's Add; with residual
/// dropout each branch passes a Dropout (`block{i}_attn_dropout`, `block{i}_ff_dropout`) first.
pub fn block_with(
    x: &SymbolicTensor,
    c: &TransformerConfig,
    i: usize,
    o: &BlockOptions,
) -> SymbolicTensor {
    let pre = o.norm == NormPlacement::Pre;
    let norm = |name: &str, t: &SymbolicTensor| {
        LayerNorm::new().apply_named(&format!("block{i}_{name}"), t)
    };
    let mut attention = MultiHeadAttention::new(c.heads).dropout(o.attention_dropout);
    if !o.bidirectional {
        attention = attention.causal();
    }
    if let Some(base) = o.rope {
        attention = attention.rope(base);
    }
    let h = if pre { norm("ln1", x) } else { x.clone() };
    let h = attention.apply_named(&format!("block{i}_attn"), &h);
    let h = residual_dropout(&h, o.residual_dropout, &format!("block{i}_attn_dropout"));
    let mut x = add(&[x, &h]);
    if !pre {
        x = norm("ln1", &x);
    }
    let h = if pre { norm("ln2", &x) } else { x.clone() };
    let h = Dense::new(c.ff)
        .activation(Activation::GeluTanh)
        .apply_named(&format!("block{i}_ff1"), &h);
    let h = Dense::new(c.dim).apply_named(&format!("block{i}_ff2"), &h);
    let h = residual_dropout(&h, o.residual_dropout, &format!("block{i}_ff_dropout"));
    let x = add(&[&x, &h]);
    if pre {
        x
    } else {
        norm("ln2", &x)
    }
}

/// `x` through a Dropout of `rate` named `name`, or `x` itself when the rate is 0 (so a model
/// without dropout has the same graph, names and bits as before the option existed).
fn residual_dropout(x: &SymbolicTensor, rate: f32, name: &str) -> SymbolicTensor {
    if rate == 0.0 {
        x.clone()
    } else {
        Dropout::new(rate).apply_named(name, x)
    }
}

/// A SwiGLU feed-forward (LLaMA's): `W3 · (silu(W1·x) ⊙ (W2·x))`, no biases, built from
/// Dense and Multiply (each gradient-checked), so it needs no kernel of its own.
pub fn swiglu(x: &SymbolicTensor, ff: usize, dim: usize) -> SymbolicTensor {
    let gate = Dense::new(ff)
        .no_bias()
        .activation(Activation::Silu)
        .apply(x);
    let up = Dense::new(ff).no_bias().apply(x);
    Dense::new(dim).no_bias().apply(&multiply(&gate, &up))
}

/// The model (uncompiled), parameters initialised from `seed`. With `tie_weights` the head
/// is the token embedding's tied form (`SharedLayer::attend`): one `[vocab, d]` table whose
/// gradient is `g_head + g_embedding` (the executor's order for shared layers).
pub fn build(c: &TransformerConfig, seed: u64) -> Result<Model> {
    let g = Graph::new();
    let ids = g.input_ids([c.seq]); // i32 token ids
    let tokens = SharedLayer::new(Embedding::new(c.vocab, c.dim));
    let mut x = tokens.apply_named("token_embedding", &ids);
    x = PositionEmbedding::new().apply_named("position_embedding", &x);
    x = residual_dropout(&x, c.dropout, "embedding_dropout");
    let options = c.block_options();
    for i in 0..c.blocks {
        x = block_with(&x, c, i, &options);
    }
    let x = LayerNorm::new().apply_named("final_ln", &x);
    let logits = if c.tie_weights {
        tokens.attend_named("head", &x)?
    } else {
        Dense::new(c.vocab).no_bias().apply_named("head", &x)
    };
    Model::with_seed(&[&ids], &[&logits], seed)
}

/// AdamW's weight decay of the mini_transformer workload.
pub const DEFAULT_WEIGHT_DECAY: f32 = 0.01;

/// The model compiled with AdamW(`lr`, wd 0.01) and per-position cross-entropy.
pub fn model(c: &TransformerConfig, lr: f32, seed: u64) -> Result<Model> {
    model_with_weight_decay(c, lr, DEFAULT_WEIGHT_DECAY, seed)
}

/// The model compiled with AdamW(`lr`, `weight_decay`) and per-position cross-entropy.
pub fn model_with_weight_decay(
    c: &TransformerConfig,
    lr: f32,
    weight_decay: f32,
    seed: u64,
) -> Result<Model> {
    model_with_optimizer(c, optim::adamw(lr, weight_decay), seed)
}

/// The model compiled with `optimizer` and per-position cross-entropy.
pub fn model_with_optimizer(
    c: &TransformerConfig,
    optimizer: optim::OptimizerKind,
    seed: u64,
) -> Result<Model> {
    let mut m = build(c, seed)?;
    m.compile_with(neuroxide::graph::TrainConfig {
        optimizer,
        loss: Loss::cross_entropy(),
        clip_norm: None,
        track_accuracy: false,
    })?;
    Ok(m)
}

/// How to run [`train`].
#[derive(Clone, Debug)]
pub struct CharTrainOptions {
    /// The repository's `data/` folder (holds `text/shakespeare8.txt`).
    pub data_dir: PathBuf,
    pub steps: usize,
    pub batch: usize,
    pub lr: f32,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// AdamW's second-moment decay (PyTorch's default 0.999; nanoGPT uses 0.99 on small data).
    pub beta2: f32,
    /// The learning rate the cosine decay ends at, on the last step.
    pub min_lr: f32,
    /// Keep a running average of the weights with this decay ([`Model::set_weight_ema`]):
    /// validation, the sample and the saved model use the average.
    pub ema: Option<f32>,
    pub warmup: usize,
    pub seed: u64,
    pub device: Device,
    /// Evaluate and print every this many steps (and at the end).
    pub eval_every: usize,
    /// Validation windows of T characters per evaluation (consecutive, from the start of the
    /// validation text).
    pub eval_windows: usize,
    /// Characters generated for the sample at the end (0: none).
    pub sample_chars: usize,
    pub save: Option<PathBuf>,
    /// The architecture with the vocabulary replaced by the text's (None: the mini model).
    pub config: Option<TransformerConfig>,
    /// Shards per batch (data-parallel sharding; 1: plain training). See `Model::set_shards`.
    pub shards: usize,
    /// Characters (vocabulary from the text) or UTF-8 bytes (vocabulary 256).
    pub tokenizer: TokenizerKind,
}

impl Default for CharTrainOptions {
    fn default() -> Self {
        CharTrainOptions {
            data_dir: crate::mnist::default_data_dir()
                .parent()
                .map_or_else(|| PathBuf::from("data"), PathBuf::from),
            steps: 2000,
            batch: 32,
            lr: 3e-4,
            weight_decay: DEFAULT_WEIGHT_DECAY,
            beta2: 0.999,
            min_lr: 0.0,
            ema: None,
            warmup: 100,
            seed: 1,
            device: Device::cpu(),
            eval_every: 200,
            eval_windows: 512,
            sample_chars: 300,
            save: None,
            config: None,
            shards: 1,
            tokenizer: TokenizerKind::Char,
        }
    }
}

/// What [`train`] measured.
pub struct CharReport {
    /// `(step, training loss of that step)` at every evaluation.
    pub train_losses: Vec<(usize, f32)>,
    /// `(step, validation loss)` at every evaluation.
    pub val_losses: Vec<(usize, f64)>,
    /// Every step's training loss when `record_every_loss` (parity), else empty.
    pub losses: Vec<f32>,
    pub final_val: f64,
    pub train_seconds: f64,
    pub tokens_per_sec: f64,
    pub sample: String,
    pub model: Model,
    pub tokenizer: Tokenizer,
}

/// Trains on Shakespeare (first 90%), evaluating on the last 10%; `log` receives each progress
/// line. `record_every_loss` reads every step's loss back (for parity runs).
pub fn train(
    o: &CharTrainOptions,
    record_every_loss: bool,
    log: &mut dyn FnMut(&str),
) -> Result<CharReport> {
    let text = load_shakespeare(&o.data_dir)?;
    let tokenizer = Tokenizer::fit(o.tokenizer, &text);
    let tokens = tokenizer.encode(&text)?;
    let (train_tokens, val_tokens) = train_val_split(&tokens);
    let mut c = o.config.unwrap_or(TransformerConfig::mini(0));
    c.vocab = tokenizer.vocab();
    let mut optimizer = optim::adamw(o.lr, o.weight_decay);
    if let optim::OptimizerKind::Adam { beta2, .. } = &mut optimizer {
        *beta2 = o.beta2;
    }
    let mut m = model_with_optimizer(&c, optimizer, o.seed)?;
    neuroxide::distributed::to_device_or_join(&mut m, o.device)?;
    log(&format!(
        "char transformer: {:?} tokenizer, vocab {}, T {}, d {}, {} heads, {} blocks, MLP {}; {} parameters; {} train / {} validation characters; batch {}, {} steps, device {}",
        o.tokenizer, c.vocab, c.seq, c.dim, c.heads, c.blocks, c.ff, m.param_count(),
        train_tokens.len(), val_tokens.len(), o.batch, o.steps, o.device
    ));
    log(&format!(
        "regularisation: dropout {}, attention dropout {}, weight decay {}, tied head {}; AdamW beta2 {}, lr {} -> {}; weight EMA {:?}",
        c.dropout, c.attention_dropout, o.weight_decay, c.tie_weights, o.beta2, o.lr, o.min_lr, o.ema
    ));
    m.set_shards(o.shards)?;
    neuroxide::graph::shard_rows(o.batch, o.shards)?;
    m.set_weight_ema(o.ema)?;
    let sched = CosineWarmup {
        min_lr: o.min_lr,
        ..CosineWarmup::new(o.lr, o.warmup as f64, o.steps as f64)
    };
    let (mut train_losses, mut val_losses, mut losses) = (Vec::new(), Vec::new(), Vec::new());
    let mut train_seconds = 0.0;
    let mut final_val = f64::NAN;
    let mut t0 = Instant::now();
    for step in 0..o.steps {
        m.set_learning_rate(sched.lr(step as f64))?;
        let (x, y) = lm_batch(train_tokens, c.seq, o.batch, o.seed, step as u64)?;
        m.train_step(&[&x], &[&y])?;
        if record_every_loss {
            losses.push(m.last_loss()?);
        }
        let last = step + 1 == o.steps;
        if (o.eval_every > 0 && (step + 1) % o.eval_every == 0) || last {
            let loss = m.last_loss()?;
            train_seconds += t0.elapsed().as_secs_f64();
            let val = if o.ema.is_some() {
                // Validate the average, then train on from the raw weights.
                m.swap_weight_ema()?;
                let v = validation_loss(&mut m, val_tokens, c.seq, o.eval_windows);
                m.swap_weight_ema()?;
                v?
            } else {
                validation_loss(&mut m, val_tokens, c.seq, o.eval_windows)?
            };
            final_val = val;
            train_losses.push((step + 1, loss));
            val_losses.push((step + 1, val));
            let tps = ((step + 1) * o.batch * c.seq) as f64 / train_seconds.max(1e-9);
            log(&format!(
                "step {:>6}  train loss {loss:.4}  val loss {val:.4}  {tps:.0} tokens/s  ({train_seconds:.1}s)",
                step + 1
            ));
            t0 = Instant::now();
        }
    }
    let tokens_per_sec = (o.steps * o.batch * c.seq) as f64 / train_seconds.max(1e-9);
    if o.ema.is_some() {
        m.apply_weight_ema()?;
    }
    let sample = if o.sample_chars > 0 {
        let opts = GenerateOptions {
            temperature: 0.8,
            top_k: Some(20),
            seed: o.seed,
        };
        generate(
            &mut m,
            &tokenizer,
            "ROMEO.\n",
            o.sample_chars,
            &opts,
            &mut |_| {},
        )?
    } else {
        String::new()
    };
    if let Some(dir) = &o.save {
        m.save(dir)?;
        tokenizer.save(dir)?;
    }
    Ok(CharReport {
        train_losses,
        val_losses,
        losses,
        final_val,
        train_seconds,
        tokens_per_sec,
        sample,
        model: m,
        tokenizer,
    })
}
