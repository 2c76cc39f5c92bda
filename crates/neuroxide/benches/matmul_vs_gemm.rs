//! Exact CPU matmul vs the `gemm` crate (not exact: it reorders sums), same shapes, same run.
//!
//! `cargo bench -p neuroxide --bench matmul_vs_gemm` prints one row per shape and thread count:
//! the GFLOP/s (2·m·n·k per call, best batch) of neuroxide's exact matmul and of `gemm::gemm`
//! (`Parallelism::None` for 1 thread, `Parallelism::Rayon(2)` for 2), their ratio, and the ratio
//! of the median batches. Batches of the two alternate, so load from other processes hits both.
//! Optional arguments `M N K` add a shape; `--quick` shortens the timing.

use gemm::{gemm, Parallelism};
use neuroxide::backend::cpu::matmul::{matmul, Isa, MatmulArgs};
use neuroxide::backend::cpu::pool::ThreadPool;
use neuroxide::backend::Activation;
use std::time::{Duration, Instant};

/// Seconds per call of `f` and of `g` as (best, median) each, timed in alternating batches for
/// about `budget` in total, so that a busy machine slows both alike.
fn time_pair(budget: Duration, mut f: impl FnMut(), mut g: impl FnMut()) -> [(f64, f64); 2] {
    let batch = |h: &mut dyn FnMut()| {
        h();
        let t0 = Instant::now();
        h();
        t0.elapsed().as_secs_f64().max(1e-7)
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
            let t = Instant::now();
            for _ in 0..per_batch {
                h();
            }
            s.push(t.elapsed().as_secs_f64() / per_batch as f64);
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
        shapes.push((nums[0], nums[1], nums[2], false, false, custom.as_str()));
    }
    println!(
        "neuroxide exact matmul (isa {}) vs gemm 0.19; median GFLOP/s",
        Isa::selected().name()
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
        for threads in [1usize, 2] {
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
            let [(ours, ours_med), (theirs, theirs_med)] =
                time_pair(budget, || matmul(&pool, &margs, &mut c, None), gemm_call);
            let (g_ours, g_theirs) = (flops / ours * 1e-9, flops / theirs * 1e-9);
            println!(
                "| {label} | {threads} | {g_ours:.1} | {g_theirs:.1} | {:.2} | {:.2} |",
                g_ours / g_theirs,
                theirs_med / ours_med
            );
        }
    }
}
