//! The validation report: table rendering, failure detection (criteria, errors, parity, thread
//! parity) and the row names in failure messages.

use neuroxide::{Device, Result, Tensor};
use neuroxide_examples::validate::report::{escape_cell, time_per_step};
use neuroxide_examples::validate::{
    validate_examples, Budget, Criterion, DeviceSelection, Example, ExampleRun, Outcome, Parity,
    ParityStats, Report, Row, SystemInfo, ValidateOptions,
};

fn sys(gpu: Option<&str>) -> SystemInfo {
    SystemInfo {
        date: "2026-01-02 03:04 UTC".into(),
        commit: "abc123".into(),
        cpu: "Test CPU".into(),
        cpu_threads: 2,
        gpu: gpu.map_or("none: no GPU in this test".into(), str::to_string),
        driver: "none: test".into(),
        cuda: "none: test".into(),
        gpu_available: gpu.is_some(),
    }
}

fn row(cpu: Outcome, gpu: Outcome, parity: Parity) -> Row {
    Row {
        name: "xor".into(),
        title: "XOR (2-4-1 MLP)".into(),
        criterion: Criterion::below("max |err|", 0.1),
        cpu,
        gpu,
        parity,
        checks: vec![("CPU 2 vs 1 thread(s): bit-identical".into(), true)],
        notes: vec!["500 steps".into()],
    }
}

fn report(rows: Vec<Row>) -> Report {
    Report {
        system: sys(None),
        command: "neuroxide validate --quick".into(),
        budget: "quick".into(),
        rows,
        wall_s: 1.25,
        notes: vec!["exact mode only".into()],
    }
}

fn stats(compared: usize, differing: usize, max_ulp: u64) -> ParityStats {
    ParityStats {
        compared,
        differing,
        max_ulp,
        first_difference: (differing > 0).then_some(0),
    }
}

#[test]
fn table_cells_come_from_the_measurements() {
    let r = report(vec![row(
        Outcome::Measured {
            metric: 0.012,
            steps: 500,
            ms_per_step: 0.004,
        },
        Outcome::Measured {
            metric: 0.012,
            steps: 500,
            ms_per_step: 0.002,
        },
        Parity::Compared {
            losses: stats(500, 0, 0),
            weights: stats(17, 0, 0),
        },
    )]);
    let table = r.render_table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0],
        "| Example | CPU success | GPU success | Parity (CPU vs CUDA, exact mode) | Speed | Notes |"
    );
    assert_eq!(
        lines[2],
        "| XOR (2-4-1 MLP) | max \\|err\\| 0.012 < 0.1 | max \\|err\\| 0.012 < 0.1 \
         | bit-identical: 500 step losses + 17 weight elements compared, 0 differing, max ulp 0 \
         | CPU 4 µs/step, CUDA 2 µs/step; CUDA/CPU speed 2× \
         | CPU 2 vs 1 thread(s): bit-identical; 500 steps |"
    );
    assert!(r.passed());
    let md = r.render_markdown();
    for needle in [
        "# Neuroxide validation report",
        "- Date: 2026-01-02 03:04 UTC",
        "- Commit: abc123",
        "- CPU: Test CPU, 2 threads",
        "- GPU: none: no GPU in this test",
        "- Driver: none: test; CUDA: none: test",
        "- Wall time of the run: 1.2 s",
        "- Result: PASS",
        "- exact mode only",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    // The headline says what was not measured when a row has no GPU run or no parity.
    let unmeasured = r
        .rows
        .iter()
        .any(|row| matches!(row.parity, Parity::NotMeasured(_)));
    assert_eq!(
        md.contains("CPU/GPU parity not measured"),
        unmeasured,
        "{md}"
    );
    assert!(!md.contains("## Failures"));
}

#[test]
fn each_kind_of_failure_names_its_row() {
    let ok = Outcome::Measured {
        metric: 0.01,
        steps: 10,
        ms_per_step: 1.0,
    };
    // Criterion failed on the GPU.
    let r = row(
        ok.clone(),
        Outcome::Measured {
            metric: 0.5,
            steps: 10,
            ms_per_step: 1.0,
        },
        Parity::NotMeasured("x".into()),
    );
    assert_eq!(
        r.failures(),
        vec!["XOR (2-4-1 MLP): GPU: FAIL: max |err| 0.5 ≥ 0.1".to_string()]
    );
    assert_eq!(r.gpu_cell(), "FAIL: max |err| 0.5 ≥ 0.1");
    // Parity: 3 differing elements, max 7 ulp.
    let r = row(
        ok.clone(),
        ok.clone(),
        Parity::Compared {
            losses: stats(10, 1, 2),
            weights: stats(17, 2, 7),
        },
    );
    let f = r.failures();
    assert_eq!(f.len(), 1);
    assert!(f[0].starts_with("XOR (2-4-1 MLP): parity: FAIL: not bit-identical"));
    assert!(f[0].contains("3 differing, max ulp 7"), "{}", f[0]);
    // A run error and a failed thread check.
    let mut r = row(
        Outcome::Error("boom".into()),
        Outcome::NotAvailable("no GPU".into()),
        Parity::NotMeasured("no CPU run".into()),
    );
    r.checks = vec![("CPU 2 vs 1 thread(s): not bit-identical".into(), false)];
    assert_eq!(
        r.failures(),
        vec![
            "XOR (2-4-1 MLP): CPU: error: boom".to_string(),
            "XOR (2-4-1 MLP): CPU 2 vs 1 thread(s): not bit-identical".to_string()
        ]
    );
    assert_eq!(r.gpu_cell(), "not available: no GPU");
    let rep = report(vec![r]);
    assert!(!rep.passed());
    let md = rep.render_markdown();
    assert!(md.contains("- Result: FAIL (2 failed check(s), listed below)"));
    assert!(md.contains("## Failures\n\n- XOR (2-4-1 MLP): CPU: error: boom\n"));
    // Not available is not a failure.
    let r = row(
        ok,
        Outcome::NotAvailable("no GPU".into()),
        Parity::NotMeasured("no CUDA run".into()),
    );
    assert!(r.failures().is_empty());
    assert_eq!(r.speed_cell(), "CPU 1 ms/step; CUDA —");
}

#[test]
fn cells_escape_table_syntax() {
    assert_eq!(escape_cell("a|b\nc"), "a\\|b c");
    assert_eq!(time_per_step(0.0123), "12.3 µs/step");
    assert_eq!(time_per_step(264.0), "264 ms/step");
}

fn fake_run(metric: f64, seed: u64) -> ExampleRun {
    ExampleRun {
        metric,
        losses: vec![1.0, 0.5, seed as f32],
        weights: vec![("w".into(), Tensor::new([2], vec![1.0, 2.0]).unwrap())],
        steps: 3,
        ms_per_step: 2.0,
        detail: "fake".into(),
    }
}

fn fake_good(_: Device, _: &Budget, seed: u64) -> Result<ExampleRun> {
    Ok(fake_run(0.05, seed))
}

/// Different bits with 1 thread than with more: the thread-parity check must catch it.
fn fake_thread_dependent(d: Device, _: &Budget, seed: u64) -> Result<ExampleRun> {
    let mut r = fake_run(0.05, seed);
    if d == Device::cpu_threads(1) {
        r.weights[0].1.data_mut()[1] = f32::from_bits(2.0f32.to_bits() + 4);
    }
    Ok(r)
}

fn fake_error(_: Device, _: &Budget, _: u64) -> Result<ExampleRun> {
    Err(neuroxide::Error::invalid("the data file is missing"))
}

fn fake_examples() -> Vec<Example> {
    let e = |name, title, run| Example {
        name,
        title,
        criterion: Criterion::below("err", 0.1),
        quick_threshold: None,
        run,
    };
    vec![
        e(
            "good",
            "Good",
            Ok(fake_good as neuroxide_examples::validate::examples::RunFn),
        ),
        e("threads", "Threads", Ok(fake_thread_dependent)),
        e("broken", "Broken", Ok(fake_error)),
        e("absent", "Absent", Err("no such layers yet".into())),
    ]
}

#[test]
fn thresholds_force_failures_and_rows_are_named() {
    let mut log = Vec::new();
    let opts = ValidateOptions {
        only: vec!["good".into(), "absent".into()],
        ..ValidateOptions::default()
    };
    let rep = validate_examples(fake_examples(), sys(None), &opts, &mut |l| {
        log.push(l.to_string())
    })
    .unwrap();
    assert!(rep.passed(), "{:?}", rep.failures());
    assert_eq!(rep.rows.len(), 2);
    assert_eq!(rep.rows[0].cpu_cell(), "err 0.05 < 0.1");
    assert_eq!(rep.rows[0].gpu_cell(), "not available: no GPU in this test");
    assert_eq!(rep.rows[1].cpu_cell(), "not available: no such layers yet");
    assert!(log.iter().any(|l| l.contains("good: training on cpu")));

    // The same run with the threshold forced below the measured value fails and names the row.
    let opts = ValidateOptions {
        thresholds: vec![("good".into(), 0.01)],
        ..opts
    };
    let rep = validate_examples(fake_examples(), sys(None), &opts, &mut |_| {}).unwrap();
    assert_eq!(
        rep.failures(),
        vec!["Good: CPU: FAIL: err 0.05 ≥ 0.01".to_string()]
    );

    // Unknown names are an error, not a silently empty report.
    let bad = ValidateOptions {
        thresholds: vec![("nope".into(), 1.0)],
        ..ValidateOptions::default()
    };
    let err = validate_examples(fake_examples(), sys(None), &bad, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("unknown example 'nope'"));
}

#[test]
fn errors_thread_parity_and_requested_cuda_fail() {
    let opts = ValidateOptions::default();
    let rep = validate_examples(fake_examples(), sys(None), &opts, &mut |_| {}).unwrap();
    let f = rep.failures();
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(
        f[0],
        "Threads: CPU 2 vs 1 thread(s): not bit-identical (3 losses + 2 weight elements, 1 differing, max ulp 4)"
    );
    assert_eq!(f[1], "Broken: CPU: error: the data file is missing");

    // Asking for CUDA on a machine without one is a failure of every available row.
    let opts = ValidateOptions {
        devices: DeviceSelection::Cuda,
        only: vec!["good".into()],
        ..ValidateOptions::default()
    };
    let rep = validate_examples(fake_examples(), sys(None), &opts, &mut |_| {}).unwrap();
    assert_eq!(rep.rows[0].cpu, Outcome::NotRequested);
    assert_eq!(
        rep.failures(),
        vec!["Good: GPU: error: --device cuda, but no GPU in this test".to_string()]
    );
}

#[test]
fn real_xor_passes_and_forced_threshold_fails() {
    let opts = ValidateOptions {
        only: vec!["xor".into()],
        ..ValidateOptions::default()
    };
    let rep = neuroxide_examples::validate::validate(&opts, &mut |_| {}).unwrap();
    assert!(rep.passed(), "{:?}", rep.failures());
    let Outcome::Measured { metric, steps, .. } = rep.rows[0].cpu else {
        panic!("xor did not run: {:?}", rep.rows[0].cpu);
    };
    assert!(metric < 0.1 && steps == 500);
    assert!(rep.rows[0].notes_cell().contains("bit-identical"));
    let opts = ValidateOptions {
        thresholds: vec![("xor".into(), 1e-9)],
        thread_parity: false,
        ..opts
    };
    let rep = neuroxide_examples::validate::validate(&opts, &mut |_| {}).unwrap();
    let f = rep.failures();
    assert_eq!(f.len(), 1);
    assert!(
        f[0].starts_with("XOR (2-4-1 MLP): CPU: FAIL: max |err|"),
        "{}",
        f[0]
    );
}

#[test]
fn csv_row_trains_iris_and_logs_every_step() {
    let budget = Budget {
        quick: true,
        parity_subset: false,
    };
    let r = neuroxide_examples::validate::examples::run_csv(Device::cpu(), &budget, 1).unwrap();
    // 120 training rows in batches of 32 → 4 steps per epoch.
    assert_eq!(budget.csv_epochs(), 100);
    assert_eq!(r.steps, 400);
    assert_eq!(r.losses.len(), 400);
    assert!(r.losses.iter().all(|l| l.is_finite()));
    assert!(
        r.losses[399] < r.losses[0] / 4.0,
        "{} → {}",
        r.losses[0],
        r.losses[399]
    );
    assert!(r.metric >= 90.0, "iris accuracy {}%", r.metric);
    assert_eq!(
        r.weights.iter().map(|(_, t)| t.data().len()).sum::<usize>(),
        4 * 64 + 64 + 64 * 32 + 32 + 32 * 3 + 3
    );
    assert!(r.detail.contains("on 30 rows"), "{}", r.detail);
}

#[test]
fn a_cpu_only_pass_says_what_was_not_measured() {
    let r = report(vec![row(
        Outcome::Measured {
            metric: 0.012,
            steps: 500,
            ms_per_step: 0.004,
        },
        Outcome::NotAvailable("no GPU".into()),
        Parity::NotMeasured("no GPU".into()),
    )]);
    assert!(r.passed());
    let md = r.render_markdown();
    let headline = md
        .lines()
        .find(|l| l.starts_with("- Result: "))
        .expect("headline");
    assert!(headline.starts_with("- Result: PASS"), "{headline}");
    assert!(headline.contains("GPU runs not measured: "), "{headline}");
    assert!(headline.contains("(no GPU)"), "{headline}");
    assert!(
        headline.contains("CPU/GPU parity not measured: "),
        "{headline}"
    );
}
