//! Character and byte tokenizers: round trips on non-ASCII text, streaming byte decoding
//! (characters appear when their UTF-8 bytes are complete; impossible bytes become U+FFFD),
//! save/load of both kinds through `Tokenizer` (and of a character tokenizer file written
//! before byte tokenizers existed), clear errors, and generation with a byte tokenizer.

use neuroxide::data::{ByteTokenizer, CharTokenizer, TextTokenizer, Tokenizer, TokenizerKind};
use neuroxide::graph::{Graph, LayerApply};
use neuroxide::layers::{Dense, Embedding};
use neuroxide::train::{generate, GenerateOptions};
use neuroxide::Model;

const TEXT: &str = "Ça va? — «Où est la bibliothèque?» 日本語 🎭 Straße, ünïcödé.\n";

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("neuroxide_tok_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn byte_tokenizer_round_trips_non_ascii_text() {
    let t = ByteTokenizer;
    let ids = t.encode(TEXT).unwrap();
    assert_eq!(t.vocab(), 256);
    assert_eq!(ids.len(), TEXT.len(), "one id per UTF-8 byte");
    assert!(ids.len() > TEXT.chars().count(), "multi-byte characters");
    assert!(ids.iter().all(|&i| i < 256));
    assert_eq!(&ids[..2], &[0xC3, 0x87], "Ç is C3 87");
    assert_eq!(t.decode(&ids).unwrap(), TEXT);
}

#[test]
fn char_tokenizer_round_trips_non_ascii_text() {
    let t = CharTokenizer::fit(TEXT);
    let ids = t.encode(TEXT).unwrap();
    assert_eq!(ids.len(), TEXT.chars().count(), "one id per character");
    assert_eq!(t.decode(&ids).unwrap(), TEXT);
    let mut pending = Vec::new();
    let streamed: String = ids
        .iter()
        .map(|&i| t.decode_stream(i, &mut pending).unwrap())
        .collect();
    assert_eq!(streamed, TEXT);
}

#[test]
fn byte_stream_decoding_waits_for_whole_characters() {
    let t = ByteTokenizer;
    let mut pending = Vec::new();
    // 🎭 is F0 9F 8E AD: nothing until the fourth byte.
    let pieces: Vec<String> = [0xF0, 0x9F, 0x8E, 0xAD, b'a' as u32]
        .iter()
        .map(|&b| t.decode_stream(b, &mut pending).unwrap())
        .collect();
    assert_eq!(pieces, ["", "", "", "🎭", "a"]);
    assert!(pending.is_empty());
    // A byte that never starts a character, and a sequence cut short by ASCII.
    assert_eq!(t.decode_stream(0xFF, &mut pending).unwrap(), "\u{FFFD}");
    assert_eq!(t.decode_stream(0xC3, &mut pending).unwrap(), "");
    assert_eq!(
        t.decode_stream(b'x' as u32, &mut pending).unwrap(),
        "\u{FFFD}x"
    );
    assert!(pending.is_empty());
    let err = t.decode_stream(300, &mut pending).unwrap_err().to_string();
    assert!(err.contains("token id 300") && err.contains("256"), "{err}");
    let err = t.decode(&[0x61, 0xC3]).unwrap_err().to_string();
    assert!(err.contains("not UTF-8") && err.contains("byte 1"), "{err}");
}

#[test]
fn both_kinds_save_and_load() {
    let dir = temp_dir("save");
    for kind in [TokenizerKind::Char, TokenizerKind::Byte] {
        let t = Tokenizer::fit(kind, TEXT);
        t.save(&dir).unwrap();
        let back = Tokenizer::load(&dir).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.kind(), kind);
        let ids = back.encode(TEXT).unwrap();
        assert_eq!(back.decode(&ids).unwrap(), TEXT);
    }
    // A character tokenizer saved by CharTokenizer::save (no "kind") loads as one.
    CharTokenizer::fit("abc").save(&dir).unwrap();
    assert_eq!(
        Tokenizer::load(&dir).unwrap(),
        Tokenizer::Char(CharTokenizer::fit("abc"))
    );
    let file = dir.join("tokenizer.json");
    std::fs::write(&file, r#"{"kind": "wordpiece"}"#).unwrap();
    let err = Tokenizer::load(&dir).unwrap_err().to_string();
    assert!(err.contains("unknown tokenizer kind 'wordpiece'"), "{err}");
    std::fs::write(&file, r#"{"kind": "byte", "vocab": 300}"#).unwrap();
    let err = Tokenizer::load(&dir).unwrap_err().to_string();
    assert!(err.contains("vocabulary of 256, not 300"), "{err}");
    let err = "words".parse::<TokenizerKind>().unwrap_err().to_string();
    assert!(err.contains("unknown tokenizer 'words'"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn generation_with_a_byte_tokenizer_streams_characters() {
    // A per-position model over the 256 byte ids (untrained: its samples are random bytes).
    let g = Graph::new();
    let ids = g.input_ids([8]);
    let x = Embedding::new(256, 16).apply(&ids);
    let logits = Dense::new(256).apply(&x);
    let mut m = Model::with_seed(&[&ids], &[&logits], 3).unwrap();
    let t = Tokenizer::fit(TokenizerKind::Byte, "");
    let o = GenerateOptions {
        temperature: 1.0,
        top_k: None,
        seed: 11,
    };
    let mut streamed = String::new();
    let out = generate(&mut m, &t, "日本", 40, &o, &mut |ch| streamed.push(ch)).unwrap();
    assert_eq!(out, streamed, "the callback sees exactly the returned text");
    // 40 bytes make at most 40 characters; random bytes from an untrained model include
    // invalid sequences, shown as U+FFFD.
    assert!(!out.is_empty() && out.chars().count() <= 40, "{out:?}");
    let again = generate(&mut m, &t, "日本", 40, &o, &mut |_| {}).unwrap();
    assert_eq!(out, again, "same seed, same text");
}
