//! Inputs that used to crash the tool, succeed wrongly or fail only after the whole run: a closed
//! stdout pipe, a diverging run, a GPU benchmark without a GPU, overwrites by `predict --out`,
//! bad `--save`/`--plot` paths, oversized layers, `--epochs 0`, and `validate` writing into the
//! work tree.

#[path = "support/cli.rs"]
mod cli;

use cli::{repo, run, run_in, stderr, stdout};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn temp_dir(name: &str) -> PathBuf {
    cli::temp_dir("rel", name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_closed_stdout_pipe_stops_the_output_not_the_training() {
    let dir = temp_dir("pipe");
    let model = dir.join("m");
    let mut child = Command::new(env!("CARGO_BIN_EXE_neuroxide"))
        .args([
            "train",
            "csv",
            "--file",
            "data/iris.csv",
            "--epochs",
            "30",
            "--patience",
            "0",
            "--save",
            s(&model),
        ])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: read one chunk, then close the pipe.
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    let n = out.read(&mut first).unwrap();
    assert!(n > 0);
    drop(out);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        model.join("manifest.json").exists(),
        "the model was not saved"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn divergence_fails_saves_nothing_unless_asked_and_predict_refuses_nan_weights() {
    let dir = temp_dir("diverge");
    let model = dir.join("m");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "csv",
            "--file",
            "data/iris.csv",
            "--lr",
            "1e30",
            "--epochs",
            "5",
            "--quiet",
            "--save",
        ];
        a.push(s(&model));
        a.extend_from_slice(extra);
        a.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let a = args(&[]);
    let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: training diverged: the training loss is ")
            && err.contains(" at epoch 1, step ")
            && err.trim_end().ends_with(
                "; no model was saved (pass --save-on-divergence to keep the diverged one)"
            ),
        "{err}"
    );
    assert!(!model.exists());

    let a = args(&["--save-on-divergence"]);
    let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "; the diverged model was saved to {} (--save-on-divergence)",
            model.display()
        )),
        "{err}"
    );
    let o = run(&["predict", "--model", s(&model), "--file", "data/iris.csv"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("weights.safetensors: tensor '")
            && err.contains("the model diverged when it was trained"),
        "{err}"
    );
    assert_eq!(stdout(&o), "");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_on_cuda_without_a_gpu_fails() {
    if neuroxide::Device::cuda(0).backend().is_ok() {
        eprintln!("a CUDA device is present: nothing to test");
        return;
    }
    let o = run(&["bench", "xor_mlp", "--device", "cuda", "--runs", "3"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "error: bench --device cuda --mode exact: no workload ran (xor_mlp: not available: "
        ),
        "{err}"
    );
}

#[test]
fn predict_out_never_overwrites_silently_and_never_its_input() {
    let dir = temp_dir("predict-out");
    let model = dir.join("m");
    let o = run(&[
        "train",
        "csv",
        "--file",
        "data/iris.csv",
        "--epochs",
        "2",
        "--quiet",
        "--save",
        s(&model),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let input = dir.join("in.csv");
    std::fs::copy(repo().join("data/iris.csv"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    for force in [false, true] {
        let mut a = vec![
            "predict",
            "--model",
            s(&model),
            "--file",
            s(&input),
            "--out",
            s(&input),
        ];
        if force {
            a.push("--force");
        }
        let o = run(&a);
        assert_eq!(
            stderr(&o).trim(),
            format!(
                "error: --out {0}: this is the input file --file {0}; writing the predictions \
                 there would destroy it",
                input.display()
            )
        );
    }
    assert_eq!(std::fs::read(&input).unwrap(), before);
    let out = dir.join("preds.csv");
    std::fs::write(&out, "keep me").unwrap();
    let o = run(&[
        "predict",
        "--model",
        s(&model),
        "--file",
        s(&input),
        "--out",
        s(&out),
    ]);
    assert_eq!(
        stderr(&o).trim(),
        format!(
            "error: --out {}: the file exists; pass --force to replace it",
            out.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let o = run(&[
        "predict",
        "--model",
        s(&model),
        "--file",
        s(&input),
        "--out",
        s(&out),
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 151);
    // Finite inputs that overflow when normalised: an error, not a confident class for NaN.
    let wild = dir.join("wild.csv");
    std::fs::write(
        &wild,
        "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n3e38,-3e38,3e38,3e38\n",
    )
    .unwrap();
    let o = run(&["predict", "--model", s(&model), "--file", s(&wild)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {}: data row 2, feature 'sepal_length': value 3e38 becomes inf after the \
             saved normalisation: it is far outside the range the model was trained on",
            wild.display()
        )
    );
    std::fs::remove_file(&wild).unwrap();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "temporary files left: {names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_output_paths_and_sizes_fail_before_training() {
    let dir = temp_dir("early");
    let file = dir.join("model.bin");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("m");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--save", s(&file)],
            format!(
                "error: --save: {}: exists and is a regular file, not a model directory; choose \
                 another path or remove it",
                file.display()
            ),
        ),
        (
            vec!["--save", s(&under_file)],
            format!(
                "error: --save: {}: cannot save there: {} is not writable (Not a directory",
                under_file.display(),
                file.display()
            ),
        ),
        (
            vec!["--plot", "/nonexistent-dir/curves.png"],
            "error: --plot /nonexistent-dir/curves.png: cannot write there: No such file or \
             directory"
                .to_string(),
        ),
        (
            vec!["--hidden", "200000,200000"],
            "error: the MLP 4-200000-200000-3 (hidden sizes from --hidden), 40001800003 \
             parameters with gradients and Adam state, needs 596.1 GiB (640028800048 bytes), \
             but this machine has"
                .to_string(),
        ),
        (
            vec!["--hidden", "18446744073709551615,18446744073709551615"],
            "the parameter count overflows 64 bits".to_string(),
        ),
    ];
    for (extra, want) in cases {
        let mut a = vec!["train", "csv", "--file", "data/iris.csv"];
        a.extend(extra);
        let o = run(&a);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{a:?}: {err}");
        assert!(err.contains(&want), "{a:?}:\n{err}\nlacks\n{want}");
        assert!(!stdout(&o).contains("Epoch"), "{a:?} trained first");
    }
    let o = run(&["train", "mnist", "--epochs", "0"]);
    assert_eq!(
        stderr(&o).trim(),
        "error: --epochs and --batch-size must be at least 1"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_flags_choose_the_delimiter_and_the_header() {
    let dir = temp_dir("flags");
    let f = dir.join("t.csv");
    let mut text = String::from("0;1;2\n");
    for i in 0..40 {
        text.push_str(&format!("{};{};{}\n", i % 7, i % 5, ["a", "b"][i % 2]));
    }
    std::fs::write(&f, &text).unwrap();
    let o = run(&[
        "train",
        "csv",
        "--file",
        s(&f),
        "--epochs",
        "1",
        "--patience",
        "0",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains(&format!(
            "{}: delimiter ';' (auto: 3 columns on each of the first 41 lines; use --delimiter \
             to override)",
            f.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("header row: yes (auto: line 1 numbers the columns 0..2"),
        "{out}"
    );
    assert!(
        out.contains("32 rows for training, 8 for validation"),
        "{out}"
    );
    let o = run(&[
        "train",
        "csv",
        "--file",
        s(&f),
        "--epochs",
        "1",
        "--header",
        "no",
        "--delimiter",
        ";",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Line 1 is now a data row: 41 rows, and its "2" is a third class.
    let out = stdout(&o);
    assert!(
        out.contains("33 rows for training, 8 for validation"),
        "{out}"
    );
    assert!(out.contains("true \\ pred      2      a      b"), "{out}");
    let o = run(&["train", "csv", "--file", s(&f), "--delimiter", ";;"]);
    assert!(
        stderr(&o).contains("';;': expected one character such as ',' or ';', or 'tab'"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn validate_writes_no_file_without_out() {
    let dir = temp_dir("validate");
    let o = run_in(
        &dir,
        &[
            "validate",
            "--quick",
            "--only",
            "xor",
            "--no-thread-parity",
            "--device",
            "cpu",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("no report file written: pass --out docs/VALIDATION.md"),
        "{}",
        stdout(&o)
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let out = dir.join("r.md");
    let o = run_in(
        &dir,
        &[
            "validate",
            "--quick",
            "--only",
            "xor",
            "--no-thread-parity",
            "--device",
            "cpu",
            "--out",
            s(&out),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&out).unwrap().starts_with('#'));
    std::fs::remove_dir_all(&dir).unwrap();
}
