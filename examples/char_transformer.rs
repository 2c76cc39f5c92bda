//! A character-level transformer language model on Shakespeare, written with the public API as
//! a user would: the functional graph (embeddings, pre-LayerNorm blocks with causal multi-head
//! attention and a GELU MLP, residuals through `add`), AdamW with warm-up and cosine decay,
//! seeded LM windows, validation loss on the last 10% of the text, and a sample.
//!
//! ```text
//! cargo run --release --example char_transformer -- [steps] [cpu|cuda]
//! ```

use neuroxide::data::text::{lm_batch, load_shakespeare, train_val_split, CharTokenizer};
use neuroxide::graph::{add, Graph, LayerApply};
use neuroxide::layers::{Dense, Embedding, LayerNorm, MultiHeadAttention, PositionEmbedding};
use neuroxide::train::schedule::{CosineWarmup, Schedule};
use neuroxide::train::{generate, validation_loss, GenerateOptions};
use neuroxide::{optim, Activation, Device, Loss, Model};
use std::time::Instant;

const T: usize = 64;
const D: usize = 128;
const BATCH: usize = 32;

fn main() -> neuroxide::Result<()> {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let device = Device::parse(&args.next().unwrap_or_else(|| "cpu".into()))?;

    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let text = load_shakespeare(&data)?;
    let tokenizer = CharTokenizer::fit(&text);
    let ids = tokenizer.encode(&text)?;
    let (train, val) = train_val_split(&ids);

    // Token + position embeddings, 2 pre-norm blocks, final LayerNorm, head without bias.
    let g = Graph::new();
    let tokens = g.input([T]);
    let mut x = Embedding::new(tokenizer.vocab(), D).apply(&tokens);
    x = PositionEmbedding::new().apply(&x);
    for _ in 0..2 {
        let h = MultiHeadAttention::new(4)
            .causal()
            .apply(&LayerNorm::new().apply(&x));
        x = add(&[&x, &h]);
        let h = Dense::new(4 * D)
            .activation(Activation::GeluTanh)
            .apply(&LayerNorm::new().apply(&x));
        x = add(&[&x, &Dense::new(D).apply(&h)]);
    }
    let logits = Dense::new(tokenizer.vocab())
        .no_bias()
        .apply(&LayerNorm::new().apply(&x));
    let mut model = Model::with_seed(&[&tokens], &[&logits], 1)?;
    model.compile(optim::adamw(1e-3, 0.01), Loss::cross_entropy())?;
    model.to_device(device)?;
    println!("{}", model.summary());

    let schedule = CosineWarmup::new(1e-3, 100.0, steps as f64);
    let start = Instant::now();
    for step in 0..steps {
        model.set_learning_rate(schedule.lr(step as f64))?;
        let (x, y) = lm_batch(train, T, BATCH, 1, step as u64)?;
        model.train_step(&[&x], &[&y])?;
        if (step + 1) % 100 == 0 || step + 1 == steps {
            let loss = model.last_loss()?;
            let secs = start.elapsed().as_secs_f64();
            let tps = ((step + 1) * BATCH * T) as f64 / secs;
            println!(
                "step {:>5}  train loss {loss:.4}  {tps:.0} tokens/s",
                step + 1
            );
        }
    }
    println!(
        "validation loss {:.4}",
        validation_loss(&mut model, val, T, 256)?
    );
    let options = GenerateOptions {
        temperature: 0.8,
        top_k: Some(20),
        seed: 1,
    };
    println!("ROMEO.");
    generate(
        &mut model,
        &tokenizer,
        "ROMEO.\n",
        300,
        &options,
        &mut |c| print!("{c}"),
    )?;
    println!();
    Ok(())
}
