//! After the first training step, `Model::train_step` makes no heap allocation: every buffer is
//! planned when the model is first run. A counting global allocator (alone in this test binary)
//! counts allocations on every thread, including the CPU pool's workers.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocs, model, BYTES};
use neuroxide::Tensor;
use std::sync::atomic::Ordering;

#[test]
fn train_step_makes_no_heap_allocation_after_the_first() {
    const ROWS: usize = 192;
    const STEPS: usize = 20;
    let mut m = model();
    let xs = Tensor::new(
        [ROWS, 32],
        (0..ROWS * 32)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect(),
    )
    .unwrap();
    let ys = Tensor::new(
        [ROWS, 4],
        (0..ROWS * 4)
            .map(|i| ((i * 13 % 17) as f32 / 8.0) - 1.0)
            .collect(),
    )
    .unwrap();
    // The first step plans the buffers and the optimizer state (and proves the counter counts).
    let before_first = allocs();
    m.train_step(&[&xs], &[&ys]).unwrap();
    assert!(
        allocs() - before_first > 10,
        "the first step must allocate its buffers; is the counting allocator installed?"
    );
    let first_loss = m.last_loss().unwrap();

    let mut per_step = [0usize; STEPS];
    let mut failed = None;
    let before_all = allocs();
    for (s, count) in per_step.iter_mut().enumerate() {
        let before = allocs();
        if let Err(e) = m.train_step(&[&xs], &[&ys]) {
            failed = Some((s, e));
            break;
        }
        *count = allocs() - before;
    }
    let total = allocs() - before_all;
    let bytes = BYTES.load(Ordering::SeqCst);

    if let Some((s, e)) = failed {
        panic!("train_step {s} failed: {e}");
    }
    let last_loss = m.last_loss().unwrap();
    assert!(
        last_loss < first_loss,
        "the model must train: loss {first_loss} -> {last_loss}"
    );
    assert_eq!(m.optimizer_steps(), STEPS as u64 + 1);
    assert_eq!(
        total, 0,
        "{total} heap allocations in {STEPS} train_step calls after the first; per step: \
         {per_step:?} ({bytes} bytes allocated in the whole run)"
    );
}
