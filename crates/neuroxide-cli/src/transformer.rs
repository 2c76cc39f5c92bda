//! `neuroxide train transformer` (the character-level mini transformer on Shakespeare) and
//! `neuroxide generate` (text from a saved character model).

use clap::Args;
use neuroxide::data::{Tokenizer, TokenizerKind};
use neuroxide::{Device, Error, Model, Result};
use neuroxide_examples::char_transformer::{self as ct, CharTrainOptions, GenerateOptions};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct TransformerArgs {
    /// Training steps (batches of --batch-size windows of 64 characters).
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Peak learning rate of AdamW, reached after --warmup steps, then cosine decay to
    /// --min-lr at the last step.
    #[arg(long, default_value_t = 3e-4)]
    lr: f32,
    /// AdamW's decoupled weight decay.
    #[arg(long, default_value_t = ct::DEFAULT_WEIGHT_DECAY)]
    weight_decay: f32,
    /// AdamW's second-moment decay β2 (β1 stays 0.9).
    #[arg(long, default_value_t = 0.999)]
    beta2: f32,
    /// The learning rate the cosine decay reaches at the last step.
    #[arg(long, default_value_t = 0.0)]
    min_lr: f32,
    /// Decay of a running average of the weights (0: off); validation, the sample and the
    /// saved model then use the average.
    #[arg(long, default_value_t = 0.0)]
    ema: f32,
    /// Dropout probability in training on the embedding sum and on each residual branch
    /// (after the attention output projection and after the MLP), as nanoGPT's `dropout`.
    /// Off for validation and generation.
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// Dropout probability in training on the attention weights.
    #[arg(long, default_value_t = 0.0)]
    attention_dropout: f32,
    /// Tie the output head to the token embedding: logits = x · tableᵀ with the embedding's
    /// own table (one parameter instead of two).
    #[arg(long)]
    tie_weights: bool,
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Print train/validation loss every N steps (lines `step N  train loss L  val loss V`;
    /// the last line of training is `final validation loss V nats/char ...`).
    #[arg(long, default_value_t = 200)]
    eval_every: usize,
    /// Validation windows (of 64 characters) per evaluation.
    #[arg(long, default_value_t = 512)]
    eval_windows: usize,
    /// Characters of the sample printed at the end.
    #[arg(long, default_value_t = 300)]
    sample: usize,
    /// The repository's data folder (holds text/shakespeare8.txt).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// cpu, cuda, cuda:N or auto
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Save the trained model and its tokenizer (directory).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Split every batch into R equal shards whose gradients are summed in rank order (the
    /// bits of R data-parallel GPUs; see `neuroxide launch`); 1: plain training.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// char: one token per distinct character of the text; byte: one per UTF-8 byte (256).
    #[arg(long, default_value = "char")]
    tokenizer: String,
    /// Context length T (characters per window). The defaults of --context, --dim, --heads,
    /// --blocks and --ff are WORKLOADS.md's mini_transformer.
    #[arg(long, default_value_t = 64)]
    context: usize,
    /// Model width d (a multiple of --heads).
    #[arg(long, default_value_t = 128)]
    dim: usize,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = 2)]
    blocks: usize,
    /// Hidden width of each block's MLP.
    #[arg(long, default_value_t = 512)]
    ff: usize,
}

pub fn train(mut a: TransformerArgs) -> Result<()> {
    // Only rank 0 of a data-parallel launch saves (every rank computes the same weights).
    if neuroxide::distributed::rank_from_env()? != 0 {
        a.save = None;
    }
    if a.steps == 0 || a.batch_size == 0 {
        return Err(Error::invalid(
            "--steps and --batch-size must be at least 1",
        ));
    }
    for (flag, p) in [
        ("--dropout", a.dropout),
        ("--attention-dropout", a.attention_dropout),
    ] {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid(format!(
                "{flag} must be a probability in [0, 1), got {p}"
            )));
        }
    }
    if !(a.beta2 > 0.0 && a.beta2 < 1.0) {
        return Err(Error::invalid(format!(
            "--beta2 must be in (0, 1), got {}",
            a.beta2
        )));
    }
    let ema = crate::train::ema_decay(a.ema)?;
    if !(a.min_lr >= 0.0 && a.min_lr <= a.lr) {
        return Err(Error::invalid(format!(
            "--min-lr must be in [0, --lr {}], got {}",
            a.lr, a.min_lr
        )));
    }
    if !(a.weight_decay >= 0.0 && a.weight_decay.is_finite()) {
        return Err(Error::invalid(format!(
            "--weight-decay must be a finite number ≥ 0, got {}",
            a.weight_decay
        )));
    }
    for (flag, v) in [
        ("--context", a.context),
        ("--dim", a.dim),
        ("--heads", a.heads),
        ("--blocks", a.blocks),
        ("--ff", a.ff),
    ] {
        if v == 0 {
            return Err(Error::invalid(format!("{flag} must be at least 1")));
        }
    }
    if !a.dim.is_multiple_of(a.heads) {
        return Err(Error::invalid(format!(
            "--dim {} is not a multiple of --heads {}",
            a.dim, a.heads
        )));
    }
    let config = ct::TransformerConfig {
        seq: a.context,
        dim: a.dim,
        heads: a.heads,
        blocks: a.blocks,
        ff: a.ff,
        dropout: a.dropout,
        attention_dropout: a.attention_dropout,
        tie_weights: a.tie_weights,
        ..ct::TransformerConfig::mini(0)
    };
    let mut o = CharTrainOptions {
        steps: a.steps,
        batch: a.batch_size,
        lr: a.lr,
        weight_decay: a.weight_decay,
        beta2: a.beta2,
        min_lr: a.min_lr,
        ema,
        config: Some(config),
        warmup: a.warmup,
        seed: a.seed,
        device: Device::parse(&a.device)?,
        eval_every: a.eval_every,
        eval_windows: a.eval_windows,
        sample_chars: a.sample,
        save: a.save.clone(),
        shards: a.shards,
        tokenizer: a.tokenizer.parse::<TokenizerKind>()?,
        ..CharTrainOptions::default()
    };
    if let Some(d) = a.data_dir {
        o.data_dir = d;
    }
    let r = ct::train(&o, false, &mut |line| println!("{line}"))?;
    println!(
        "final validation loss {:.4} nats/char after {} steps; {:.0} tokens/s ({:.1}s of training)",
        r.final_val, a.steps, r.tokens_per_sec, r.train_seconds
    );
    if !r.sample.is_empty() {
        println!(
            "--- sample (temperature 0.8, top-k 20) ---\nROMEO.\n{}",
            r.sample
        );
    }
    if let Some(dir) = &a.save {
        println!("saved the model and tokenizer to {}", dir.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct GenerateArgs {
    /// A model directory written by `neuroxide train transformer --save`.
    #[arg(long)]
    model: PathBuf,
    #[arg(long, default_value = "\n")]
    prompt: String,
    /// Characters to generate.
    #[arg(long, default_value_t = 200)]
    tokens: usize,
    /// 0 for greedy decoding.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// cpu, cuda, cuda:N or auto
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn generate(a: GenerateArgs) -> Result<()> {
    let mut model = Model::load(&a.model)?;
    model.to_device(Device::parse(&a.device)?)?;
    let tokenizer = Tokenizer::load(&a.model)?;
    let o = GenerateOptions {
        temperature: a.temperature,
        top_k: a.top_k,
        seed: a.seed,
    };
    print!("{}", a.prompt);
    let mut out = std::io::stdout();
    ct::generate(&mut model, &tokenizer, &a.prompt, a.tokens, &o, &mut |c| {
        print!("{c}");
        let _ = out.flush();
    })?;
    println!();
    Ok(())
}
