//! PARITY.md rule 8a, enforced: no library or program source calls the platform's libm
//! (`f64::ln`, `.cos()`, `.powi(…)`, …). Host numbers that decide bits go through
//! `neuroxide::math::host` (f64) or `neuroxide::math` (f32), whose own files are exempt. Tests
//! are not scanned: they compare against std on purpose.

use std::path::{Path, PathBuf};

/// Method and path spellings of libm-backed float functions. (`sqrt`, `abs`, `floor`, `mul_add`
/// are IEEE-exact or exact and stay allowed.)
const FORBIDDEN: [&str; 17] = [
    "ln", "log", "log2", "log10", "ln_1p", "exp", "exp2", "exp_m1", "powi", "powf", "sin", "cos",
    "tan", "tanh", "sinh", "cosh", "sin_cos",
];

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The offending calls in one line of code (comments removed): `.name(` or `f64::name` /
/// `f32::name` for a forbidden name.
fn offences(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for name in FORBIDDEN {
        for prefix in [".", "f64::", "f32::"] {
            let pattern = format!("{prefix}{name}");
            let mut from = 0;
            while let Some(at) = code[from..].find(&pattern) {
                let end = from + at + pattern.len();
                let next = code[end..].chars().next();
                let is_call = match prefix {
                    "." => next == Some('('),
                    _ => !next.is_some_and(|c| c.is_alphanumeric() || c == '_'),
                };
                if is_call {
                    found.push(pattern.clone());
                }
                from = end;
            }
        }
    }
    found
}

#[test]
fn no_source_calls_the_platform_libm() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in std::fs::read_dir(&crates)
        .expect("crates/ is readable")
        .flatten()
    {
        rust_files(&krate.path().join("src"), &mut files);
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    let exempt = |p: &Path| {
        let s = p.to_string_lossy().replace('\\', "/");
        s.ends_with("/src/math.rs") || s.contains("/src/math/")
    };
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !exempt(f)) {
        let text = std::fs::read_to_string(file).expect("source file is readable");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for call in offences(code) {
                offenders.push(format!("{}:{}: {call}", file.display(), n + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "libm calls outside math.rs / math/ (use neuroxide::math::host):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_scanner_sees_calls_and_ignores_lookalikes() {
    assert_eq!(offences("let y = x.cos();"), vec![".cos"]);
    assert_eq!(
        offences("let y = (2.0 * u).ln() + a.powi(2);"),
        vec![".ln", ".powi"]
    );
    assert_eq!(offences("v.iter().map(f64::exp)"), vec!["f64::exp"]);
    assert!(offences("let e = x.expand(); let c = host::cos(t); x.sqrt()").is_empty());
    assert!(offences("f64::exponent_bits(v); self.logits(); s.log_entry()").is_empty());
}
