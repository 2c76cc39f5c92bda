//! After the first prefetched step, `Model::prefetch` + `Model::train_step_prefetched` makes no heap allocation: every buffer is
//! planned when the model is first run. A counting global allocator (alone in this test binary)
//! counts allocations on every thread, including the CPU pool's workers.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocs, model};
use neuroxide::Tensor;

#[test]
fn prefetched_train_step_makes_no_heap_allocation_after_the_first() {
    const ROWS: usize = 192;
    const STEPS: usize = 20;
    let mut m = model();
    let batch = |k: usize| {
        let xs = Tensor::new(
            [ROWS, 32],
            (0..ROWS * 32)
                .map(|i| (((i + k) * 37 % 101) as f32 / 50.0) - 1.0)
                .collect(),
        )
        .unwrap();
        let ys = Tensor::new(
            [ROWS, 4],
            (0..ROWS * 4)
                .map(|i| (((i + k) * 13 % 17) as f32 / 8.0) - 1.0)
                .collect(),
        )
        .unwrap();
        (xs, ys)
    };
    let batches: Vec<_> = (0..2).map(batch).collect();
    // The first prefetch and step plan the buffers, the staging set and the optimizer state.
    let before_first = allocs();
    m.prefetch(&[&batches[0].0], &[&batches[0].1]).unwrap();
    m.train_step_prefetched().unwrap();
    assert!(
        allocs() - before_first > 10,
        "the first step must allocate its buffers; is the counting allocator installed?"
    );
    let mut per_step = [0usize; STEPS];
    let before_all = allocs();
    for (s, count) in per_step.iter_mut().enumerate() {
        let before = allocs();
        let (xs, ys) = &batches[(s + 1) % 2];
        m.prefetch(&[xs], &[ys])
            .unwrap_or_else(|e| panic!("prefetch {s}: {e}"));
        m.train_step_prefetched()
            .unwrap_or_else(|e| panic!("train_step_prefetched {s}: {e}"));
        *count = allocs() - before;
    }
    let total = allocs() - before_all;
    assert_eq!(m.optimizer_steps(), STEPS as u64 + 1);
    assert!(m.last_loss().unwrap().is_finite());
    assert_eq!(
        total, 0,
        "{total} heap allocations in {STEPS} prefetch + train_step_prefetched pairs after the \
         first; per step: {per_step:?}"
    );
}
