//! The play classifier (issue 11, deliver 6) on a CI-sized run: the eight plays are found,
//! train and test windows never overlap, and a small model trained for a few hundred steps
//! classifies held-out windows far above the 12.5% chance level.

use neuroxide_examples::play_classifier::{
    load_splits, play_ranges, test_set, train, train_batch, PlayOptions, PLAYS, WINDOW,
};
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

#[test]
fn plays_are_found_and_split() {
    let text = neuroxide::data::load_shakespeare(data_dir()).unwrap();
    let ranges = play_ranges(&text).unwrap();
    assert_eq!(ranges.len(), 8);
    assert_eq!(ranges[0].start, 0);
    assert_eq!(ranges[7].end, text.len());
    for (r, title) in ranges.iter().zip(PLAYS) {
        assert!(text[r.clone()].starts_with(title), "{title}");
        assert!(r.len() > 90_000, "{title}: {} bytes", r.len());
    }
    let err = play_ranges("HAMLET, PRINCE OF DENMARK\n\nby William Shakespeare\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("play 'MACBETH' not found"), "{err}");
    let s = load_splits(&data_dir()).unwrap();
    for p in 0..8 {
        // The held-out part is the last 10% of each play.
        let n = s.train[p].len() + s.test[p].len();
        assert_eq!(s.test[p].len(), n / 10);
    }
    let (x, y) = train_batch(&s.train, 16, 3, 5).unwrap();
    assert_eq!(x.shape(), [16, WINDOW]);
    assert_eq!(&y.ids().unwrap()[..9], &[0, 1, 2, 3, 4, 5, 6, 7, 0]);
    let (tx, labels) = test_set(&s.test, 5).unwrap();
    assert_eq!(labels.len(), 40);
    assert_eq!(tx.shape(), [40, WINDOW]);
}

#[test]
fn small_classifier_beats_chance_on_held_out_windows() {
    let o = PlayOptions {
        steps: 200,
        batch: 32,
        dim: 32,
        heads: 2,
        ff: 64,
        test_per_play: 40,
        seed: 1,
        ..PlayOptions::default()
    };
    let r = train(&data_dir(), &o, &mut |_| {}).unwrap();
    println!(
        "play classifier (CI): test accuracy {:.3} on {} windows, train loss {}",
        r.test_accuracy, r.test_windows, r.final_train_loss
    );
    assert_eq!(r.test_windows, 320);
    // Measured 0.366 (200 steps, d 32); the bound is twice the 12.5% chance level.
    assert!(r.test_accuracy > 0.25, "accuracy {}", r.test_accuracy);
}
