//! Tokenizers for language models: the character tokenizer of [`super::text`] and a byte
//! tokenizer (vocabulary 256: the UTF-8 bytes of the text, so any text encodes and nothing needs
//! fitting), behind one [`Tokenizer`] saved with a model as `tokenizer.json`.
//!
//! Generation produces one token at a time; a byte token may end inside a multi-byte character,
//! so decoding streams ([`TextTokenizer::decode_stream`]): bytes wait until they complete a
//! character, and a byte sequence that can never be valid UTF-8 becomes U+FFFD.

use super::text::{CharTokenizer, TOKENIZER_FILE};
use crate::error::{Error, Result};
use std::path::Path;
use std::str::FromStr;

/// What generation and training need of a tokenizer.
pub trait TextTokenizer {
    /// Vocabulary size (the model's input and output width).
    fn vocab(&self) -> usize;
    /// The ids of `text`; an unknown character is an error naming it.
    fn encode(&self, text: &str) -> Result<Vec<u32>>;
    /// Adds token `id` to the undecoded bytes `pending` and returns the characters it
    /// completes (none while a multi-byte character is still incomplete). An id outside the
    /// vocabulary is an error.
    fn decode_stream(&self, id: u32, pending: &mut Vec<u8>) -> Result<String>;
}

impl TextTokenizer for CharTokenizer {
    fn vocab(&self) -> usize {
        CharTokenizer::vocab(self)
    }
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        CharTokenizer::encode(self, text)
    }
    fn decode_stream(&self, id: u32, _pending: &mut Vec<u8>) -> Result<String> {
        self.decode(&[id])
    }
}

/// One token per UTF-8 byte: ids 0..=255, vocabulary 256.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteTokenizer;

impl ByteTokenizer {
    /// The text of `ids`: an id above 255 or bytes that are not UTF-8 are errors naming the
    /// position.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let bytes = ids
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                u8::try_from(i).map_err(|_| {
                    Error::invalid(format!(
                        "token id {i} at position {pos} is outside the byte vocabulary of 256"
                    ))
                })
            })
            .collect::<Result<Vec<u8>>>()?;
        String::from_utf8(bytes).map_err(|e| {
            Error::invalid(format!(
                "the bytes are not UTF-8 text: invalid sequence at byte {}",
                e.utf8_error().valid_up_to()
            ))
        })
    }
}

impl TextTokenizer for ByteTokenizer {
    fn vocab(&self) -> usize {
        256
    }
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(text.bytes().map(u32::from).collect())
    }
    fn decode_stream(&self, id: u32, pending: &mut Vec<u8>) -> Result<String> {
        let byte = u8::try_from(id).map_err(|_| {
            Error::invalid(format!(
                "token id {id} is outside the byte vocabulary of 256"
            ))
        })?;
        pending.push(byte);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(pending) {
                Ok(s) => {
                    out.push_str(s);
                    pending.clear();
                    return Ok(out);
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The prefix up to `valid` is UTF-8 (the error's contract).
                    out.push_str(std::str::from_utf8(&pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // Incomplete character at the end: wait for more bytes.
                        None => {
                            pending.drain(..valid);
                            return Ok(out);
                        }
                        // Bytes that no continuation can repair.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }
}

/// Which tokenizer to fit (`--tokenizer char|byte`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenizerKind {
    /// One token per distinct character of the training text.
    #[default]
    Char,
    /// One token per UTF-8 byte (vocabulary 256).
    Byte,
}

impl FromStr for TokenizerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "char" => Ok(TokenizerKind::Char),
            "byte" => Ok(TokenizerKind::Byte),
            other => Err(Error::invalid(format!(
                "unknown tokenizer '{other}' (expected char or byte)"
            ))),
        }
    }
}

/// A fitted tokenizer of either kind, saved with a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tokenizer {
    Char(CharTokenizer),
    Byte(ByteTokenizer),
}

impl Tokenizer {
    /// The tokenizer of `kind` for `text` (the byte tokenizer needs no fitting).
    pub fn fit(kind: TokenizerKind, text: &str) -> Self {
        match kind {
            TokenizerKind::Char => Tokenizer::Char(CharTokenizer::fit(text)),
            TokenizerKind::Byte => Tokenizer::Byte(ByteTokenizer),
        }
    }
    /// Its kind.
    pub fn kind(&self) -> TokenizerKind {
        match self {
            Tokenizer::Char(_) => TokenizerKind::Char,
            Tokenizer::Byte(_) => TokenizerKind::Byte,
        }
    }
    /// The text of `ids` (errors as each kind's `decode`).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Tokenizer::Char(t) => t.decode(ids),
            Tokenizer::Byte(t) => t.decode(ids),
        }
    }
    /// Writes `dir/tokenizer.json`: the character list (the format of
    /// [`CharTokenizer::save`]) or `{"kind": "byte", "vocab": 256}`.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        match self {
            Tokenizer::Char(t) => t.save(dir),
            Tokenizer::Byte(_) => {
                let path = dir.as_ref().join(TOKENIZER_FILE);
                let json = serde_json::json!({"kind": "byte", "vocab": 256});
                std::fs::write(&path, format!("{json:#}\n")).map_err(|e| Error::io(&path, e))
            }
        }
    }
    /// Reads `dir/tokenizer.json` of either kind (a file without `kind` is a character
    /// tokenizer, as saved before byte tokenizers existed).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().join(TOKENIZER_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Format(format!("{}: {e}", path.display())))?;
        match v.get("kind").and_then(serde_json::Value::as_str) {
            None | Some("char") => Ok(Tokenizer::Char(CharTokenizer::load(dir)?)),
            Some("byte") => match v.get("vocab").and_then(serde_json::Value::as_u64) {
                None | Some(256) => Ok(Tokenizer::Byte(ByteTokenizer)),
                Some(n) => Err(Error::Format(format!(
                    "{}: a byte tokenizer has a vocabulary of 256, not {n}",
                    path.display()
                ))),
            },
            Some(other) => Err(Error::Format(format!(
                "{}: unknown tokenizer kind '{other}' (expected char or byte)",
                path.display()
            ))),
        }
    }
}

impl TextTokenizer for Tokenizer {
    fn vocab(&self) -> usize {
        match self {
            Tokenizer::Char(t) => TextTokenizer::vocab(t),
            Tokenizer::Byte(t) => t.vocab(),
        }
    }
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Char(t) => TextTokenizer::encode(t, text),
            Tokenizer::Byte(t) => t.encode(text),
        }
    }
    fn decode_stream(&self, id: u32, pending: &mut Vec<u8>) -> Result<String> {
        match self {
            Tokenizer::Char(t) => t.decode_stream(id, pending),
            Tokenizer::Byte(t) => t.decode_stream(id, pending),
        }
    }
}
