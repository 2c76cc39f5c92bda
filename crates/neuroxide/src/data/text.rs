//! Text for language models: a character tokenizer (saved with a model as `tokenizer.json`),
//! the Shakespeare corpus shipped in `data/text/` (checksum verified), the train/validation
//! split (last 10%), and LM windows at seeded random offsets.
//!
//! Token ids travel to the model as i32 tensors (the model input is declared with
//! `Graph::input_ids`): never as floats.

use crate::error::{Error, Result};
use crate::philox::philox4x32_10;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// SHA-256 of `data/text/shakespeare8.txt` (see data/NOTICE.md).
pub const SHAKESPEARE_SHA256: &str =
    "cf19e72cefbc9344b4351c5d36601a34c9e60ae3d93ecc40e2740e5f61e837a2";

/// File name of a saved tokenizer inside a model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Philox stream of LM window offsets.
const WINDOW_STREAM: u32 = 0x7E47_0001;

/// One token per distinct character, ids in increasing character order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharTokenizer {
    /// The vocabulary: `chars[id]`.
    pub chars: Vec<char>,
}

impl CharTokenizer {
    /// The vocabulary of `text` (every distinct character, sorted).
    pub fn fit(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharTokenizer { chars }
    }
    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.chars.len()
    }
    /// The id of each character; an unknown character is an error naming it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.chars()
            .enumerate()
            .map(|(pos, c)| {
                self.chars
                    .binary_search(&c)
                    .map(|i| i as u32)
                    .map_err(|_| {
                        Error::invalid(format!(
                            "character {c:?} at position {pos} is not in the tokenizer's vocabulary of {} characters",
                            self.vocab()
                        ))
                    })
            })
            .collect()
    }
    /// The text of `ids`; an id outside the vocabulary is an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .map(|&i| {
                self.chars.get(i as usize).copied().ok_or_else(|| {
                    Error::invalid(format!(
                        "token id {i} is outside the vocabulary of {} characters",
                        self.vocab()
                    ))
                })
            })
            .collect()
    }
    /// Writes `dir/tokenizer.json`.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let path = dir.as_ref().join(TOKENIZER_FILE);
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Format(format!("tokenizer: {e}")))?;
        std::fs::write(&path, json).map_err(|e| Error::io(&path, e))
    }
    /// Reads `dir/tokenizer.json`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().join(TOKENIZER_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let t: CharTokenizer = serde_json::from_str(&text)
            .map_err(|e| Error::Format(format!("{}: {e}", path.display())))?;
        if t.chars.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::Format(format!(
                "{}: the vocabulary must be sorted and without repeats",
                path.display()
            )));
        }
        Ok(t)
    }
}

/// Reads a text file and checks its SHA-256 against `sha256` (lower-case hex).
pub fn load_text_verified(path: impl AsRef<Path>, sha256: &str) -> Result<String> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != sha256 {
        return Err(Error::Format(format!(
            "{}: SHA-256 {digest} does not match the expected {sha256}",
            path.display()
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| Error::Format(format!("{}: not UTF-8 text: {e}", path.display())))
}

/// The Shakespeare corpus from `data_dir/text/shakespeare8.txt`, checksum verified.
pub fn load_shakespeare(data_dir: impl AsRef<Path>) -> Result<String> {
    load_text_verified(
        data_dir.as_ref().join("text").join("shakespeare8.txt"),
        SHAKESPEARE_SHA256,
    )
}

/// Splits a token stream: the first 90% for training, the last 10% for validation.
pub fn train_val_split(tokens: &[u32]) -> (&[u32], &[u32]) {
    tokens.split_at(tokens.len() - tokens.len() / 10)
}

/// A batch of LM windows: `x[b] = tokens[o_b .. o_b + seq]`, `y[b] = tokens[o_b + 1 .. o_b +
/// seq + 1]` (the next character at every position), with offsets `o_b` drawn from Philox keyed
/// by `seed`, counter `(b, step)`: the same batches on every machine.
pub fn lm_batch(
    tokens: &[u32],
    seq: usize,
    batch: usize,
    seed: u64,
    step: u64,
) -> Result<(Tensor, Tensor)> {
    if tokens.len() <= seq {
        return Err(Error::invalid(format!(
            "a text of {} tokens is too short for windows of {seq} (+1 target)",
            tokens.len()
        )));
    }
    let span = (tokens.len() - seq) as u64;
    let mut x = Vec::with_capacity(batch * seq);
    let mut y = Vec::with_capacity(batch * seq);
    for b in 0..batch {
        let w = philox4x32_10(
            [b as u32, step as u32, (step >> 32) as u32, WINDOW_STREAM],
            [seed as u32, (seed >> 32) as u32],
        );
        let o = ((u64::from(w[0]) << 32 | u64::from(w[1])) % span) as usize;
        push_ids(&mut x, &tokens[o..o + seq])?;
        push_ids(&mut y, &tokens[o + 1..o + seq + 1])?;
    }
    Ok((
        Tensor::from_i32(vec![batch, seq], x)?,
        Tensor::from_i32(vec![batch, seq], y)?,
    ))
}

/// Consecutive windows covering `tokens` (for a deterministic validation loss): window `k`
/// starts at `k * seq`; at most `max_windows`, returned as batches of `batch`.
pub fn lm_eval_batches(
    tokens: &[u32],
    seq: usize,
    batch: usize,
    max_windows: usize,
) -> Result<Vec<(Tensor, Tensor)>> {
    let n = ((tokens.len().saturating_sub(1)) / seq.max(1)).min(max_windows);
    let mut out = Vec::new();
    let mut k = 0;
    while k < n {
        let m = batch.min(n - k);
        let mut x = Vec::with_capacity(m * seq);
        let mut y = Vec::with_capacity(m * seq);
        for w in k..k + m {
            let o = w * seq;
            push_ids(&mut x, &tokens[o..o + seq])?;
            push_ids(&mut y, &tokens[o + 1..o + seq + 1])?;
        }
        out.push((
            Tensor::from_i32(vec![m, seq], x)?,
            Tensor::from_i32(vec![m, seq], y)?,
        ));
        k += m;
    }
    Ok(out)
}

/// Appends token ids as the i32 values a model input takes; an id above `i32::MAX` is an
/// error naming it.
fn push_ids(out: &mut Vec<i32>, tokens: &[u32]) -> Result<()> {
    for &t in tokens {
        let id = i32::try_from(t)
            .map_err(|_| Error::invalid(format!("token id {t} exceeds the i32 range")))?;
        out.push(id);
    }
    Ok(())
}
