//! Corrupt, truncated and mismatched model files: each gives an error naming the tensor or field.

mod common;

use common::{blobs, classifier, temp_dir};
use neuroxide::io::tensors::{write_tensors, NamedTensor};
use neuroxide::io::{self, MODEL_FILE, OPTIMIZER_FILE, WEIGHTS_FILE};
use neuroxide::layers::Dense;
use neuroxide::train::{FitOptions, Verbosity};
use neuroxide::{optim, Loss, Sequential};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A trained classifier saved with optimizer state into a fresh directory.
fn saved(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    let mut m = classifier(1);
    m.fit_dataset(
        &blobs(32, 1),
        FitOptions::new().epochs(1).verbose(Verbosity::Silent),
    )
    .unwrap();
    m.save(&dir).unwrap();
    dir
}

fn load_err(dir: &Path) -> String {
    match io::load(dir) {
        Ok(_) => panic!("{} loaded without error", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn edit_json(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join(MODEL_FILE);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
}

/// The byte range of `name`'s data inside a safetensors file.
fn tensor_range(file: &Path, name: &str) -> std::ops::Range<usize> {
    let bytes = std::fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let off = &header[name]["data_offsets"];
    let (a, b) = (
        off[0].as_u64().unwrap() as usize,
        off[1].as_u64().unwrap() as usize,
    );
    8 + n + a..8 + n + b
}

fn assert_contains(e: &str, want: &str) {
    assert!(e.contains(want), "error '{e}' does not contain '{want}'");
}

#[test]
fn missing_directory_or_files() {
    let e = load_err(Path::new("/nonexistent/model"));
    assert_contains(&e, "/nonexistent/model: not a model directory");
    let dir = saved("io-err-missing");
    std::fs::remove_file(dir.join(WEIGHTS_FILE)).unwrap();
    assert_contains(&load_err(&dir), "weights.safetensors: No such file");
    std::fs::remove_file(dir.join(MODEL_FILE)).unwrap();
    assert_contains(&load_err(&dir), "model.json: No such file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn architecture_file_errors_name_the_field() {
    let dir = saved("io-err-json");
    let original = std::fs::read_to_string(dir.join(MODEL_FILE)).unwrap();
    let reset = || std::fs::write(dir.join(MODEL_FILE), &original).unwrap();

    edit_json(&dir, |v| {
        v.as_object_mut().unwrap().remove("seed");
    });
    assert_contains(&load_err(&dir), "model.json: missing field `seed`");
    reset();
    edit_json(&dir, |v| v["format"] = "keras".into());
    assert_contains(
        &load_err(&dir),
        "field 'format' is 'keras', expected 'neuroxide-model'",
    );
    reset();
    edit_json(&dir, |v| v["version"] = 7.into());
    assert_contains(&load_err(&dir), "field 'version' is 7");
    reset();
    edit_json(&dir, |v| v["nodes"][1]["kind"] = "Dense2".into());
    assert_contains(
        &load_err(&dir),
        "node 'dense_1': format error: unknown layer kind 'Dense2'",
    );
    reset();
    edit_json(&dir, |v| {
        v["nodes"][1]["config"]
            .as_object_mut()
            .unwrap()
            .remove("units");
    });
    assert_contains(
        &load_err(&dir),
        "node 'dense_1': format error: layer Dense: missing field 'units'",
    );
    reset();
    edit_json(&dir, |v| v["nodes"][2]["inputs"][0] = "nope".into());
    assert_contains(
        &load_err(&dir),
        "node 'dense_2': input 'nope' is not a node defined before it",
    );
    reset();
    edit_json(&dir, |v| v["nodes"][2]["shape"][0] = 4.into());
    assert_contains(
        &load_err(&dir),
        "node 'dense_2': saved shape [4], but the layer produces [3]",
    );
    reset();
    edit_json(&dir, |v| v["outputs"][0] = "ghost".into());
    assert_contains(&load_err(&dir), "field 'outputs': 'ghost' is not a node");
    reset();
    edit_json(&dir, |v| {
        v["compile"]["optimizer"] = serde_json::json!({"Lion": {}})
    });
    assert_contains(&load_err(&dir), "unknown variant `Lion`");
    reset();
    edit_json(&dir, |v| v["extra"] = 1.into());
    assert_contains(&load_err(&dir), "unknown field `extra`");
    reset();
    std::fs::write(dir.join(MODEL_FILE), &original[..original.len() / 2]).unwrap();
    assert_contains(&load_err(&dir), "model.json: EOF while parsing");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_and_truncated_weights_name_the_tensor() {
    let dir = saved("io-err-weights");
    let w = dir.join(WEIGHTS_FILE);
    let original = std::fs::read(&w).unwrap();

    // One flipped bit inside dense_1/bias.
    let mut bytes = original.clone();
    let r = tensor_range(&w, "dense_1/bias");
    bytes[r.start + 5] ^= 0x10;
    std::fs::write(&w, &bytes).unwrap();
    assert_contains(
        &load_err(&dir),
        "weights.safetensors: tensor 'dense_1/bias': checksum mismatch, the file is corrupt",
    );

    // Cut inside the data: the first tensor that no longer fits is named.
    let last = [
        "dense_1/bias",
        "dense_1/kernel",
        "dense_2/bias",
        "dense_2/kernel",
    ]
    .into_iter()
    .max_by_key(|n| tensor_range(&w_from(&original, &w), n).end)
    .unwrap();
    let cut = tensor_range(&w, last).start + 3;
    std::fs::write(&w, &original[..cut]).unwrap();
    assert_contains(
        &load_err(&dir),
        &format!("truncated: tensor '{last}' ends at data byte"),
    );

    // Cut inside the header, or before the header length.
    std::fs::write(&w, &original[..40]).unwrap();
    assert_contains(&load_err(&dir), "truncated or corrupt: the header claims");
    std::fs::write(&w, &original[..5]).unwrap();
    assert_contains(&load_err(&dir), "truncated: 5 bytes");
    std::fs::write(&w, b"").unwrap();
    assert_contains(&load_err(&dir), "truncated: 0 bytes");

    // Garbage in the header.
    let mut bytes = original.clone();
    bytes[8] = b'!';
    std::fs::write(&w, &bytes).unwrap();
    assert_contains(&load_err(&dir), "weights.safetensors: corrupt header");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes `bytes` back to `path` (the original file) and returns the path, so ranges are read
/// from the intact file.
fn w_from(bytes: &[u8], path: &Path) -> PathBuf {
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

#[test]
fn mismatched_weights_name_the_tensor() {
    let dir = saved("io-err-mismatch");
    // Weights of a wider model.
    let other = temp_dir("io-err-mismatch-other");
    let mut wide = Sequential::new([4])
        .add(Dense::new(32).relu())
        .add(Dense::new(3))
        .build(1)
        .unwrap();
    wide.save(&other).unwrap();
    std::fs::copy(other.join(WEIGHTS_FILE), dir.join(WEIGHTS_FILE)).unwrap();
    assert_contains(
        &load_err(&dir),
        "tensor 'dense_1/kernel' has shape [4, 32], the model expects [4, 16]",
    );

    let w = dir.join(WEIGHTS_FILE);
    let t = |name: &str, shape: Vec<usize>| NamedTensor {
        name: name.into(),
        values: vec![0.0; shape.iter().product()],
        shape,
    };
    let full = vec![
        t("dense_1/kernel", vec![4, 16]),
        t("dense_1/bias", vec![16]),
        t("dense_2/kernel", vec![16, 3]),
        t("dense_2/bias", vec![3]),
    ];
    write_tensors(&w, &full[..3], HashMap::new()).unwrap();
    assert_contains(
        &load_err(&dir),
        "weights.safetensors: tensor 'dense_2/bias' is missing",
    );
    let mut extra = full.clone();
    extra.push(t("dense_3/kernel", vec![2]));
    write_tensors(&w, &extra, HashMap::new()).unwrap();
    assert_contains(
        &load_err(&dir),
        "tensor 'dense_3/kernel' does not belong to any parameter of the model",
    );
    // A checksum entry removed from the metadata.
    write_tensors(&w, &full, HashMap::new()).unwrap();
    let mut bytes = std::fs::read(&w).unwrap();
    let key = b"sha256/dense_2/bias";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
    bytes[at + 13] = b'9'; // same length: the header stays valid
    std::fs::write(&w, &bytes).unwrap();
    assert_contains(
        &load_err(&dir),
        "tensor 'dense_2/bias': no sha256 checksum in the metadata",
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&other).unwrap();
}

#[test]
fn optimizer_state_errors_name_the_field_or_tensor() {
    let dir = saved("io-err-optim");
    let o = dir.join(OPTIMIZER_FILE);
    let original = std::fs::read(&o).unwrap();

    let mut bytes = original.clone();
    let r = tensor_range(&o, "dense_2/kernel/v");
    bytes[r.end - 1] ^= 1;
    std::fs::write(&o, &bytes).unwrap();
    assert_contains(
        &load_err(&dir),
        "optimizer.safetensors: tensor 'dense_2/kernel/v': checksum mismatch",
    );
    std::fs::write(&o, &original[..original.len() - 10]).unwrap();
    assert_contains(&load_err(&dir), "optimizer.safetensors: truncated: tensor");

    // Adam state for a model the file says was compiled with SGD momentum.
    std::fs::write(&o, &original).unwrap();
    edit_json(&dir, |v| {
        v["compile"]["optimizer"] =
            serde_json::to_value(optim::sgd_momentum(0.1, 0.9, false, 0.0)).unwrap()
    });
    assert_contains(
        &load_err(&dir),
        "metadata field 'optimizer' is 'adam', but the model is compiled with sgd",
    );
    // No compile section at all.
    edit_json(&dir, |v| v["compile"] = serde_json::Value::Null);
    assert_contains(
        &load_err(&dir),
        "optimizer state present, but model.json has no 'compile' section",
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Missing metadata and tensors.
    let dir = saved("io-err-optim2");
    let o = dir.join(OPTIMIZER_FILE);
    let mut m = classifier(1);
    m.compile(optim::adam(0.01), Loss::cross_entropy()).unwrap();
    let t = |name: &str, shape: Vec<usize>| NamedTensor {
        name: name.into(),
        values: vec![0.0; shape.iter().product()],
        shape,
    };
    write_tensors(&o, &[t("dense_1/kernel/m", vec![4, 16])], HashMap::new()).unwrap();
    assert_contains(&load_err(&dir), "metadata field 'optimizer' is missing");
    let meta = |steps: &str| {
        HashMap::from([
            ("optimizer".to_string(), "adam".to_string()),
            ("steps".to_string(), steps.to_string()),
        ])
    };
    write_tensors(&o, &[t("dense_1/kernel/m", vec![4, 16])], meta("x1")).unwrap();
    assert_contains(&load_err(&dir), "metadata field 'steps': invalid digit");
    write_tensors(&o, &[t("dense_1/kernel/m", vec![4, 16])], meta("3")).unwrap();
    assert_contains(
        &load_err(&dir),
        "optimizer.safetensors: tensor 'dense_1/kernel/v' is missing",
    );
    write_tensors(&o, &[t("dense_1/kernel/m", vec![4, 15])], meta("3")).unwrap();
    assert_contains(
        &load_err(&dir),
        "tensor 'dense_1/kernel/m' has shape [4, 15], the model expects [4, 16]",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
