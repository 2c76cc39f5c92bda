//! Language-model helpers for a trained token model: generation (greedy, temperature and top-k
//! sampling, seeded) and the mean validation loss over LM windows.
//!
//! Sampling draws come from Philox keyed by the seed and the position, so the same seed gives the
//! same text on any machine and backend.

use crate::data::text::lm_eval_batches;
use crate::data::TextTokenizer;
use crate::error::{Error, Result};
use crate::graph::Model;
use crate::math::host;
use crate::philox::{philox4x32_10, uniform01};
use crate::tensor::Tensor;
use crate::train::evaluate::weighted_mean_loss;

/// Mean cross-entropy over the first `windows` validation windows (inference mode), every
/// window weighted alike (a shorter last batch counts by its windows, not as a whole batch).
pub fn validation_loss(model: &mut Model, val: &[u32], seq: usize, windows: usize) -> Result<f64> {
    const BATCH: usize = 32;
    model.reset_running()?;
    let batches = lm_eval_batches(val, seq, BATCH, windows)?;
    for (x, y) in &batches {
        model.eval_step(&[x], &[y])?;
    }
    let (sum, _) = model.running_totals()?;
    let last_rows = batches.last().map_or(BATCH, |(x, _)| x.rows());
    weighted_mean_loss(model, sum, batches.len(), BATCH, last_rows)
}

/// Sampling options of [`generate`].
#[derive(Clone, Copy, Debug)]
pub struct GenerateOptions {
    /// 0 (or below): greedy (the first most likely character).
    pub temperature: f32,
    /// Sample among the `k` most likely characters only.
    pub top_k: Option<usize>,
    /// Philox key of the sampling draws (same seed, same text on any machine).
    pub seed: u64,
}

/// Continues `prompt` by `n` tokens, calling `on_char` with each character as it comes (with
/// a byte tokenizer, once its UTF-8 bytes are complete; bytes that cannot form a character
/// become U+FFFD, as do bytes still incomplete at the end). The context is the last T tokens;
/// shorter contexts are padded after their end (causal attention never lets a position see
/// the padding).
pub fn generate(
    model: &mut Model,
    tokenizer: &dyn TextTokenizer,
    prompt: &str,
    n: usize,
    o: &GenerateOptions,
    on_char: &mut dyn FnMut(char),
) -> Result<String> {
    let shape = model.input_shapes();
    let seq = shape
        .first()
        .and_then(|s| s.dims().first().copied())
        .ok_or_else(|| Error::invalid("generate: the model has no [T] token input"))?;
    let mut ids: Vec<u32> = tokenizer.encode(prompt)?;
    if ids.is_empty() {
        ids.push(0);
    }
    let vocab = tokenizer.vocab();
    let mut out = String::new();
    let mut pending = Vec::new();
    for k in 0..n {
        let ctx = &ids[ids.len().saturating_sub(seq)..];
        // Token ids stay i32 (the model input is declared with `Graph::input_ids`).
        let mut x = vec![0i32; seq];
        for (d, &t) in x.iter_mut().zip(ctx) {
            *d = i32::try_from(t)
                .map_err(|_| Error::invalid(format!("token id {t} exceeds the i32 range")))?;
        }
        let logits = model.predict(&Tensor::from_i32(vec![1, seq], x)?)?;
        let row = &logits.data()[(ctx.len() - 1) * vocab..ctx.len() * vocab];
        let next = pick(row, o, k as u64);
        ids.push(next as u32);
        let ch = tokenizer.decode_stream(next as u32, &mut pending)?;
        for c in ch.chars() {
            on_char(c);
        }
        out.push_str(&ch);
    }
    if !pending.is_empty() {
        on_char(char::REPLACEMENT_CHARACTER);
        out.push(char::REPLACEMENT_CHARACTER);
    }
    Ok(out)
}

/// Greedy, or temperature/top-k sampling with one Philox draw per character.
fn pick(logits: &[f32], o: &GenerateOptions, k: u64) -> usize {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if o.temperature <= 0.0 {
        return order[0];
    }
    let keep = o.top_k.unwrap_or(logits.len()).clamp(1, logits.len());
    let top = &order[..keep];
    let mx = f64::from(logits[top[0]]);
    let w: Vec<f64> = top
        .iter()
        .map(|&i| host::exp((f64::from(logits[i]) - mx) / f64::from(o.temperature)))
        .collect();
    let total: f64 = w.iter().sum();
    let word = philox4x32_10(
        [k as u32, (k >> 32) as u32, 0x6E4E_0001, 0],
        [o.seed as u32, (o.seed >> 32) as u32],
    );
    let u = f64::from(uniform01(word[0])) * total;
    let mut acc = 0.0;
    for (i, &wi) in w.iter().enumerate() {
        acc += wi;
        if u < acc {
            return top[i];
        }
    }
    top[keep - 1]
}
