//! `neuroxide bench`: the JSON schema of a record (shared with benches/pytorch_reference.py),
//! the workload table of WORKLOADS.md, and the timing protocol on a real (short) run.

use neuroxide::{Device, Mode};
use neuroxide_examples::bench::{run_workload, workload, workloads, BenchOptions, BenchRecord};
use serde_json::Value;

const FIELDS: [&str; 17] = [
    "framework",
    "workload",
    "device",
    "device_name",
    "mode",
    "ms_per_step",
    "items_per_s",
    "unit",
    "tflops",
    "peak_mem_mib",
    "launches_per_step",
    "batch",
    "world_size",
    "steps",
    "runs",
    "run_ms_per_step",
    "skipped",
];

fn quick() -> BenchOptions {
    BenchOptions {
        warmup_steps: 5,
        warmup_s: 0.0,
        run_s: 0.02,
        runs: 3,
        ..BenchOptions::default()
    }
}

fn parse(line: &str) -> serde_json::Map<String, Value> {
    assert!(!line.contains('\n'), "one record per line: {line}");
    match serde_json::from_str::<Value>(line).unwrap() {
        Value::Object(m) => m,
        v => panic!("not an object: {v}"),
    }
}

fn keys(m: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut k: Vec<String> = m.keys().cloned().collect();
    k.sort();
    k
}

fn sorted_fields() -> Vec<String> {
    let mut f: Vec<String> = FIELDS.iter().map(|s| s.to_string()).collect();
    f.sort();
    f
}

#[test]
fn a_timed_record_has_every_field_with_its_type() {
    let w = workload("xor_mlp").unwrap();
    let r = run_workload(&w, Device::cpu(), Mode::Exact, &quick()).unwrap();
    let m = parse(&r.to_json_line());
    assert_eq!(keys(&m), sorted_fields());
    assert_eq!(m["framework"], "neuroxide");
    assert_eq!(m["workload"], "xor_mlp");
    assert_eq!(m["device"], "cpu");
    assert_eq!(m["mode"], "exact");
    assert_eq!(m["unit"], "steps");
    assert_eq!(m["batch"], 4);
    assert_eq!(m["world_size"], 1);
    assert!(m["tflops"].is_null() && m["skipped"].is_null());
    // The planned bytes of the 2-4-1 XOR MLP on the CPU: a positive number, not null.
    let mib = m["peak_mem_mib"].as_f64().unwrap();
    assert!(mib > 0.0 && mib < 1.0, "{mib}");
    let ms = m["ms_per_step"].as_f64().unwrap();
    let runs: Vec<f64> = m["run_ms_per_step"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(runs.len(), 3);
    assert_eq!(m["runs"], 3);
    // The reported time is the median run; XOR's item is a step.
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(ms, sorted[1]);
    assert!(ms > 0.0 && ms < 50.0, "{ms} ms per XOR step");
    let ips = m["items_per_s"].as_f64().unwrap();
    assert!((ips * ms / 1e3 - 1.0).abs() < 1e-9);
    assert!(m["steps"].as_u64().unwrap() >= 3);
    // Round trip (serde_json's float parsing may move the last bit).
    let back: BenchRecord = serde_json::from_str(&r.to_json_line()).unwrap();
    assert_eq!((back.workload.as_str(), back.steps), ("xor_mlp", r.steps));
    assert!((back.ms_per_step.unwrap() / ms - 1.0).abs() < 1e-12);
}

#[test]
fn mnist_mlp_counts_images_and_trains_on_valid_batches() {
    let w = workload("mnist_mlp_b64").unwrap();
    let mut m = w.build(3).unwrap();
    assert_eq!(
        m.param_count(),
        784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    );
    let b = w.batches(3).unwrap();
    assert_eq!(b.len(), 4);
    assert_ne!(b[0].0.data(), b[1].0.data(), "the four batches differ");
    for (x, y) in &b {
        assert_eq!(x.shape(), &[64, 784]);
        assert!(x.data().iter().all(|&v| (0.0..1.0).contains(&v)));
        assert!(y.ids().unwrap().iter().all(|c| (0..10).contains(c)));
    }
    // Loss of a random 10-class batch starts near ln 10.
    let l = m.train_on_batch(&b[0].0, &b[0].1).unwrap();
    assert!((l - 10f32.ln()).abs() < 0.5, "initial loss {l}");
    let r = run_workload(&w, Device::cpu(), Mode::Exact, &quick()).unwrap();
    assert_eq!(r.unit, "images");
    let ms = r.ms_per_step.unwrap();
    assert!((r.items_per_s.unwrap() - 64.0 * 1e3 / ms).abs() < 1e-6);
}

#[test]
fn mnist_cnn_builds_the_workload_model_and_trains() {
    let w = workload("mnist_cnn_b64").unwrap();
    let mut m = w.build(3).unwrap();
    assert_eq!(
        m.param_count(),
        16 * 9 + 16 + 32 * 16 * 9 + 32 + 1568 * 128 + 128 + 128 * 10 + 10
    );
    let b = w.batches(3).unwrap();
    assert_eq!(b.len(), 4);
    assert_eq!(b[0].0.shape(), &[64, 784]);
    let l = m.train_on_batch(&b[0].0, &b[0].1).unwrap();
    assert!((l - 10f32.ln()).abs() < 0.5, "initial loss {l}");
    let r = run_workload(&w, Device::cpu(), Mode::Exact, &quick()).unwrap();
    assert_eq!(r.unit, "images");
    assert!(r.skipped.is_none(), "{:?}", r.skipped);
}

#[test]
fn skipped_records_say_why_and_measure_nothing() {
    let names: Vec<&str> = workloads().iter().map(|w| w.name).collect();
    assert_eq!(
        names,
        [
            "xor_mlp",
            "mnist_mlp_b64",
            "mnist_mlp_b512",
            "mnist_mlp_fit",
            "mnist_cnn_b64",
            "mnist_cnn_b512",
            "mini_transformer",
            "gpt_small",
            "global_norm_124m"
        ]
    );
    let cases = [
        (
            "gpt_small",
            Device::cpu(),
            Mode::Exact,
            "CUDA-only workload",
        ),
        (
            "xor_mlp",
            Device::cpu(),
            Mode::Fast,
            "fast mode is not implemented",
        ),
        ("xor_mlp", Device::cuda(0), Mode::Exact, "not available: "),
    ];
    for (name, device, mode, why) in cases {
        let r = run_workload(&workload(name).unwrap(), device, mode, &quick()).unwrap();
        let m = parse(&r.to_json_line());
        assert_eq!(keys(&m), sorted_fields());
        if device.is_cuda() && r.skipped.is_none() {
            // A machine with a GPU times it; that is fine too.
            continue;
        }
        let s = m["skipped"].as_str().unwrap();
        assert!(s.contains(why), "{name}: {s}");
        for f in ["ms_per_step", "items_per_s", "tflops", "peak_mem_mib"] {
            assert!(m[f].is_null(), "{name}: {f} = {}", m[f]);
        }
    }
}

#[test]
fn workload_facts_follow_workloads_md() {
    let g = workload("gpt_small").unwrap();
    let f = g.flops_per_step().unwrap();
    assert!((f / 2.21e12 - 1.0).abs() < 0.005, "{f}");
    assert_eq!(g.items_per_step(), 16 * 256);
    assert_eq!(
        workload("mini_transformer").unwrap().items_per_step(),
        32 * 64
    );
    assert!(workload("mnist_mlp_b512")
        .unwrap()
        .flops_per_step()
        .is_none());
    assert_eq!(workload("mnist_mlp_b512").unwrap().batch, 512);
    let e = workload("resnet").unwrap_err().to_string();
    assert!(e.contains("unknown workload 'resnet'") && e.contains("xor_mlp"));
    let too_few = BenchOptions { runs: 2, ..quick() };
    let e = run_workload(
        &workload("xor_mlp").unwrap(),
        Device::cpu(),
        Mode::Exact,
        &too_few,
    );
    assert!(e.unwrap_err().to_string().contains("at least 3"));
}

/// The PyTorch script writes the same fields (plus its torch version and CPU threads), so
/// compare.py can join.
#[test]
fn pytorch_reference_writes_the_same_fields() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../benches/pytorch_reference.py"
    );
    let src = std::fs::read_to_string(path).unwrap();
    let start = src
        .find("    r = {\n")
        .expect("record dict in pytorch_reference.py");
    let end = start + src[start..].find("\n    }").unwrap();
    let mut py: Vec<String> = src[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"'))
        .filter_map(|l| l.split('"').next())
        .map(str::to_string)
        .filter(|k| k != "torch_version" && k != "threads")
        .collect();
    py.sort();
    assert_eq!(py, sorted_fields());
}
