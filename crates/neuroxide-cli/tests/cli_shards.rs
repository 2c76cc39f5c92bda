//! `--shards R` on `neuroxide train` and `neuroxide launch`: sharded runs are deterministic and
//! differ from unsharded ones, bad shard counts and bad launches are clear errors, and a rank
//! that fails stops the job with an error naming it.

#[path = "support/cli.rs"]
mod cli;

use cli::{run, stderr, stdout};

fn iris(extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "csv",
        "--file",
        "data/iris.csv",
        "--target",
        "species",
        "--epochs",
        "3",
        "--patience",
        "0",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn sharded_csv_training_is_deterministic() {
    let a = iris(&["--shards", "2", "--batch-size", "8"]);
    assert!(a.status.success(), "{}", stderr(&a));
    let b = iris(&["--shards", "2", "--batch-size", "8"]);
    assert_eq!(stdout(&a), stdout(&b), "two --shards 2 runs differ");
    let one = iris(&["--shards", "1", "--batch-size", "8"]);
    let plain = iris(&["--batch-size", "8"]);
    assert_eq!(
        stdout(&one),
        stdout(&plain),
        "--shards 1 is not plain training"
    );
}

#[test]
fn indivisible_batch_is_a_clear_error() {
    let o = iris(&["--shards", "3", "--batch-size", "32"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("32 rows does not split into 3 equal shards"),
        "{e}"
    );
}

#[test]
fn launch_reports_a_failing_rank_and_stops_the_job() {
    // Every rank refuses the CPU in a data-parallel launch: the first to exit stops the job.
    let o = run(&[
        "launch",
        "--gpus",
        "2",
        "--",
        "train",
        "csv",
        "--file",
        "data/iris.csv",
        "--device",
        "cpu",
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("WORLD_SIZE=2") && e.contains("--device cuda"),
        "{e}"
    );
    assert!(
        e.contains("launch: rank ") && e.contains("exited with"),
        "{e}"
    );
    let o = run(&["launch", "--gpus", "0", "--", "train", "xor"]);
    assert!(
        stderr(&o).contains("--gpus must be at least 1"),
        "{}",
        stderr(&o)
    );
    let o = run(&["launch", "--gpus", "1", "--", "evaluate"]);
    assert!(stderr(&o).contains("must be `train"), "{}", stderr(&o));
}

#[test]
fn launch_runs_bench_and_a_bench_rank_without_its_gpu_is_a_clear_error() {
    // `bench` is accepted after `--`; on the CPU every rank refuses, and the job stops.
    let o = run(&[
        "launch", "--gpus", "2", "--", "bench", "xor_mlp", "--device", "cpu",
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("WORLD_SIZE=2") && e.contains("pass --device cuda"),
        "{e}"
    );
    assert!(e.contains("launch: rank "), "{e}");
    let o = run(&["launch", "--gpus", "1", "--", "evaluate"]);
    assert!(
        stderr(&o).contains("`train …` or `bench …`"),
        "{}",
        stderr(&o)
    );
    // One rank of a job (as torchrun starts it) with `--device cuda`: without a GPU an error
    // naming the device, with one a rendezvous that times out (its peer never comes); never a
    // hang, never a panic.
    let start = std::time::Instant::now();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_neuroxide"))
        .args(["bench", "xor_mlp", "--device", "cuda", "--json"])
        .current_dir(cli::repo())
        .env("WORLD_SIZE", "2")
        .env("RANK", "1")
        .env("LOCAL_RANK", "0")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", "9")
        .env("NEUROXIDE_RENDEZVOUS_TIMEOUT", "2")
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(!o.status.success() && stdout(&o).is_empty(), "{e}");
    assert!(
        e.contains("error: bench xor_mlp as rank 1 of 2: cuda:0 is not available")
            || e.contains("could not reach rank 0"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
    assert!(start.elapsed().as_secs() < 60);
}
