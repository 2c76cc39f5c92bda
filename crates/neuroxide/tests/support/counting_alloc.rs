//! Shared by the no-allocation tests: a counting global allocator (each test binary that
//! includes this module installs it) and the model those tests train.
//!
//! The allocator counts allocations on every thread of the process except the test harness's
//! main thread (whose thread id equals the process id): libtest's main thread waits on a channel
//! while the test runs and, under load, occasionally allocates (seen here: 4–5 allocations in
//! about one run in a hundred), which says nothing about the library. The test thread and the
//! CPU pool's worker threads are all counted. Each such test also lives alone in its binary.

#![allow(dead_code)]

use neuroxide::graph::{add, LayerApply};
use neuroxide::layers::{ActivationLayer, Dense, Dropout};
use neuroxide::{optim, Activation, Device, Graph, Loss, Model};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "harness_thread.rs"]
mod harness_thread;
use harness_thread::counted;

struct Counting;

pub static ALLOCS: AtomicUsize = AtomicUsize::new(0);
pub static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
            BYTES.fetch_add(layout.size(), Ordering::SeqCst);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
            BYTES.fetch_add(layout.size(), Ordering::SeqCst);
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
            BYTES.fetch_add(new_size, Ordering::SeqCst);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

pub fn allocs() -> usize {
    ALLOCS.load(Ordering::SeqCst)
}

/// `x → Dense(96, relu) → Dropout(0.1) → Dense(96) → Activation(silu) → add(·, first)
///    → Dense(4, tanh)`, Adam, MSE. Batch 192: the hidden activations (18 432 values) are above
/// the pool's split threshold, so both threads really work.
pub fn model() -> Model {
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
