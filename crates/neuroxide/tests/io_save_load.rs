//! Saving and loading: bit-identical predictions, exact resumption, preprocessing round trip.

mod common;

use common::{blobs, classifier, classifier_with_dropout, temp_dir, weight_bits};
use neuroxide::data::{LabelEncoder, Normalizer, NormalizerKind, Task};
use neuroxide::graph::{add, Graph};
use neuroxide::layers::Dense;
use neuroxide::train::{FitOptions, History, ModelCheckpoint, Verbosity};
use neuroxide::{io, optim, Activation, LayerApply, Loss, Model};

fn quiet<'a>() -> FitOptions<'a> {
    FitOptions::new().verbose(Verbosity::Silent)
}

fn bits(h: &History, name: &str) -> Vec<u64> {
    h.metric(name).iter().map(|v| v.to_bits()).collect()
}

#[test]
fn a_loaded_model_predicts_bit_identically() {
    let dir = temp_dir("io-predict");
    let data = blobs(64, 7);
    let mut m = classifier(3);
    m.fit_dataset(&data, quiet().epochs(3).batch_size(16))
        .unwrap();
    let pre = io::Preprocessing {
        task: Some(Task::Classification),
        feature_names: ["a", "b", "c", "d"].map(String::from).to_vec(),
        target_names: vec!["label".into()],
        label_encoder: Some(LabelEncoder::fit(["x", "y", "z"])),
        normalizer: Some(Normalizer::fit(NormalizerKind::Standardize, &data.x).unwrap()),
        target_normalizer: None,
    };
    io::save(
        &mut m,
        &dir,
        &io::SaveOptions {
            preprocessing: Some(pre.clone()),
            epochs_completed: Some(3),
            include_optimizer: true,
        },
    )
    .unwrap();
    let mut loaded = io::load(&dir).unwrap();
    assert_eq!(loaded.preprocessing, Some(pre));
    assert_eq!(
        loaded.training,
        Some(io::TrainingState {
            epochs_completed: 3,
            optimizer_steps: 12
        })
    );
    let a = m.predict(&data.x).unwrap();
    let b = loaded.model.predict(&data.x).unwrap();
    let to_bits = |t: &neuroxide::Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(to_bits(&a), to_bits(&b));
    assert_eq!(weight_bits(&mut m), weight_bits(&mut loaded.model));
    assert_eq!(
        m.train_config().unwrap().optimizer,
        loaded.model.train_config().unwrap().optimizer
    );
    assert_eq!(m.summary(), loaded.model.summary());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_functional_graph_with_a_residual_round_trips() {
    let dir = temp_dir("io-graph");
    let g = Graph::new();
    let x = g.input([6]);
    let h = Dense::new(6)
        .activation(Activation::Tanh)
        .apply_named("inner", &x);
    let s = add(&[&h, &x]);
    let y = Dense::new(2).apply(&s);
    let mut m = Model::with_seed(&[&x], &[&y], 42).unwrap();
    // Uncompiled models save and load too (no optimizer file).
    m.save(&dir).unwrap();
    assert!(!dir.join(io::OPTIMIZER_FILE).exists());
    let mut back = Model::load(&dir).unwrap();
    assert!(back.train_config().is_none());
    assert_eq!(back.seed(), 42);
    assert_eq!(m.layers().len(), back.layers().len());
    let xs = neuroxide::Tensor::new([2, 6], (0..12).map(|i| i as f32 * 0.1).collect()).unwrap();
    assert_eq!(m.predict(&xs).unwrap(), back.predict(&xs).unwrap());
    let arch = io::Architecture::of(&back);
    assert_eq!(arch.nodes[1].name, "inner");
    assert_eq!(arch.nodes[2].kind, "Add");
    assert_eq!(arch.nodes[2].inputs, ["inner", "input_1"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resuming_from_a_checkpoint_is_bit_identical_to_never_stopping() {
    let dir = temp_dir("io-resume");
    let data = blobs(100, 5);
    let opts = || quiet().batch_size(16).seed(9).validation_split(0.2);

    // Two epochs straight (dropout makes the step counter matter).
    let mut straight = classifier_with_dropout(4);
    let h2 = straight.fit_dataset(&data, opts().epochs(2)).unwrap();

    // One epoch, checkpoint, a fresh process's view of it, one more epoch.
    let mut first = classifier_with_dropout(4);
    let h1 = first
        .fit_dataset(
            &data,
            opts()
                .epochs(1)
                .callback(ModelCheckpoint::new(dir.join("ckpt"))),
        )
        .unwrap();
    drop(first);
    let mut saved = io::load(dir.join("ckpt")).unwrap();
    let done = saved.training.as_ref().unwrap().epochs_completed;
    assert_eq!(done, 1);
    let h_rest = saved
        .model
        .fit_dataset(&data, opts().epochs(2).initial_epoch(done))
        .unwrap();
    assert_eq!(h_rest.epochs[0].epoch, 1);

    for name in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        let mut resumed = bits(&h1, name);
        resumed.extend(bits(&h_rest, name));
        assert_eq!(resumed, bits(&h2, name), "{name}");
    }
    assert_eq!(weight_bits(&mut straight), weight_bits(&mut saved.model));
    assert_eq!(straight.optimizer_steps(), saved.model.optimizer_steps());
    let s1 = straight.optimizer_state().unwrap().unwrap();
    let s2 = saved.model.optimizer_state().unwrap().unwrap();
    let flat = |s: Vec<Vec<Vec<f32>>>| {
        s.into_iter()
            .flatten()
            .flatten()
            .map(f32::to_bits)
            .collect::<Vec<_>>()
    };
    assert_eq!(flat(s1), flat(s2));

    // Without the optimizer state the continuation differs (Adam restarts): the test can fail.
    let mut no_state = io::load(dir.join("ckpt")).unwrap();
    // (Deleting the state file by hand is refused by the manifest: save again without it.)
    let mut copy = io::load(dir.join("ckpt")).unwrap();
    let no_opt = io::SaveOptions {
        preprocessing: copy.preprocessing.clone(),
        epochs_completed: copy.training.as_ref().map(|t| t.epochs_completed),
        include_optimizer: false,
    };
    io::save(&mut copy.model, dir.join("ckpt-no-opt"), &no_opt).unwrap();
    assert!(!dir.join("ckpt-no-opt").join(io::OPTIMIZER_FILE).exists());
    let mut fresh = io::load(dir.join("ckpt-no-opt")).unwrap();
    no_state
        .model
        .fit_dataset(&data, opts().epochs(2).initial_epoch(1))
        .unwrap();
    fresh
        .model
        .fit_dataset(&data, opts().epochs(2).initial_epoch(1))
        .unwrap();
    assert_eq!(weight_bits(&mut no_state.model), weight_bits(&mut straight));
    assert_ne!(weight_bits(&mut fresh.model), weight_bits(&mut straight));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sgd_and_rmsprop_state_round_trips() {
    let dir = temp_dir("io-optims");
    let data = blobs(48, 2);
    for (i, opt) in [
        optim::sgd(0.1),
        optim::sgd_momentum(0.05, 0.9, true, 1e-4),
        optim::rmsprop(1e-3),
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = classifier(1);
        m.compile(opt, Loss::cross_entropy()).unwrap();
        m.fit_dataset(&data, quiet().epochs(1).batch_size(16))
            .unwrap();
        let d = dir.join(i.to_string());
        m.save(&d).unwrap();
        let mut back = Model::load(&d).unwrap();
        assert_eq!(back.optimizer_steps(), 3);
        assert_eq!(back.train_config().unwrap().optimizer, opt);
        m.fit_dataset(&data, quiet().epochs(1).batch_size(16))
            .unwrap();
        back.fit_dataset(&data, quiet().epochs(1).batch_size(16))
            .unwrap();
        assert_eq!(weight_bits(&mut m), weight_bits(&mut back), "{opt:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_same_tensors_serialise_to_the_same_bytes() {
    use neuroxide::io::tensors::{serialize_tensors, NamedTensor};
    use std::collections::HashMap;
    let tensors: Vec<NamedTensor> = (0..12)
        .map(|i| NamedTensor {
            name: format!("layer_{i}/kernel"),
            shape: vec![2, 3],
            values: (0..6).map(|v| (v * i) as f32 * 0.5).collect(),
        })
        .collect();
    let path = std::path::Path::new("weights.safetensors");
    let meta = || -> HashMap<String, String> {
        (0..8)
            .map(|i| (format!("key{i}"), format!("{i}")))
            .collect()
    };
    // Each HashMap has its own hash order; the files must not.
    let a = serialize_tensors(path, &tensors, meta()).expect("a");
    let b = serialize_tensors(path, &tensors, meta()).expect("b");
    assert_eq!(a, b);
    let n = u64::from_le_bytes(a[..8].try_into().expect("len")) as usize;
    assert_eq!(n % 8, 0, "the header is padded to 8 bytes");
    let header = std::str::from_utf8(&a[8..8 + n]).expect("utf-8");
    let key0 = header.find("\"key0\"").expect("key0");
    let key7 = header.find("\"key7\"").expect("key7");
    let sha = header.find("\"sha256/layer_0/kernel\"").expect("checksum");
    assert!(key0 < key7 && key7 < sha, "sorted metadata: {header}");
    // And it still loads.
    let dir = std::env::temp_dir().join(format!("nx-sorted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("w.safetensors");
    std::fs::write(&file, &a).expect("write");
    let loaded = neuroxide::io::tensors::read_tensors(&file).expect("read");
    assert_eq!(loaded.tensors.len(), 12);
    std::fs::remove_dir_all(&dir).ok();
}
