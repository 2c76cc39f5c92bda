//! The packed SIMD matmul gives exactly the bits of the scalar contract of `backend::Matmul`
//! (`acc = fma(A[i,p], B[p,j], acc)` for p increasing, then bias, pre-activation, activation),
//! on every instruction set this CPU supports, with 1 and 2 threads; and it makes no heap
//! allocation once warmed up.

use neuroxide::backend::cpu::pool::ThreadPool;
use neuroxide::backend::Activation;
use neuroxide::ops::elementwise::activation;
use neuroxide::ops::matmul::cpu::{matmul, matmul_with, Isa, MatmulArgs};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

#[path = "support/harness_thread.rs"]
mod harness_thread;

/// Counts heap allocations (alloc, alloc_zeroed, realloc) while `ARMED`, on every thread but
/// the harness's main thread.
struct Counting;
static ARMED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ARMED.load(Ordering::SeqCst) && harness_thread::counted() {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if ARMED.load(Ordering::SeqCst) && harness_thread::counted() {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if ARMED.load(Ordering::SeqCst) && harness_thread::counted() {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.realloc(p, l, new) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocation test takes this for writing so no other test allocates while it counts.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner())
}

/// Deterministic inputs: mostly uniform in [-2, 2), with exact zeros, -0.0, tiny (denormal)
/// and large values mixed in so that signed zeros and rounding corner cases are exercised.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 40) as u32; // 24 random bits
            match u % 64 {
                0 => 0.0,
                1 => -0.0,
                2 => f32::from_bits(u & 0x007F_FFFF) * if u & 1 == 0 { 1.0 } else { -1.0 },
                3 => (u as f32) * 1e3,
                _ => (u as f32 / (1u32 << 24) as f32) * 4.0 - 2.0,
            }
        })
        .collect()
}

/// The contract, written as plainly as possible.
fn reference(args: &MatmulArgs, c: &mut [f32], mut pre: Option<&mut [f32]>) {
    let (m, n, k) = (args.m, args.n, args.k);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                let av = if args.a_trans {
                    args.a[p * m + i]
                } else {
                    args.a[i * k + p]
                };
                let bv = if args.b_trans {
                    args.b[j * k + p]
                } else {
                    args.b[p * n + j]
                };
                acc = av.mul_add(bv, acc);
            }
            let z = match args.bias {
                Some(b) => acc + b[j],
                None => acc,
            };
            if let Some(pre) = pre.as_deref_mut() {
                pre[i * n + j] = z;
            }
            c[i * n + j] = activation::forward(args.act, z);
        }
    }
}

/// Number of elements whose bits differ, and the first one's index.
fn diff(want: &[f32], got: &[f32]) -> (usize, Option<usize>) {
    let bad: Vec<usize> = (0..want.len())
        .filter(|&i| want[i].to_bits() != got[i].to_bits())
        .collect();
    (bad.len(), bad.first().copied())
}

fn isas() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
}

/// Compares every available ISA, 1 and 2 threads, with and without pre_act, to the reference.
#[allow(clippy::too_many_arguments)]
fn check_shape(
    pools: &[ThreadPool],
    m: usize,
    n: usize,
    k: usize,
    a_trans: bool,
    b_trans: bool,
    with_bias: bool,
    act: Activation,
    seed: u64,
) {
    let a = values(m * k, seed);
    let b = values(k * n, seed + 1);
    let bias = values(n, seed + 2);
    let args = MatmulArgs {
        m,
        n,
        k,
        a: &a,
        a_trans,
        b: &b,
        b_trans,
        bias: with_bias.then_some(&bias[..]),
        act,
    };
    let mut want = vec![0.0; m * n];
    let mut want_pre = vec![0.0; m * n];
    reference(&args, &mut want, Some(&mut want_pre));
    for isa in isas() {
        for pool in pools {
            for with_pre in [false, true] {
                let mut c = vec![f32::NAN; m * n];
                let mut pre = vec![f32::NAN; m * n];
                matmul_with(isa, pool, &args, &mut c, with_pre.then_some(&mut pre[..]))
                    .expect("supported ISA");
                let ctx = format!(
                    "{}x{}x{} a_trans={a_trans} b_trans={b_trans} bias={with_bias} act={act:?} \
                     isa={} threads={} pre={with_pre}",
                    m,
                    n,
                    k,
                    isa.name(),
                    pool.threads()
                );
                let (bad, first) = diff(&want, &c);
                assert_eq!(
                    bad,
                    0,
                    "C differs in {bad} of {} values (first at {first:?}): {ctx}",
                    m * n
                );
                if with_pre {
                    let (bad, first) = diff(&want_pre, &pre);
                    assert_eq!(
                        bad, 0,
                        "pre_act differs in {bad} values (first {first:?}): {ctx}"
                    );
                } else {
                    assert!(
                        pre.iter().all(|x| x.is_nan()),
                        "pre_act written when not asked: {ctx}"
                    );
                }
            }
        }
    }
}

fn pools() -> [ThreadPool; 2] {
    [ThreadPool::new(1), ThreadPool::new(2)]
}

const TRANSPOSES: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

#[test]
fn tiny_and_degenerate_shapes() {
    let _g = shared();
    let pools = pools();
    let shapes = [
        (1, 1, 1),
        (4, 4, 2),
        (2, 3, 5),
        (1, 17, 3),
        (7, 1, 9),
        (3, 3, 0),
        (5, 9, 1),
    ];
    for (s, &(m, n, k)) in shapes.iter().enumerate() {
        for (t, &(at, bt)) in TRANSPOSES.iter().enumerate() {
            for bias in [false, true] {
                check_shape(
                    &pools,
                    m,
                    n,
                    k,
                    at,
                    bt,
                    bias,
                    Activation::Relu,
                    (s * 8 + t) as u64,
                );
            }
        }
    }
}

#[test]
fn odd_and_unaligned_shapes_all_transposes() {
    let _g = shared();
    let pools = pools();
    // Primes and sizes one off the 6×16 / 12×32 tiles and the 256 k-block (k = 257, 300, 513
    // carry accumulators across k-blocks; 512 ends exactly on a block boundary).
    let shapes = [
        (13, 17, 19),
        (31, 37, 41),
        (6, 16, 256),
        (7, 17, 257),
        (12, 32, 300),
        (5, 15, 513),
        (64, 10, 256),
        (97, 33, 512),
        (25, 47, 64),
    ];
    for (s, &(m, n, k)) in shapes.iter().enumerate() {
        for (t, &(at, bt)) in TRANSPOSES.iter().enumerate() {
            let bias = (s + t) % 2 == 0;
            check_shape(
                &pools,
                m,
                n,
                k,
                at,
                bt,
                bias,
                Activation::Linear,
                100 + (s * 8 + t) as u64,
            );
        }
    }
}

#[test]
fn activations_and_bias() {
    let _g = shared();
    let pools = pools();
    let acts = [
        Activation::Linear,
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::LeakyRelu(0.1),
        Activation::GeluTanh,
    ];
    for (s, &act) in acts.iter().enumerate() {
        for bias in [false, true] {
            check_shape(
                &pools,
                50,
                70,
                90,
                s % 2 == 1,
                s % 3 == 0,
                bias,
                act,
                300 + s as u64,
            );
            check_shape(&pools, 4, 2, 4, false, false, bias, act, 400 + s as u64);
        }
    }
}

#[test]
fn mlp_shapes_parallel_path() {
    let _g = shared();
    let pools = pools();
    // MNIST MLP: forward X·W (+bias, ReLU), dW = Xᵀ·dY (k = batch), dX = dY·Wᵀ; large enough to
    // take the packed, multi-task path with 2 threads.
    check_shape(
        &pools,
        64,
        256,
        784,
        false,
        false,
        true,
        Activation::Relu,
        500,
    );
    check_shape(
        &pools,
        784,
        256,
        64,
        true,
        false,
        false,
        Activation::Linear,
        501,
    );
    check_shape(
        &pools,
        64,
        784,
        256,
        false,
        true,
        false,
        Activation::Linear,
        502,
    );
    check_shape(
        &pools,
        200,
        130,
        300,
        true,
        true,
        true,
        Activation::Tanh,
        503,
    );
}

#[test]
fn default_entry_point_matches_reference() {
    let _g = shared();
    let pool = ThreadPool::new(2);
    let (m, n, k) = (33, 65, 129);
    let a = values(m * k, 600);
    let b = values(k * n, 601);
    let bias = values(n, 602);
    let args = MatmulArgs {
        m,
        n,
        k,
        a: &a,
        a_trans: false,
        b: &b,
        b_trans: true,
        bias: Some(&bias),
        act: Activation::Sigmoid,
    };
    let mut want = vec![0.0; m * n];
    reference(&args, &mut want, None);
    let mut c = vec![0.0; m * n];
    matmul(&pool, &args, &mut c, None);
    assert_eq!(
        diff(&want, &c).0,
        0,
        "matmul (isa {}) differs",
        Isa::selected().name()
    );
}

#[test]
fn unsupported_isa_and_short_slices_are_errors() {
    let _g = shared();
    let pool = ThreadPool::new(1);
    let a = [1.0f32; 6];
    let b = [1.0f32; 6];
    let args = MatmulArgs {
        m: 2,
        n: 2,
        k: 3,
        a: &a,
        a_trans: false,
        b: &b,
        b_trans: false,
        bias: None,
        act: Activation::Linear,
    };
    let mut short = [0.0f32; 3];
    let err = matmul_with(Isa::Scalar, &pool, &args, &mut short, None).unwrap_err();
    assert!(err.to_string().contains("C has 3 values, needs 4"), "{err}");
    for isa in Isa::ALL.into_iter().filter(|i| !i.is_available()) {
        let mut c = [0.0f32; 4];
        assert!(matmul_with(isa, &pool, &args, &mut c, None).is_err());
    }
}

#[test]
fn avx512_path_when_supported() {
    let _g = shared();
    if !Isa::Avx512.is_available() {
        println!("skipped: no avx512f");
        return;
    }
    // The shapes above already run on AVX-512 here; this adds tile-edge cases of its 12 × 32 tile.
    let pools = pools();
    for (s, &(m, n, k)) in [(11, 31, 7), (12, 32, 256), (13, 33, 257), (25, 65, 300)]
        .iter()
        .enumerate()
    {
        for &(at, bt) in &TRANSPOSES {
            check_shape(
                &pools,
                m,
                n,
                k,
                at,
                bt,
                true,
                Activation::Relu,
                700 + s as u64,
            );
        }
    }
}

#[test]
fn no_heap_allocation_after_warm_up() {
    let _g = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
    let pools = pools();
    let shapes = [
        (64, 256, 784, false, false),
        (784, 256, 64, true, false),
        (64, 784, 256, false, true),
        (4, 4, 2, false, false),
    ];
    let inputs: Vec<_> = shapes
        .iter()
        .map(|&(m, n, k, at, bt)| {
            (
                m,
                n,
                k,
                at,
                bt,
                values(m * k, 1),
                values(k * n, 2),
                values(n, 3),
            )
        })
        .collect();
    let mut outs: Vec<_> = shapes
        .iter()
        .map(|&(m, n, ..)| (vec![0.0f32; m * n], vec![0.0f32; m * n]))
        .collect();
    let isas = isas();
    let mut run_all = || {
        for &isa in &isas {
            for pool in &pools {
                for ((m, n, k, at, bt, a, b, bias), (c, pre)) in inputs.iter().zip(outs.iter_mut())
                {
                    let args = MatmulArgs {
                        m: *m,
                        n: *n,
                        k: *k,
                        a,
                        a_trans: *at,
                        b,
                        b_trans: *bt,
                        bias: Some(bias),
                        act: Activation::Relu,
                    };
                    matmul_with(isa, pool, &args, c, Some(pre)).expect("supported ISA");
                }
            }
        }
    };
    run_all();
    // Let the test harness finish any bookkeeping of other tests before counting.
    std::thread::sleep(std::time::Duration::from_millis(100));
    ALLOCS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        run_all();
    }
    ARMED.store(false, Ordering::SeqCst);
    let n = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(
        n, 0,
        "{n} heap allocations in 5 warmed-up rounds of matmul calls"
    );
}
