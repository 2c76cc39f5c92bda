//! Exact CUDA matmul vs cuBLAS SGEMM (FP32, default math mode: no TF32), same run, same card.
//!
//! Shapes are given as m×k×n (A is m×k, B is k×n, C is m×n). For each: warm-up, then the median
//! of `NEUROXIDE_BENCH_REPS` (default 10) event-timed runs of each kernel; prints GFLOP/s and the
//! exact/cuBLAS ratio, and checks 512 sampled outputs of the exact kernel bit for bit against a
//! host loop of `f32::mul_add` (k increasing). Then the exact kernel alone with A or B
//! transposed (`nt`: the same B buffer read as n×k, `tn`: A read as k×m: the dense layer's
//! input and weight gradients), timed and sampled the same way.
//!
//! `cargo run --release --example cuda_matmul_bench [m k n ...]`

use neuroxide::backend::cuda::CudaBackend;
use neuroxide::backend::{Activation, Backend};
use neuroxide::ops;
use neuroxide::ops::matmul::Matmul;

fn main() {
    if let Err(e) = run() {
        eprintln!("cuda_matmul_bench: {e}");
        std::process::exit(1);
    }
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

fn run() -> neuroxide::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let shapes: Vec<(usize, usize, usize)> = if args.len() >= 3 {
        args.chunks_exact(3).map(|c| (c[0], c[1], c[2])).collect()
    } else {
        vec![
            (4096, 4096, 4096),
            (4096, 768, 3072),
            (4096, 3072, 768),
            (4100, 770, 3070), // ragged: edge tiles and unaligned rows (scalar loads)
        ]
    };
    let reps: usize = std::env::var("NEUROXIDE_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut gpu = CudaBackend::new(0)?;
    let (name, cc, sms) = gpu.device_info();
    println!("device: {name} (sm_{}{}, {sms} SMs)", cc.0, cc.1);
    if std::env::var_os("NEUROXIDE_NVRTC_VERBOSE").is_some() {
        println!("{}", ops::matmul::compile_log(&mut gpu)?);
    }
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    println!(
        "| m×k×n | exact GFLOP/s | cuBLAS GFLOP/s | ratio | sampled outputs bit-exact | \
         exact nt GFLOP/s | exact tn GFLOP/s | nt, tn sampled bit-exact |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (m, k, n) in shapes {
        let av: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
        let bv: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
        let a = gpu.alloc(m * k)?;
        let b = gpu.alloc(k * n)?;
        let c = gpu.alloc(m * n)?;
        let c2 = gpu.alloc(m * n)?;
        gpu.upload(a, 0, &av)?;
        gpu.upload(b, 0, &bv)?;
        let mm = Matmul {
            m,
            n,
            k,
            a,
            a_trans: false,
            b,
            b_trans: false,
            c,
            bias: None,
            pre_act: None,
            act: Activation::Linear,
        };
        for _ in 0..3 {
            ops::matmul::matmul(&mut gpu, &mm)?;
            gpu.cublas_sgemm(m, n, k, a, b, c2)?;
        }
        let mut t_exact = Vec::new();
        let mut t_blas = Vec::new();
        for _ in 0..reps {
            t_exact.push(gpu.time_ms(|g| ops::matmul::matmul(g, &mm))?);
            t_blas.push(gpu.time_ms(|g| g.cublas_sgemm(m, n, k, a, b, c2))?);
        }
        let flops = 2.0 * m as f64 * n as f64 * k as f64;
        let ge = flops / (f64::from(median(t_exact)) * 1e6);
        let gb = flops / (f64::from(median(t_blas)) * 1e6);
        let mut out = vec![0.0f32; m * n];
        gpu.download(c, 0, &mut out)?;
        let mut blas = vec![0.0f32; m * n];
        gpu.download(c2, 0, &mut blas)?;
        let (mut exact_ok, mut blas_same) = (0, 0);
        let samples = 512;
        for s in 0..samples {
            let i = (s * 7919) % m;
            let j = (s * 104_729 + 13) % n;
            let mut acc = 0.0f32;
            for p in 0..k {
                acc = av[i * k + p].mul_add(bv[p * n + j], acc);
            }
            exact_ok += usize::from(acc.to_bits() == out[i * n + j].to_bits());
            blas_same += usize::from(acc.to_bits() == blas[i * n + j].to_bits());
        }
        // The same buffers with A or B read transposed (exact kernel only).
        let mut trans = Vec::new();
        for (a_trans, b_trans) in [(false, true), (true, false)] {
            let mmt = Matmul {
                a_trans,
                b_trans,
                ..mm
            };
            for _ in 0..3 {
                ops::matmul::matmul(&mut gpu, &mmt)?;
            }
            let mut t = Vec::new();
            for _ in 0..reps {
                t.push(gpu.time_ms(|g| ops::matmul::matmul(g, &mmt))?);
            }
            gpu.download(c, 0, &mut out)?;
            let mut ok = 0;
            for s in 0..samples {
                let i = (s * 7919) % m;
                let j = (s * 104_729 + 13) % n;
                let mut acc = 0.0f32;
                for p in 0..k {
                    let x = if a_trans {
                        av[p * m + i]
                    } else {
                        av[i * k + p]
                    };
                    let y = if b_trans {
                        bv[j * k + p]
                    } else {
                        bv[p * n + j]
                    };
                    acc = x.mul_add(y, acc);
                }
                ok += usize::from(acc.to_bits() == out[i * n + j].to_bits());
            }
            trans.push((flops / (f64::from(median(t)) * 1e6), ok));
        }
        let ((g_nt, ok_nt), (g_tn, ok_tn)) = (trans[0], trans[1]);
        println!(
            "| {m}×{k}×{n} | {ge:.0} | {gb:.0} | {:.2} | {exact_ok}/{samples} (cuBLAS {blas_same}/{samples}) \
             | {g_nt:.0} | {g_tn:.0} | {ok_nt}/{samples}, {ok_tn}/{samples} |",
            ge / gb
        );
        for id in [a, b, c, c2] {
            gpu.free(id)?;
        }
    }
    let s = gpu.stats();
    println!(
        "stats: {} device allocations, {} reused, {} syncs, {} launches",
        s.device_allocs, s.reused_allocs, s.syncs, s.kernel_launches
    );
    Ok(())
}
