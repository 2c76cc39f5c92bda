//! Fuzz tests (proptest-driven) of every reader of user files: the CSV reader, the IDX reader,
//! the model-directory loader (safetensors, manifest, preprocessing) and the architecture JSON.
//! Inputs are the files of `tests/corpus/<target>/` run as they are, then mutated (byte flips,
//! insertions of interesting tokens, deletions, truncations, duplications; for JSON also
//! replacing any value by an extreme one) plus random bytes. Property: no panic, no hang, memory
//! bounded (sizes are capped with `neuroxide::memory::set_limit`), and every `Ok` result is
//! self-consistent.
//!
//! CI runs a few thousand cases per target; `NEUROXIDE_FUZZ_CASES=1000000 cargo test --release
//! -p neuroxide --test fuzz -- --nocapture` is the long run (it prints the count per target).

use neuroxide::data::idx::{decompress_if_gzip, parse_idx_expecting};
use neuroxide::data::{read_csv_from, CsvOptions, TargetColumns, Task};
use neuroxide::io::tensors::parse_tensors;
use neuroxide::io::{load_from_files, Architecture, ModelFiles};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Cases per target: `NEUROXIDE_FUZZ_CASES`, default 2000 (a few seconds in CI).
fn cases() -> u32 {
    std::env::var("NEUROXIDE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files
}

/// One edit of an input; positions and lengths are taken modulo the input length.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, usize),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(p, x)| Edit::Flip(p, x)),
        (any::<usize>(), any::<usize>()).prop_map(|(p, t)| Edit::Insert(p, t)),
        (any::<usize>(), 1..64usize).prop_map(|(p, n)| Edit::Delete(p, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1..64usize, any::<usize>()).prop_map(|(p, n, q)| Edit::Duplicate(p, n, q)),
    ]
}

fn apply(mut b: Vec<u8>, edits: &[Edit], tokens: &[&[u8]]) -> Vec<u8> {
    for e in edits {
        let len = b.len();
        match *e {
            Edit::Flip(p, x) if len > 0 => b[p % len] ^= x,
            Edit::Insert(p, t) => {
                let at = p % (len + 1);
                let tok = tokens[t % tokens.len()];
                b.splice(at..at, tok.iter().copied());
            }
            Edit::Delete(p, n) if len > 0 => {
                let at = p % len;
                b.drain(at..(at + n).min(len));
            }
            Edit::Truncate(n) => b.truncate(n % (len + 1)),
            Edit::Duplicate(p, n, q) if len > 0 => {
                let at = p % len;
                let piece: Vec<u8> = b[at..(at + n).min(len)].to_vec();
                let to = q % (len + 1);
                b.splice(to..to, piece);
            }
            _ => {}
        }
    }
    b
}

/// An input: a corpus file mutated by a few edits, or random bytes.
fn input(seeds: usize) -> impl Strategy<Value = (usize, Vec<Edit>, Vec<u8>)> {
    prop_oneof![
        8 => (0..seeds, prop::collection::vec(edit(), 0..6), Just(Vec::new())),
        1 => (Just(usize::MAX), Just(Vec::new()), prop::collection::vec(any::<u8>(), 0..256)),
    ]
}

/// Runs `check` on every corpus file, then on `cases()` generated inputs; reports the count
/// and the slowest case (a hang would show there, and fails the test past one second).
fn fuzz(target: &str, tokens: &[&[u8]], check: impl Fn(&[u8]) -> Result<(), TestCaseError>) {
    // Sizes invented by the mutations must not make a case allocate gigabytes.
    neuroxide::memory::set_limit(64 << 20);
    let seeds = corpus(target);
    for (name, bytes) in &seeds {
        check(bytes).unwrap_or_else(|e| panic!("corpus file {target}/{name}: {e}"));
    }
    let n = cases();
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    });
    let slowest = std::cell::Cell::new(Duration::ZERO);
    let started = Instant::now();
    let result = runner.run(&input(seeds.len()), |(seed, edits, random)| {
        let bytes = if seed == usize::MAX {
            random
        } else {
            apply(seeds[seed].1.clone(), &edits, tokens)
        };
        let t = Instant::now();
        check(&bytes)?;
        slowest.set(slowest.get().max(t.elapsed()));
        Ok(())
    });
    println!(
        "fuzz {target}: {} corpus files + {n} generated cases, 0 failures, {:.1} s, slowest case \
         {:.1} ms",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        slowest.get().as_secs_f64() * 1e3
    );
    if let Err(e) = result {
        panic!("fuzz {target}: {e}");
    }
    let slowest = slowest.get();
    assert!(slowest < Duration::from_secs(1), "a case took {slowest:?}");
}

const CSV_TOKENS: &[&[u8]] = &[
    b"\"",
    b",",
    b";",
    b"\t",
    b"|",
    b"\n",
    b"\r\n",
    b"\"\"",
    b"NaN",
    b"inf",
    b"-inf",
    b"1e40",
    b"-0",
    b"?",
    b"",
    b"0,1,2\n",
    b"y",
    b"x,y",
    b"\xef\xbb\xbf",
    b"\xff",
    b"1.5",
    b"  ",
    b"null",
];

#[test]
fn fuzz_csv_reader() {
    let options = [
        CsvOptions::new(),
        CsvOptions::new().has_header(false),
        CsvOptions::new().delimiter(b';'),
        CsvOptions::new().target(TargetColumns::name("y")),
        CsvOptions::new().task(Task::Regression),
        CsvOptions::new()
            .task(Task::Classification)
            .target(TargetColumns::index(0)),
        CsvOptions::new().target(TargetColumns::None),
    ];
    fuzz("csv", CSV_TOKENS, |bytes| {
        for o in &options {
            if let Ok(d) = read_csv_from(bytes, "fuzz.csv", o) {
                prop_assert_eq!(d.features.rows(), d.targets.rows());
                prop_assert_eq!(d.feature_names.len(), d.features.row_len());
                prop_assert!(d.features.data().iter().all(|v| v.is_finite()));
                prop_assert!(d.targets.data().iter().all(|v| v.is_finite()));
                if let Some(k) = d.num_classes() {
                    prop_assert!(d.targets.data().iter().all(|&c| (c as usize) < k));
                }
            }
        }
        Ok(())
    });
}

const IDX_TOKENS: &[&[u8]] = &[
    b"\x00\x00\x08\x01",
    b"\x00\x00\x08\x03",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"\x00\x00\x00\x1c",
    b"\x1f\x8b",
    b"\x00",
];

#[test]
fn fuzz_idx_reader() {
    let path = Path::new("fuzz.idx");
    fuzz("idx", IDX_TOKENS, |bytes| {
        let Ok(raw) = decompress_if_gzip(bytes.to_vec(), path) else {
            return Ok(());
        };
        for want in [None, Some(1), Some(3)] {
            if let Ok(a) = parse_idx_expecting(&raw, path, want) {
                let n = a.dims.iter().try_fold(1usize, |x, &d| x.checked_mul(d));
                prop_assert_eq!(n, Some(a.data.len()));
                prop_assert!(want.is_none_or(|w| w == a.dims.len()));
            }
        }
        Ok(())
    });
}

const MODEL_TOKENS: &[&[u8]] = &[
    b"\"F16\"",
    b"\"F32\"",
    b"\"shape\":[",
    b"\"data_offsets\":[",
    b"18446744073709551615",
    b"4294967296",
    b"-1",
    b"null",
    b"{}",
    b"[]",
    b"\"sha256/",
    b"\"units\":",
    b"1e308",
    b"0",
    b"\xff\xff\xff\xff\xff\xff\xff\x7f",
    b"\"scale\":[0",
    b"NaN",
];

#[test]
fn fuzz_model_directory_loader() {
    let seeds = corpus("model");
    let file = |name: &str| {
        seeds
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
    };
    let base = ModelFiles {
        model: file("model.json"),
        weights: file("weights.safetensors"),
        optimizer: file("optimizer.safetensors"),
        manifest: file("manifest.json"),
    };
    let dir = Path::new("fuzz-model");
    assert!(
        load_from_files(dir, &base, true).is_ok(),
        "the corpus model must load"
    );
    // The corpus bytes of one file are mutated (the harness picks which through the seed
    // index); the other files stay intact so that the checks past the first one are reached.
    fuzz("model", MODEL_TOKENS, |bytes| {
        for slot in 0..4 {
            let mut files = base.clone();
            let target = match slot {
                0 => &mut files.model,
                1 => &mut files.weights,
                2 => &mut files.optimizer,
                _ => &mut files.manifest,
            };
            *target = Some(bytes.to_vec());
            if slot == 1 || slot == 2 {
                let _ = parse_tensors(bytes, Path::new("fuzz.safetensors"));
            }
            if let Ok(saved) = load_from_files(dir, &files, true) {
                prop_assert!(saved.model.param_count() > 0);
            }
        }
        Ok(())
    });
}

/// Extreme JSON values put in place of any value of an architecture file.
fn extreme(i: usize) -> Value {
    let all = [
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(1e308),
        serde_json::json!(4294967296u64),
        serde_json::json!(u64::MAX),
        serde_json::json!(1_000_000_000_000u64),
        serde_json::json!(null),
        serde_json::json!(true),
        serde_json::json!("Dense"),
        serde_json::json!("Input"),
        serde_json::json!([]),
        serde_json::json!([0]),
        serde_json::json!([4294967296u64, 4294967296u64]),
        serde_json::json!({}),
        serde_json::json!(0.5),
        serde_json::json!(f64::MIN_POSITIVE),
    ];
    all[i % all.len()].clone()
}

/// Every value's location (as a JSON pointer).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        _ => {}
    }
}

fn check_architecture(text: &[u8]) -> Result<(), TestCaseError> {
    let Ok(text) = std::str::from_utf8(text) else {
        return Ok(());
    };
    if let Ok(a) = Architecture::from_json(text, "fuzz.json") {
        if let Ok(mut m) = a.build() {
            // A model that builds also runs on one zero sample of its input shape.
            let (inputs, _) = m.io_names();
            if inputs.len() == 1 {
                let shape = a
                    .nodes
                    .iter()
                    .find(|n| n.name == inputs[0])
                    .map(|n| n.shape.clone())
                    .unwrap_or_default();
                let numel = shape.iter().try_fold(1usize, |x, &d| x.checked_mul(d));
                if numel.is_some_and(|n| n <= 4096) {
                    let mut dims = vec![1];
                    dims.extend(shape);
                    if let Ok(x) = neuroxide::Tensor::new(dims, vec![0.0; numel.unwrap_or(0)]) {
                        let _ = m.predict(&x);
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn fuzz_architecture_json() {
    let seeds = corpus("architecture");
    for (name, bytes) in &seeds {
        let a = Architecture::from_json(std::str::from_utf8(bytes).unwrap(), name);
        if name.starts_with("valid_") {
            a.unwrap().build().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    // Structured mutations: replace one to three values anywhere by extreme ones.
    neuroxide::memory::set_limit(64 << 20);
    let parsed: Vec<Value> = seeds
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    let n = cases();
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    });
    let started = Instant::now();
    let strategy = (
        0..parsed.len(),
        prop::collection::vec((any::<usize>(), any::<usize>()), 1..4),
    );
    let result = runner.run(&strategy, |(seed, replacements)| {
        let mut v = parsed[seed].clone();
        for (at, with) in replacements {
            let mut ptrs = Vec::new();
            pointers(&v, String::new(), &mut ptrs);
            let p = &ptrs[at % ptrs.len()];
            if p.is_empty() {
                continue;
            }
            if let Some(slot) = v.pointer_mut(p) {
                *slot = extreme(with);
            }
        }
        check_architecture(serde_json::to_string(&v).unwrap_or_default().as_bytes())
    });
    println!(
        "fuzz architecture (structured): {n} cases, 0 failures, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("fuzz architecture (structured): {e}");
    }
    // Byte-level mutations of the same files.
    fuzz("architecture", MODEL_TOKENS, check_architecture);
}
