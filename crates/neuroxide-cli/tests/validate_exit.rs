//! The `neuroxide validate` and `neuroxide bench` commands end to end: exit status, the failing
//! row on stderr, the report file, and bench's JSON lines on stdout.

use std::process::Command;

fn neuroxide(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neuroxide"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("neuroxide-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn validate_passes_then_fails_when_a_criterion_is_forced() {
    let out = tmp("ok.md");
    let (code, stdout, _) = neuroxide(&[
        "validate",
        "--quick",
        "--only",
        "xor",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("| XOR (2-4-1 MLP) | max \\|err\\| "), "{md}");
    assert!(md.contains("- Result: PASS"));

    let out = tmp("fail.md");
    let (code, _, stderr) = neuroxide(&[
        "validate",
        "--quick",
        "--only",
        "xor",
        "--threshold",
        "xor=0.000001",
        "--no-thread-parity",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("validation FAILED:"), "{stderr}");
    assert!(
        stderr.contains("XOR (2-4-1 MLP): CPU: FAIL: max |err|"),
        "{stderr}"
    );
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("## Failures"));

    let (code, _, stderr) = neuroxide(&["validate", "--threshold", "xor", "--out", "/dev/null"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("expected NAME=VALUE"), "{stderr}");
}

#[test]
fn bench_prints_json_lines() {
    let (code, stdout, stderr) = neuroxide(&[
        "bench",
        "xor_mlp",
        "mnist_cnn_b64",
        "--json",
        "--runs",
        "3",
        "--run-seconds",
        "0.02",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["workload"], "xor_mlp");
    assert!(lines[0]["ms_per_step"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[1]["workload"], "mnist_cnn_b64");
    assert!(lines[1]["ms_per_step"].as_f64().unwrap() > 0.0, "{stdout}");
    assert!(stderr.contains("workload"), "table on stderr: {stderr}");

    let (code, _, stderr) = neuroxide(&["bench", "nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown workload 'nope'"));
}
