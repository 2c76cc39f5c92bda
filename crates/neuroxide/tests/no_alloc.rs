//! After the first training step, `Model::train_step` makes no heap allocation: every buffer is
//! planned when the model is first run. A counting global allocator (alone in this test binary)
//! counts allocations on every thread, including the CPU pool's workers.

use neuroxide::graph::{add, LayerApply};
use neuroxide::layers::{ActivationLayer, Dense, Dropout};
use neuroxide::{optim, Activation, Device, Graph, Loss, Model, Tensor};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        BYTES.fetch_add(layout.size(), Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        BYTES.fetch_add(layout.size(), Ordering::SeqCst);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        BYTES.fetch_add(new_size, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.load(Ordering::SeqCst)
}

/// The counter is global: tests of this binary run one at a time so they do not count each
/// other's allocations.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `x → Dense(96, relu) → Dropout(0.1) → Dense(96) → Activation(silu) → add(·, first)
///    → Dense(4, tanh)`, Adam, MSE. Batch 192: the hidden activations (18 432 values) are above
/// the pool's split threshold, so both threads really work.
fn model() -> Model {
    let g = Graph::new();
    let x = g.input([32]);
    let h1 = Dense::new(96).relu().apply(&x);
    let d = Dropout::new(0.1).apply(&h1);
    let h2 = Dense::new(96).apply(&d);
    let a = ActivationLayer::new(Activation::Silu).apply(&h2);
    let r = add(&[&a, &h1]);
    let y = Dense::new(4).activation(Activation::Tanh).apply(&r);
    let mut m = Model::with_seed(&[&x], &[&y], 3).expect("build");
    m.to_device(Device::cpu_threads(2)).expect("device");
    m.compile(optim::adam(1e-3), Loss::mse()).expect("compile");
    m
}

#[test]
fn train_step_makes_no_heap_allocation_after_the_first() {
    let _serial = serial();
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

#[test]
fn prefetched_train_step_makes_no_heap_allocation_after_the_first() {
    let _serial = serial();
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
