//! Exact CPU matmul vs the `gemm` crate (not exact: it reorders sums), same shapes, same run.
//!
//! `cargo bench -p neuroxide --bench matmul_vs_gemm` prints one row per shape and thread count:
//! the GFLOP/s (2·m·n·k per call, best batch) of neuroxide's exact matmul and of `gemm::gemm`
//! (`Parallelism::None` for 1 thread, `Parallelism::Rayon(2)` for 2), their ratio, and the ratio
//! of the median batches. Batches of the two alternate, so load from other processes hits both.
//! Optional arguments `M N K` replace the shapes with that one (`--at`, `--bt`: transposed A, B);
//! `--quick` shortens the timing; `--cpu` times single-threaded runs only, by this thread's CPU
//! time (for tuning on a loaded machine).

use gemm::{gemm, Parallelism};
use neuroxide::backend::cpu::pool::ThreadPool;
use neuroxide::backend::Activation;
use neuroxide::ops::matmul::cpu::{matmul, Isa, MatmulArgs};
use std::time::{Duration, Instant};

/// Seconds this thread has spent on a CPU (`CLOCK_THREAD_CPUTIME_ID`), Linux only.
#[cfg(target_os = "linux")]
fn thread_cpu_seconds() -> Option<f64> {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, t: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `t` is a valid timespec (two C longs on 64-bit Linux).
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    (rc == 0).then_some(t.sec as f64 + t.nsec as f64 * 1e-9)
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_seconds() -> Option<f64> {
    None
}

/// The clock: wall time, or (`--cpu`, single-threaded runs only) this thread's CPU time, which
/// leaves out time the thread spent waiting for a CPU on a loaded machine.
fn now(cpu: bool, t0: Instant) -> f64 {
    if cpu {
        if let Some(t) = thread_cpu_seconds() {
            return t;
        }
    }
    t0.elapsed().as_secs_f64()
}

/// Seconds per call of `f` and of `g` as (best, median) each, timed in alternating batches for
/// about `budget` in total, so that a busy machine slows both alike.
fn time_pair(
    budget: Duration,
    cpu: bool,
    mut f: impl FnMut(),
    mut g: impl FnMut(),
) -> [(f64, f64); 2] {
    let origin = Instant::now();
    let batch = |h: &mut dyn FnMut()| {
        h();
        let t0 = now(cpu, origin);
        h();
        (now(cpu, origin) - t0).max(1e-7)
    };
    let one = batch(&mut f).min(batch(&mut g));
    let per_batch = ((budget.as_secs_f64() / 60.0 / one) as usize).max(1);
    let (mut sf, mut sg) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while sf.len() < 5 || (start.elapsed() < budget && sf.len() < 500) {
        for (h, s) in [
            (&mut f as &mut dyn FnMut(), &mut sf),
            (&mut g as &mut dyn FnMut(), &mut sg),
        ] {
            let t = now(cpu, origin);
            for _ in 0..per_batch {
                h();
            }
            s.push((now(cpu, origin) - t) / per_batch as f64);
        }
    }
    let stats = |s: &mut Vec<f64>| {
        s.sort_by(f64::total_cmp);
        (s[0], s[s.len() / 2])
    };
    [stats(&mut sf), stats(&mut sg)]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let quick = args.iter().any(|a| a == "--quick");
    let cpu = args.iter().any(|a| a == "--cpu");
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let budget = Duration::from_millis(if quick { 300 } else { 1500 });
    // (m, n, k, a_trans, b_trans, label)
    let mut shapes = vec![
        (512, 512, 512, false, false, "512x512x512"),
        (64, 256, 784, false, false, "64x784·784x256 (MLP fwd)"),
        (784, 256, 64, true, false, "dW=Xᵀ·dY 784x256 k=64"),
        (64, 784, 256, false, true, "dX=dY·Wᵀ 64x784 k=256"),
    ];
    let custom;
    if nums.len() >= 3 {
        custom = format!("{}x{}x{}", nums[0], nums[1], nums[2]);
        let (at, bt) = (
            args.iter().any(|a| a == "--at"),
            args.iter().any(|a| a == "--bt"),
        );
        shapes = vec![(nums[0], nums[1], nums[2], at, bt, custom.as_str())];
    }
    println!(
        "neuroxide exact matmul (isa {}) vs gemm 0.19; GFLOP/s of the best batch, {} time",
        Isa::selected().name(),
        if cpu { "thread CPU" } else { "wall" }
    );
    println!(
        "| shape | threads | neuroxide GFLOP/s | gemm GFLOP/s | ratio (best) | ratio (median) |"
    );
    println!("|---|---|---|---|---|---|");
    for &(m, n, k, at, bt, label) in &shapes {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.1)
            .collect();
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        for threads in if cpu { vec![1usize] } else { vec![1, 2] } {
            let pool = ThreadPool::new(threads);
            let margs = MatmulArgs {
                m,
                n,
                k,
                a: &a,
                a_trans: at,
                b: &b,
                b_trans: bt,
                bias: None,
                act: Activation::Linear,
            };
            let mut c2 = c.clone();
            let par = if threads == 1 {
                Parallelism::None
            } else {
                Parallelism::Rayon(threads)
            };
            // Row-major op(A) (m×k): A[i,p] at i*rs + p*cs; likewise op(B) and C.
            let (a_rs, a_cs) = if at { (1, m as isize) } else { (k as isize, 1) };
            let (b_rs, b_cs) = if bt { (1, k as isize) } else { (n as isize, 1) };
            let gemm_call = || unsafe {
                gemm(
                    m,
                    n,
                    k,
                    c2.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr(),
                    a_cs,
                    a_rs,
                    b.as_ptr(),
                    b_cs,
                    b_rs,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                )
            };
            let [(ours, ours_med), (theirs, theirs_med)] = time_pair(
                budget,
                cpu,
                || matmul(&pool, &margs, &mut c, None),
                gemm_call,
            );
            let (g_ours, g_theirs) = (flops / ours * 1e-9, flops / theirs * 1e-9);
            println!(
                "| {label} | {threads} | {g_ours:.1} | {g_theirs:.1} | {:.2} | {:.2} |",
                g_ours / g_theirs,
                theirs_med / ours_med
            );
        }
    }
}
