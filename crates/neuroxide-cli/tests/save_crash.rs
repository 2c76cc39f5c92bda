//! Kill a saving process after every step of the save and check that the model directory then
//! loads as either the complete old or the complete new model — never a mix, never an error —
//! and that a later save cleans up what the killed one left.
//!
//! The hook: `NEUROXIDE_CRASH_AT_SAVE_STEP=k` makes the process SIGKILL itself right after step
//! `k` of `neuroxide::io::atomic_dir::replace_dir` (see there for the steps).
#![cfg(unix)]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn neuroxide(args: &[&str], crash_at: Option<usize>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neuroxide"));
    c.args(args).current_dir(repo());
    match crash_at {
        Some(k) => c.env("NEUROXIDE_CRASH_AT_SAVE_STEP", k.to_string()),
        None => c.env_remove("NEUROXIDE_CRASH_AT_SAVE_STEP"),
    };
    c.output().expect("the neuroxide binary runs")
}

fn train(dir: &Path, seed: &str, epochs: &str, crash_at: Option<usize>) -> Output {
    neuroxide(
        &[
            "train",
            "csv",
            "--file",
            "data/iris.csv",
            "--quiet",
            "--seed",
            seed,
            "--epochs",
            epochs,
            "--save",
            dir.to_str().unwrap(),
        ],
        crash_at,
    )
}

/// The predictions of the model in `dir` (stdout of `predict`), or the error.
fn predictions(dir: &Path) -> Result<String, String> {
    let o = neuroxide(
        &[
            "predict",
            "--model",
            dir.to_str().unwrap(),
            "--file",
            "data/iris.csv",
        ],
        None,
    );
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn a_save_killed_at_any_step_leaves_the_old_or_the_new_model() {
    let root = std::env::temp_dir().join(format!("neuroxide-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let (old, new) = (root.join("old"), root.join("new"));
    assert!(train(&old, "1", "2", None).status.success());
    assert!(train(&new, "2", "3", None).status.success());
    let (p_old, p_new) = (predictions(&old).unwrap(), predictions(&new).unwrap());
    assert_ne!(p_old, p_new, "the two models must be told apart");

    // Replacing an existing model.
    let target = root.join("work").join("model");
    let mut outcomes = Vec::new();
    for k in 1.. {
        let _ = std::fs::remove_dir_all(&target);
        copy_dir(&old, &target);
        let o = train(&target, "2", "3", Some(k));
        let killed = o.status.signal() == Some(9);
        let p = predictions(&target)
            .unwrap_or_else(|e| panic!("after a kill at step {k} the model does not load: {e}"));
        let which = if p == p_old {
            "old"
        } else if p == p_new {
            "new"
        } else {
            panic!("after a kill at step {k} the model is neither the old nor the new one")
        };
        if !killed {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert_eq!(which, "new");
            break;
        }
        outcomes.push(which);
        assert!(k < 50, "the save never finished");
    }
    // Every step before the swap leaves the old model, every one after it the new one.
    let swap = outcomes.iter().position(|w| *w == "new").unwrap();
    assert!(swap >= 6, "{outcomes:?}");
    assert!(outcomes[..swap].iter().all(|w| *w == "old"), "{outcomes:?}");
    assert!(outcomes[swap..].iter().all(|w| *w == "new"), "{outcomes:?}");
    // The last killed run left its temporary directory; the finished save removed it.
    assert_eq!(entries(target.parent().unwrap()), ["model"]);

    // Saving where no model was: nothing, or the complete new model.
    let fresh = root.join("fresh").join("model");
    for k in 1.. {
        let _ = std::fs::remove_dir_all(fresh.parent().unwrap());
        let o = train(&fresh, "2", "3", Some(k));
        let killed = o.status.signal() == Some(9);
        match predictions(&fresh) {
            Ok(p) => assert_eq!(p, p_new, "kill at step {k}"),
            Err(e) => {
                assert!(killed);
                assert!(e.contains("not a model directory"), "kill at step {k}: {e}");
            }
        }
        if !killed {
            break;
        }
        assert!(k < 50, "the save never finished");
    }
    println!("replace: {} kill points {outcomes:?}", outcomes.len());
    std::fs::remove_dir_all(&root).unwrap();
}
