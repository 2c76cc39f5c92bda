//! The character-LM tests' corpus (the shipped Shakespeare text, character-tokenised) and their
//! tiny model (T 32, d 48, 2 heads, 1 block, MLP 96; no dropout, untied head).

#![allow(dead_code)]

use neuroxide::data::text::{load_shakespeare, CharTokenizer};
use neuroxide_examples::char_transformer::TransformerConfig;
use std::path::PathBuf;

/// The repository's `data/` folder.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

/// The tokenizer fitted on the whole text, and the text's ids.
pub fn corpus() -> (CharTokenizer, Vec<u32>) {
    let text = load_shakespeare(data_dir()).expect("data/text/shakespeare8.txt");
    let t = CharTokenizer::fit(&text);
    let ids = t.encode(&text).unwrap();
    (t, ids)
}

/// The tiny model over `vocab` tokens.
pub fn tiny(vocab: usize) -> TransformerConfig {
    TransformerConfig {
        vocab,
        seq: 32,
        dim: 48,
        heads: 2,
        blocks: 1,
        ff: 96,
        dropout: 0.0,
        attention_dropout: 0.0,
        tie_weights: false,
    }
}
