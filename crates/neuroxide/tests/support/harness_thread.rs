//! Which threads an allocation-counting test counts: every thread but the test harness's main
//! thread (its thread id equals the process id). libtest's main thread waits on a channel while a
//! test runs and, under load, occasionally allocates (seen here: 4–5 allocations in about one run
//! in a hundred), which says nothing about the code under test.

unsafe extern "C" {
    fn gettid() -> i32;
    fn getpid() -> i32;
}

/// Whether the calling thread's allocations count.
pub fn counted() -> bool {
    // SAFETY: both are plain system calls without arguments (glibc ≥ 2.30).
    unsafe { gettid() != getpid() }
}
