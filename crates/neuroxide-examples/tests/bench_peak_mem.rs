//! `bench --json`'s `peak_mem_mib` follows the planner: with buffer reuse (the default) the
//! bench models plan strictly fewer bytes than with every per-batch buffer private, and the
//! plan says what it would take without reuse. Planned ahead of the first step
//! (`Model::plan_for_batch`), so no training step runs here.

use neuroxide::graph::PlannedBytes;
use neuroxide_examples::bench::workloads::workload;

fn planned(name: &str, reuse: bool) -> PlannedBytes {
    let w = workload(name).expect("workload");
    let mut m = w.build(1).expect("build");
    m.set_buffer_reuse(reuse).expect("reuse");
    m.plan_for_batch(w.batch).expect("plan");
    m.planned_bytes().expect("planned")
}

#[test]
fn bench_models_plan_fewer_bytes_with_reuse() {
    for name in ["mnist_mlp_b512", "mini_transformer"] {
        let off = planned(name, false);
        let on = planned(name, true);
        println!(
            "{name}: peak {:.2} MiB with reuse, {:.2} MiB without (activations {:.2} vs {:.2} MiB)",
            on.total_mib(),
            off.total_mib(),
            on.activations as f64 / 1048576.0,
            off.activations as f64 / 1048576.0
        );
        assert_eq!(on.activations_unshared, off.activations, "{name}");
        assert_eq!(on.total_unshared_mib(), off.total_mib(), "{name}");
        assert!(
            on.activations < off.activations,
            "{name}: {on:?} vs {off:?}"
        );
        assert!(
            on.optimizer > 0 && on.optimizer == off.optimizer,
            "{name}: Adam state"
        );
    }
}
