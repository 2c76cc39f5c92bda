//! Sequence classification on real labelled text (issue 11, deliver 6): which of the eight plays
//! of `data/text/shakespeare8.txt` a 64-character window comes from. The model has the shape of
//! the report's mini transformer: token embedding + learned positions → one pre-norm block
//! (bidirectional attention) → mean over positions → dense softmax over the 8 plays.
//!
//! Data: the plays are located by their title lines; the first 90% of each play gives training
//! windows at seeded random offsets (Philox), the last 10% of each play is held out and cut into
//! consecutive non-overlapping windows for the test set, so no test character is ever trained
//! on. Chance is 1/8 = 12.5%.

use crate::char_transformer::{block_with, BlockOptions, TransformerConfig};
use neuroxide::data::text::{load_shakespeare, CharTokenizer};
use neuroxide::graph::{Graph, LayerApply};
use neuroxide::layers::{Dense, Embedding, LayerNorm, PositionEmbedding, SequencePooling};
use neuroxide::philox::philox4x32_10;
use neuroxide::{optim, Device, Error, Loss, Model, Result, Tensor};
use std::path::Path;

/// The eight titles, in the order the plays appear in the file.
pub const PLAYS: [&str; 8] = [
    "HAMLET, PRINCE OF DENMARK",
    "MACBETH",
    "THE TRAGEDY OF KING LEAR",
    "OTHELLO, THE MOOR OF VENICE",
    "ROMEO AND JULIET",
    "JULIUS CAESAR",
    "THE TEMPEST",
    "A MIDSUMMER NIGHT'S DREAM",
];

/// Window length in characters.
pub const WINDOW: usize = 64;

/// Philox stream of the training window draws.
const WINDOW_STREAM: u32 = 0x9A1A_0001;

/// The byte range of each play in `text`: from its title (followed by the "by William
/// Shakespeare" line) to the next play's title. A missing title is an error naming it.
pub fn play_ranges(text: &str) -> Result<Vec<std::ops::Range<usize>>> {
    let mut starts = Vec::with_capacity(PLAYS.len());
    let mut from = 0;
    for title in PLAYS {
        let marker = format!("{title}\n\nby William Shakespeare");
        let at = text[from..].find(&marker).ok_or_else(|| {
            Error::invalid(format!(
                "play '{title}' not found after byte {from} of the Shakespeare text"
            ))
        })?;
        starts.push(from + at);
        from += at + marker.len();
    }
    Ok((0..PLAYS.len())
        .map(|p| starts[p]..starts.get(p + 1).copied().unwrap_or(text.len()))
        .collect())
}

/// Token ids of every play, split into (training part, held-out part: its last 10%).
pub struct PlaySplits {
    pub tokenizer: CharTokenizer,
    pub train: Vec<Vec<u32>>,
    pub test: Vec<Vec<u32>>,
}

/// Loads the text, tokenizes it (one vocabulary for all plays) and splits each play.
pub fn load_splits(data_dir: &Path) -> Result<PlaySplits> {
    let text = load_shakespeare(data_dir)?;
    let tokenizer = CharTokenizer::fit(&text);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for r in play_ranges(&text)? {
        let ids = tokenizer.encode(&text[r])?;
        let cut = ids.len() - ids.len() / 10;
        train.push(ids[..cut].to_vec());
        test.push(ids[cut..].to_vec());
    }
    Ok(PlaySplits {
        tokenizer,
        train,
        test,
    })
}

/// A training batch: window `b` comes from play `b % 8` at a Philox-drawn offset (keyed by
/// `seed`, counter `(b, step)`), labelled with the play's index.
pub fn train_batch(
    train: &[Vec<u32>],
    batch: usize,
    seed: u64,
    step: u64,
) -> Result<(Tensor, Tensor)> {
    let mut x = Vec::with_capacity(batch * WINDOW);
    let mut y = Vec::with_capacity(batch);
    for b in 0..batch {
        let play = b % train.len();
        let ids = &train[play];
        let w = philox4x32_10(
            [b as u32, step as u32, (step >> 32) as u32, WINDOW_STREAM],
            [seed as u32, (seed >> 32) as u32],
        );
        let span = (ids.len() - WINDOW + 1) as u64;
        let o = ((u64::from(w[0]) << 32 | u64::from(w[1])) % span) as usize;
        x.extend(ids[o..o + WINDOW].iter().map(|&t| t as i32));
        y.push(play as i32);
    }
    Ok((
        Tensor::from_i32(vec![batch, WINDOW], x)?,
        Tensor::from_i32(vec![batch], y)?,
    ))
}

/// The held-out windows: consecutive, non-overlapping, at most `per_play` from each play.
pub fn test_set(test: &[Vec<u32>], per_play: usize) -> Result<(Tensor, Vec<usize>)> {
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for (play, ids) in test.iter().enumerate() {
        for w in ids.chunks_exact(WINDOW).take(per_play) {
            x.extend(w.iter().map(|&t| t as i32));
            labels.push(play);
        }
    }
    Ok((Tensor::from_i32(vec![labels.len(), WINDOW], x)?, labels))
}

/// Embedding + positions → one bidirectional pre-norm block → LayerNorm → mean pool → Dense(8).
pub fn model(vocab: usize, dim: usize, heads: usize, ff: usize, seed: u64) -> Result<Model> {
    let c = TransformerConfig {
        vocab,
        seq: WINDOW,
        dim,
        heads,
        blocks: 1,
        ff,
        dropout: 0.0,
        attention_dropout: 0.0,
        tie_weights: false,
    };
    let g = Graph::new();
    let ids = g.input_ids([WINDOW]);
    let mut x = Embedding::new(vocab, dim).apply(&ids);
    x = PositionEmbedding::new().apply(&x);
    let options = BlockOptions {
        bidirectional: true,
        ..BlockOptions::default()
    };
    x = block_with(&x, &c, 0, &options);
    let x = LayerNorm::new().apply(&x);
    let pooled = SequencePooling::mean().apply(&x);
    let logits = Dense::new(PLAYS.len()).apply(&pooled);
    let mut m = Model::with_seed(&[&ids], &[&logits], seed)?;
    m.compile(optim::adamw(2e-3, 0.01), Loss::cross_entropy())?;
    Ok(m)
}

/// How to run [`train`].
#[derive(Clone, Debug)]
pub struct PlayOptions {
    pub steps: usize,
    pub batch: usize,
    pub dim: usize,
    pub heads: usize,
    pub ff: usize,
    /// Held-out windows per play in the test set.
    pub test_per_play: usize,
    pub seed: u64,
    pub device: Device,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            steps: 1500,
            batch: 32,
            dim: 128,
            heads: 4,
            ff: 512,
            test_per_play: usize::MAX,
            seed: 1,
            device: Device::cpu(),
        }
    }
}

/// What [`train`] measured.
pub struct PlayReport {
    pub test_accuracy: f64,
    pub test_windows: usize,
    /// Correct / total per play.
    pub per_play: Vec<(usize, usize)>,
    pub final_train_loss: f32,
}

/// Fraction of `labels` that the argmax of `model`'s outputs on `x` matches, and per-play
/// counts.
pub fn accuracy(
    model: &mut Model,
    x: &Tensor,
    labels: &[usize],
) -> Result<(f64, Vec<(usize, usize)>)> {
    let logits = model.predict(x)?;
    let mut per_play = vec![(0, 0); PLAYS.len()];
    for (row, &label) in logits.data().chunks(PLAYS.len()).zip(labels) {
        let best = (0..row.len())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        per_play[label].1 += 1;
        per_play[label].0 += usize::from(best == label);
    }
    let correct: usize = per_play.iter().map(|p| p.0).sum();
    Ok((correct as f64 / labels.len().max(1) as f64, per_play))
}

/// Trains on the first 90% of every play and tests on the held-out last 10%; `log` receives
/// progress lines.
pub fn train(data_dir: &Path, o: &PlayOptions, log: &mut dyn FnMut(&str)) -> Result<PlayReport> {
    let splits = load_splits(data_dir)?;
    let mut m = model(splits.tokenizer.vocab(), o.dim, o.heads, o.ff, o.seed)?;
    m.to_device(o.device)?;
    let (test_x, labels) = test_set(&splits.test, o.test_per_play)?;
    log(&format!(
        "play classifier: {} plays, windows of {WINDOW} characters, d {}, {} heads, MLP {}; \
         {} parameters; {} held-out test windows; batch {}, {} steps, device {}",
        PLAYS.len(),
        o.dim,
        o.heads,
        o.ff,
        m.param_count(),
        labels.len(),
        o.batch,
        o.steps,
        o.device
    ));
    let mut last = f32::NAN;
    for step in 0..o.steps {
        let (x, y) = train_batch(&splits.train, o.batch, o.seed, step as u64)?;
        last = m.train_on_batch(&x, &y)?;
        if (step + 1) % 250 == 0 {
            log(&format!("step {:>5}  train loss {last:.4}", step + 1));
        }
    }
    let (acc, per_play) = accuracy(&mut m, &test_x, &labels)?;
    Ok(PlayReport {
        test_accuracy: acc,
        test_windows: labels.len(),
        per_play,
        final_train_loss: last,
    })
}
