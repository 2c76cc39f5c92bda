//! The `neuroxide` binary: `train csv` with default settings, `evaluate`, `predict`, `--plot`,
//! and the command-line errors (the CSV parser's own errors are tested in the library).

#[path = "support/cli.rs"]
mod cli;

use cli::{run, stderr, stdout};
use std::path::PathBuf;

fn temp_dir(name: &str) -> PathBuf {
    cli::temp_dir("cli", name)
}

/// The value after `key` in `text`, e.g. `accuracy 0.9333`.
fn number_after(text: &str, key: &str) -> f64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("'{key}' not in:\n{text}"));
    text[at + key.len()..]
        .trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn iris_with_defaults_then_evaluate_and_predict() {
    let dir = temp_dir("iris");
    let model = dir.join("model");
    let plot = dir.join("curves.svg");
    let o = run(&[
        "train",
        "csv",
        "--file",
        "data/iris.csv",
        "--target",
        "species",
        "--save",
        model.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    // What was detected and why, the model summary, then (not a terminal) one plain line per
    // epoch.
    assert!(
        out.starts_with(
            "data/iris.csv: header row: yes (auto: column 1 is \"sepal_length\" in line 1 but a \
             number below; use --header no to read it as data)\n\
             data/iris.csv: task: classification (auto: target 'species' holds text labels; use \
             --task to override)\n\
             Layer "
        ),
        "{out}"
    );
    assert!(out.contains("Total params: 2499\n"), "{out}");
    assert!(out.contains("\nEpoch   1/200 - "), "{out}");
    assert!(
        out.contains(" - loss: ") && out.contains(" - val_accuracy: "),
        "{out}"
    );
    assert!(
        out.contains("120 rows for training, 30 for validation"),
        "{out}"
    );
    let acc = number_after(&out, "validation: loss");
    assert!(acc > 0.0);
    let acc = number_after(&out, ", accuracy");
    assert!(acc >= 0.93, "validation accuracy {acc}\n{out}");
    assert!(out.contains("true \\ pred"), "{out}");
    assert!(
        out.contains(&format!("saved the model to {}", model.display())),
        "{out}"
    );
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("<svg") && svg.contains("polyline"));

    let o = run(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--file",
        "data/iris.csv",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.starts_with("150 rows; loss "), "{out}");
    assert!(number_after(&out, "\naccuracy") >= 0.95, "{out}");

    let preds = dir.join("preds.csv");
    let o = run(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--file",
        "data/iris.csv",
        "--out",
        preds.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        format!("wrote 150 predictions to {}", preds.display())
    );
    let text = std::fs::read_to_string(&preds).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 151);
    assert_eq!(
        lines[0],
        "predicted_species,probability,p_setosa,p_versicolor,p_virginica"
    );
    assert!(lines[1].starts_with("setosa,"), "{}", lines[1]);
    assert!(lines[150].starts_with("virginica,"), "{}", lines[150]);
    // Without --out the CSV goes to stdout.
    let o = run(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--file",
        "data/iris.csv",
    ]);
    assert_eq!(stdout(&o), text);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn diabetes_regression_prints_errors_in_original_units() {
    let o = run(&[
        "train",
        "csv",
        "--file",
        "data/diabetes.csv",
        "--target",
        "target",
        "--quiet",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(!out.contains("Epoch "), "--quiet printed epochs:\n{out}");
    let mae = number_after(&out, "MAE");
    let baseline = number_after(&out, "baseline (predict the training mean): MSE");
    assert!(mae < 45.0, "{out}");
    assert!(baseline > 0.0);
    let base_mae = number_after(out.split("baseline").nth(1).unwrap(), "MAE");
    assert!(mae < 0.8 * base_mae, "{out}");
}

#[test]
fn command_line_errors_are_clear() {
    let dir = temp_dir("errors");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "csv", "--file", "data/none.csv"],
            "error: data/none.csv: No such file",
        ),
        (
            vec![
                "train",
                "csv",
                "--file",
                "data/iris.csv",
                "--target",
                "colour",
            ],
            "error: data/iris.csv, line 1: unknown target column 'colour'; available columns:",
        ),
        (
            vec!["train", "csv", "--file", "data/iris.csv", "--plot", "x.jpg"],
            "error: --plot x.jpg: the file name must end in .png or .svg",
        ),
        (
            vec![
                "train",
                "csv",
                "--file",
                "data/iris.csv",
                "--hidden",
                "64,0",
            ],
            "error: --hidden [64, 0]: every layer needs at least 1 unit",
        ),
        (
            vec!["train", "csv", "--file", "data/iris.csv", "--lr", "0"],
            "error: --lr 0: the learning rate must be a positive number",
        ),
        (
            vec!["train", "mnist", "--ema", "1.5"],
            "error: --ema must be 0 (off) or a decay in (0, 1), got 1.5",
        ),
        (
            vec!["train", "transformer", "--ema=-0.1"],
            "error: --ema must be 0 (off) or a decay in (0, 1), got -0.1",
        ),
        (
            vec!["train", "transformer", "--beta2", "1"],
            "error: --beta2 must be in (0, 1), got 1",
        ),
        (
            vec!["train", "transformer", "--min-lr", "0.5"],
            "error: --min-lr must be in [0, --lr 0.0003], got 0.5",
        ),
        (
            vec![
                "train",
                "csv",
                "--file",
                "data/iris.csv",
                "--val-split",
                "1.5",
            ],
            "error: --val-split 1.5: must be between 0 and 1",
        ),
        (
            vec!["train", "csv", "--file", "data/iris.csv", "--device", "tpu"],
            "error: unknown device 'tpu': expected cpu, cuda, cuda:N or auto",
        ),
        (
            vec!["train", "mnist", "--model", "resnet"],
            "unknown MNIST model 'resnet': expected 'cnn', 'cnn-bn' or 'mlp'",
        ),
        (
            vec!["train", "mnist", "--data-dir", "/nonexistent/mnist"],
            "/nonexistent/mnist",
        ),
        (
            vec![
                "evaluate",
                "--model",
                "/nonexistent/model",
                "--file",
                "data/iris.csv",
            ],
            "error: /nonexistent/model: not a model directory",
        ),
        (
            vec![
                "predict",
                "--model",
                "/nonexistent/model",
                "--file",
                "data/iris.csv",
            ],
            "error: /nonexistent/model: not a model directory",
        ),
    ];
    for (args, want) in cases {
        let o = run(&args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = stderr(&o);
        assert!(
            err.contains(want),
            "{args:?}: stderr {err:?} lacks {want:?}"
        );
    }
    // A model trained on iris, asked about a table without one of its features.
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
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "sepal_length,sepal_width,petal_length\n1,2,3\n").unwrap();
    let o = run(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--file",
        bad.to_str().unwrap(),
    ]);
    assert!(
        stderr(&o)
            .contains("line 1: feature column 'petal_width' the model was trained on is missing"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--file",
        bad.to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("the target column(s) species the model was trained on are missing"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mnist_prints_test_accuracy_speed_and_confusion_matrix() {
    let dir = temp_dir("mnist");
    let model = dir.join("mlp");
    let plot = dir.join("mnist.png");
    let o = run(&[
        "train",
        "mnist",
        "--model",
        "mlp",
        "--limit",
        "2000",
        "--epochs",
        "1",
        // The benchmark's constant rate (the default; the cosine decay would end this one short
        // epoch with tiny steps: 0.794 test accuracy instead of 0.8+), without the weight
        // average: 31 steps are too few to average over.
        "--lr-schedule",
        "constant",
        "--ema",
        "0",
        "--save",
        model.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("Total params: 235146"), "{out}");
    assert!(
        out.contains("Epoch 1/1 - ") && out.contains(" - accuracy: "),
        "{out}"
    );
    let acc = number_after(&out, "test: accuracy");
    assert!(acc > 0.8, "{out}");
    assert!(out.contains("on 10000 images"), "{out}");
    assert!(number_after(&out, "training: 2000 images × 1 epochs in") > 0.0);
    assert!(out.contains(" images/s"), "{out}");
    assert!(out.contains("true \\ pred      0      1"), "{out}");
    assert!(out.contains(&format!("accuracy {acc:.4} (")), "{out}");
    assert!(model.join("weights.safetensors").is_file());
    assert_eq!(&std::fs::read(&plot).unwrap()[..4], b"\x89PNG");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mnist_trains_the_cnn_by_default() {
    let o = run(&["train", "mnist", "--limit", "640", "--epochs", "1"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("Total params: 206922"), "{out}");
    assert!(out.contains("Conv2D") && out.contains("MaxPool2D"), "{out}");
    assert!(out.contains("(None, 32, 7, 7)"), "{out}");
    assert!(number_after(&out, "test: accuracy") > 0.5, "{out}");
}

/// `train transformer` on a few steps saves a model with its tokenizer; `generate` continues a
/// prompt from it, the same text for the same seed; a prompt character outside the vocabulary
/// is a clear error.
#[test]
fn transformer_train_save_then_generate() {
    let dir = temp_dir("transformer");
    let model = dir.join("model");
    let o = run(&[
        "train",
        "transformer",
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--eval-every",
        "0",
        "--eval-windows",
        "8",
        "--sample",
        "20",
        "--save",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("final validation loss"), "{out}");
    assert!(out.contains("tokens/s"), "{out}");
    assert!(model.join("tokenizer.json").is_file());
    let gen = |seed: &str| {
        run(&[
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--prompt",
            "KING.",
            "--tokens",
            "25",
            "--top-k",
            "5",
            "--seed",
            seed,
        ])
    };
    let (a, b) = (gen("7"), gen("7"));
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
    assert!(stdout(&a).starts_with("KING."));
    assert_eq!(stdout(&a).trim_end_matches('\n').chars().count(), 5 + 25);
    let bad = run(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--prompt",
        "é",
        "--tokens",
        "3",
    ]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("not in the tokenizer's vocabulary"),
        "{}",
        stderr(&bad)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `train transformer --tokenizer byte` saves a byte tokenizer (vocabulary 256); `generate`
/// then accepts any prompt, non-ASCII included; an unknown tokenizer name is a clear error.
#[test]
fn transformer_byte_tokenizer_train_then_generate() {
    let dir = temp_dir("transformer_bytes");
    let model = dir.join("model");
    let o = run(&[
        "train",
        "transformer",
        "--tokenizer",
        "byte",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--eval-every",
        "0",
        "--eval-windows",
        "4",
        "--sample",
        "0",
        "--save",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Byte tokenizer, vocab 256"),
        "{}",
        stdout(&o)
    );
    let saved = std::fs::read_to_string(model.join("tokenizer.json")).unwrap();
    assert!(saved.contains("\"byte\""), "{saved}");
    let g = run(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--prompt",
        "Où",
        "--tokens",
        "10",
        "--seed",
        "3",
    ]);
    assert!(g.status.success(), "{}", stderr(&g));
    assert!(stdout(&g).starts_with("Où"), "{}", stdout(&g));
    let bad = run(&[
        "train",
        "transformer",
        "--tokenizer",
        "words",
        "--steps",
        "1",
    ]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("unknown tokenizer 'words'"),
        "{}",
        stderr(&bad)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `train transformer` takes the architecture from --context/--dim/--heads/--blocks/--ff
/// (defaults: the mini_transformer) and refuses a width that the heads do not divide.
#[test]
fn transformer_architecture_flags() {
    let o = run(&[
        "train",
        "transformer",
        "--context",
        "16",
        "--dim",
        "32",
        "--heads",
        "2",
        "--blocks",
        "1",
        "--ff",
        "48",
        "--steps",
        "2",
        "--eval-every",
        "2",
        "--eval-windows",
        "4",
        "--sample",
        "0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("T 16, d 32, 2 heads, 1 blocks, MLP 48;"),
        "{}",
        stdout(&o)
    );
    let bad = run(&["train", "transformer", "--dim", "100", "--heads", "3"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("--dim 100 is not a multiple of --heads 3"),
        "{}",
        stderr(&bad)
    );
    let zero = run(&["train", "transformer", "--blocks", "0"]);
    assert!(
        stderr(&zero).contains("--blocks must be at least 1"),
        "{}",
        stderr(&zero)
    );
}
