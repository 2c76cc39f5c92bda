//! Model directories that must not load silently: hand-edited or half-written files (the
//! manifest), preprocessing that does not fit the model, diverged (NaN) weights; and saves that
//! must not clobber other files or leave temporary files behind.

mod common;

use common::{blobs, classifier, temp_dir};
use neuroxide::data::{LabelEncoder, Normalizer, NormalizerKind, Task};
use neuroxide::io::manifest::manifest_of;
use neuroxide::io::{self, Preprocessing, SaveOptions, MANIFEST_FILE, MODEL_FILE, WEIGHTS_FILE};
use neuroxide::train::{FitOptions, Verbosity};
use neuroxide::Tensor;
use std::path::Path;

fn load_err(dir: &Path) -> String {
    match io::load(dir) {
        Ok(_) => panic!("{} loaded without error", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// Rewrites the manifest after a deliberate edit, so that the check under test is reached.
fn reseal(dir: &Path) {
    let mut files = Vec::new();
    for name in [MODEL_FILE, WEIGHTS_FILE, io::OPTIMIZER_FILE] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            files.push((name.to_string(), b));
        }
    }
    std::fs::write(dir.join(MANIFEST_FILE), manifest_of(&files).unwrap()).unwrap();
}

fn preprocessing() -> Preprocessing {
    Preprocessing {
        task: Some(Task::Classification),
        feature_names: ["a", "b", "c", "d"].map(String::from).to_vec(),
        target_names: vec!["y".into()],
        label_encoder: Some(LabelEncoder::fit(["p", "q", "r"])),
        normalizer: Some(
            Normalizer::fit(
                NormalizerKind::Standardize,
                &Tensor::new([2, 4], vec![1., 2., 3., 4., 2., 4., 6., 9.]).unwrap(),
            )
            .unwrap(),
        ),
        target_normalizer: None,
    }
}

/// A classifier trained one epoch (so that it has optimizer state), saved with `pre`.
fn save_with(dir: &Path, pre: Option<Preprocessing>) {
    let mut m = classifier(1);
    m.fit_dataset(
        &blobs(32, 1),
        FitOptions::new().epochs(1).verbose(Verbosity::Silent),
    )
    .unwrap();
    let opts = SaveOptions {
        preprocessing: pre,
        epochs_completed: Some(1),
        include_optimizer: true,
    };
    io::save(&mut m, dir, &opts).unwrap();
}

fn edit_json(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join(MODEL_FILE);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn the_manifest_covers_every_file() {
    let root = temp_dir("rel-manifest");
    let dir = root.join("m");
    save_with(&dir, Some(preprocessing()));
    let listed: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(listed.len(), 4, "{listed:?}");
    io::load(&dir).unwrap();

    // A class name changed by hand (still valid JSON, same model): the manifest notices.
    let p = dir.join(MODEL_FILE);
    let original = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, original.replacen("\"q\"", "\"z\"", 1)).unwrap();
    assert_eq!(
        load_err(&dir),
        format!(
            "format error: {}: model.json: checksum differs from manifest.json: the file was \
             modified after saving",
            dir.display()
        )
    );
    // A stale optimizer file beside a model saved without one.
    std::fs::write(&p, &original).unwrap();
    let mut m = classifier(2);
    let opts = SaveOptions::default();
    let other = root.join("no-opt");
    io::save(&mut m, &other, &opts).unwrap();
    std::fs::copy(dir.join(io::OPTIMIZER_FILE), other.join(io::OPTIMIZER_FILE)).unwrap();
    assert!(load_err(&other).ends_with(
        "optimizer.safetensors is not listed in manifest.json: it does not belong to this save"
    ));
    // Without the manifest: an unfinished (or pre-manifest) save.
    std::fs::remove_file(dir.join(MANIFEST_FILE)).unwrap();
    assert!(load_err(&dir).ends_with(
        "no manifest.json: the save that wrote this directory did not finish (or an older \
         Neuroxide wrote it), so its files may not belong together; save the model again"
    ));
    std::fs::remove_file(dir.join(WEIGHTS_FILE)).unwrap();
    assert_eq!(
        load_err(&dir),
        format!(
            "format error: {}: incomplete model directory: weights.safetensors is missing and \
             there is no manifest.json — a save into it was interrupted (or the files were \
             copied in part); save the model again",
            dir.display()
        )
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn preprocessing_must_fit_the_model() {
    let root = temp_dir("rel-pre");
    let dir = root.join("m");
    save_with(&dir, Some(preprocessing()));
    type Edit = fn(&mut serde_json::Value);
    let cases: Vec<(Edit, &str)> = vec![
        (
            |v| {
                v["preprocessing"]["normalizer"]["scale"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            },
            "preprocessing: normalizer has 4 shifts and 3 scales, the model has 4 inputs",
        ),
        (
            |v| v["preprocessing"]["normalizer"]["scale"][2] = 0.0.into(),
            "preprocessing: normalizer scale of feature 'c' (column 3) is 0: it must be a finite \
             non-zero number",
        ),
        (
            |v| {
                v["preprocessing"]["feature_names"]
                    .as_array_mut()
                    .unwrap()
                    .push("e".into());
            },
            "preprocessing: 5 feature names for a model with 4 inputs",
        ),
        (
            |v| {
                v["preprocessing"]["label_encoder"]["classes"]
                    .as_array_mut()
                    .unwrap()
                    .push("s".into());
            },
            "preprocessing: label_encoder has 4 classes, the model outputs 3",
        ),
    ];
    let original = std::fs::read_to_string(dir.join(MODEL_FILE)).unwrap();
    for (edit, want) in cases {
        std::fs::write(dir.join(MODEL_FILE), &original).unwrap();
        edit_json(&dir, edit);
        reseal(&dir);
        let e = load_err(&dir);
        assert!(
            e.starts_with(&format!(
                "format error: {}: ",
                dir.join(MODEL_FILE).display()
            )) && e.ends_with(want),
            "{e}\nwanted …{want}"
        );
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn diverged_weights_are_refused_when_loading() {
    let root = temp_dir("rel-nan");
    let dir = root.join("m");
    let mut m = classifier(1);
    let mut w = m.weights().unwrap();
    w[1].1.data_mut()[3] = f32::NAN;
    m.set_weights(&w).unwrap();
    m.save(&dir).unwrap();
    let e = load_err(&dir);
    assert!(
        e.ends_with(&format!(
            "weights.safetensors: tensor '{}' holds NaN at index 3 of 16: the model diverged when \
             it was trained and its predictions would be meaningless; train it again (e.g. with \
             a lower learning rate)",
            w[1].0
        )),
        "{e}"
    );
    assert!(io::load_allowing_non_finite(&dir).is_ok());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn save_refuses_files_and_foreign_directories_and_leaves_no_temporary_files() {
    let root = temp_dir("rel-save");
    let file = root.join("model.bin");
    std::fs::write(&file, "precious").unwrap();
    let mut m = classifier(1);
    let e = m.save(&file).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: exists and is a regular file, not a model directory; choose another path or \
             remove it",
            file.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
    let foreign = root.join("photos");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("a.jpg"), "x").unwrap();
    let e = m.save(&foreign).unwrap_err().to_string();
    assert!(
        e.contains("the directory exists and is not a model directory"),
        "{e}"
    );
    assert!(foreign.join("a.jpg").exists());
    // Saving twice over the same directory, then a fresh one: only the two models remain.
    let dir = root.join("m");
    m.save(&dir).unwrap();
    m.save(&dir).unwrap();
    m.save(root.join("n")).unwrap();
    let mut entries: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, ["m", "model.bin", "n", "photos"]);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_interrupted_swap_names_the_previous_model() {
    let root = temp_dir("rel-swap");
    let mut m = classifier(1);
    // pid 4194999 is above Linux's largest pid, so the leftover is never a live save's.
    let previous = root.join(".m.previous-4194999");
    m.save(&previous).unwrap();
    assert_eq!(
        load_err(&root.join("m")),
        format!(
            "format error: {}: does not exist: a save into it was interrupted while swapping \
             directories; the previous model is complete in {} — rename it to {} to use it",
            root.join("m").display(),
            previous.display(),
            root.join("m").display()
        )
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn safetensors_header_errors_name_the_tensor() {
    let root = temp_dir("rel-st");
    let dir = root.join("m");
    classifier(1).save(&dir).unwrap();
    let w = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&w).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap().to_string();
    let rewrite = |h: &str| {
        assert_eq!(h.len(), header.len());
        let mut b = bytes.clone();
        b[8..8 + n].copy_from_slice(h.as_bytes());
        std::fs::write(&w, b).unwrap();
    };
    // dtype F32 → F16 on the first tensor (the header is sorted by name).
    let at = header.find("\"F32\"").unwrap();
    let name_end = header[..at].rfind("\":{").unwrap();
    let name_start = header[..name_end].rfind('"').unwrap() + 1;
    let name = &header[name_start..name_end];
    rewrite(&header.replacen("\"F32\"", "\"F16\"", 1));
    assert!(
        load_err(&dir).ends_with(&format!("tensor '{name}': dtype F16, expected F32")),
        "{}",
        load_err(&dir)
    );
    // A shape that does not match its byte range.
    let shape_at = header.find("\"shape\":[").unwrap() + 9;
    let mut h = header.clone();
    let digit = h.as_bytes()[shape_at];
    let new_digit = if digit == b'9' { '8' } else { '9' };
    h.replace_range(shape_at..shape_at + 1, &new_digit.to_string());
    rewrite(&h);
    let e = load_err(&dir);
    assert!(
        e.contains("weights.safetensors: tensor '") && e.contains("of F32 needs"),
        "{e}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
