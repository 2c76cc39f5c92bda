//! Exact CUDA matmul: every kernel variant vs cuBLAS SGEMM (FP32, default math mode: no TF32),
//! same run, same card.
//!
//! Shapes are given as m×k×n (A is m×k, B is k×n, C is m×n); the default list is gpt_small's
//! twelve products (forward nn, input gradients nt, weight gradients tn with k = 4096), 4096³
//! and a ragged shape. For each shape and each of nn, nt (the same B buffer read as n×k) and tn
//! (A read as k×m): warm-up, then the median of `NEUROXIDE_BENCH_REPS` (default 10) event-timed
//! runs of `ops::matmul::matmul` (the default choice, named in the table) and of every
//! `ops::matmul::Variant` forced through `matmul_variant`; GFLOP/s of each, cuBLAS for nn.
//! Exactness: 512 sampled outputs of the default are checked bit for bit against a host loop of
//! `f32::mul_add` (k increasing), and every variant's whole output against the default's.
//! Then the wave model's estimate of each tile shape, to recalibrate its constants.
//!
//! `cargo run --release --example cuda_matmul_bench [m k n ...]`

use neuroxide::backend::cuda::CudaBackend;
use neuroxide::backend::{Activation, Backend, BufId};
use neuroxide::ops::matmul::{self, Matmul, Variant, VARIANTS};

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

/// gpt_small's products per layer (4096 tokens, d = 768, QKV 2304, MLP 3072) as distinct m×k×n
/// (each is timed as nn, nt and tn), then 4096³ and a ragged shape (edge tiles and unaligned
/// rows: scalar loads).
const DEFAULT_SHAPES: [(usize, usize, usize); 11] = [
    (4096, 768, 2304), // forward nn: QKV
    (4096, 768, 768),  // forward nn: attention out; input gradient nt of it
    (4096, 768, 3072), // forward nn: MLP up; input gradient nt of MLP down
    (4096, 3072, 768), // forward nn: MLP down; input gradient nt of MLP up
    (4096, 2304, 768), // input gradient nt of QKV
    (768, 4096, 2304), // weight gradients tn (k = 4096 tokens)
    (768, 4096, 768),
    (768, 4096, 3072),
    (3072, 4096, 768),
    (4096, 4096, 4096),
    (4100, 770, 3070),
];

/// Median time in ms of `reps` runs of `f` after 3 warm-up runs.
fn time(
    gpu: &mut CudaBackend,
    reps: usize,
    mut f: impl FnMut(&mut CudaBackend) -> neuroxide::Result<()>,
) -> neuroxide::Result<f32> {
    for _ in 0..3 {
        f(gpu)?;
    }
    let mut t = Vec::new();
    for _ in 0..reps {
        t.push(gpu.time_ms(&mut f)?);
    }
    Ok(median(t))
}

fn download(gpu: &mut CudaBackend, id: BufId, len: usize) -> neuroxide::Result<Vec<f32>> {
    let mut out = vec![0.0f32; len];
    gpu.download(id, 0, &mut out)?;
    Ok(out)
}

fn run() -> neuroxide::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let shapes: Vec<(usize, usize, usize)> = if args.len() >= 3 {
        args.chunks_exact(3).map(|c| (c[0], c[1], c[2])).collect()
    } else {
        DEFAULT_SHAPES.to_vec()
    };
    let reps: usize = std::env::var("NEUROXIDE_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut gpu = CudaBackend::new(0)?;
    let (name, cc, sms) = gpu.device_info();
    println!("device: {name} (sm_{}{}, {sms} SMs)", cc.0, cc.1);
    let sms = sms as usize;
    if std::env::var_os("NEUROXIDE_NVRTC_VERBOSE").is_some() {
        println!("{}", matmul::compile_log(&mut gpu)?);
    }
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let labels: Vec<&str> = VARIANTS.iter().map(|v| v.label()).collect();
    println!(
        "GFLOP/s (median of {reps}); 'exact' = 512 sampled outputs of the default bit-exact \
         against the host, and variants whose whole output equals the default's bit for bit"
    );
    println!(
        "| m×k×n | op | default | default GFLOP/s | {} | cuBLAS | exact |",
        labels.join(" | ")
    );
    println!("|{}", " --- |".repeat(VARIANTS.len() + 6));
    for &(m, k, n) in &shapes {
        let av: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
        let bv: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
        let a = gpu.alloc(m * k)?;
        let b = gpu.alloc(k * n)?;
        let c = gpu.alloc(m * n)?;
        let c2 = gpu.alloc(m * n)?;
        gpu.upload(a, 0, &av)?;
        gpu.upload(b, 0, &bv)?;
        let flops = 2.0 * m as f64 * n as f64 * k as f64;
        let gflops = |ms: f32| flops / (f64::from(ms) * 1e6);
        for (a_trans, b_trans) in [(false, false), (false, true), (true, false)] {
            let mm = Matmul {
                m,
                n,
                k,
                a,
                a_trans,
                b,
                b_trans,
                c,
                bias: None,
                pre_act: None,
                act: Activation::Linear,
            };
            let op = match (a_trans, b_trans) {
                (false, false) => "nn",
                (false, true) => "nt",
                _ => "tn",
            };
            let chosen = matmul::cuda_variant(m, n, k, sms);
            let g_default = gflops(time(&mut gpu, reps, |g| matmul::matmul(g, &mm))?);
            let reference = download(&mut gpu, c, m * n)?;
            let samples = 512;
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
                ok += usize::from(acc.to_bits() == reference[i * n + j].to_bits());
            }
            let mut cells = Vec::new();
            let mut same = 0;
            for v in VARIANTS {
                let ms = time(&mut gpu, reps, |g| matmul::matmul_variant(g, &mm, v))?;
                cells.push(format!("{:.0}", gflops(ms)));
                let out = download(&mut gpu, c, m * n)?;
                let equal = out
                    .iter()
                    .zip(&reference)
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                same += usize::from(equal);
            }
            let blas = if op == "nn" {
                let ms = time(&mut gpu, reps, |g| g.cublas_sgemm(m, n, k, a, b, c2))?;
                format!("{:.0}", gflops(ms))
            } else {
                "-".into()
            };
            println!(
                "| {m}×{k}×{n} | {op} | {} | {g_default:.0} | {} | {blas} | {ok}/{samples}, \
                 {same}/{} variants |",
                chosen.label(),
                cells.join(" | "),
                VARIANTS.len()
            );
        }
        for id in [a, b, c, c2] {
            gpu.free(id)?;
        }
    }
    println!();
    println!("wave model on {sms} SMs: tiles, then the estimate relative to 128x128's");
    let big: Vec<Variant> = VARIANTS
        .into_iter()
        .filter(|v| v.wave_estimate(1, 1, sms).is_some())
        .collect();
    let names: Vec<&str> = big.iter().map(|v| v.label()).collect();
    println!("| m×n | {} |", names.join(" | "));
    println!("|{}", " --- |".repeat(big.len() + 1));
    let mut outputs: Vec<(usize, usize)> = shapes.iter().map(|&(m, _, n)| (m, n)).collect();
    outputs.sort_unstable();
    outputs.dedup();
    for (m, n) in outputs {
        let base = Variant::Big128x128.wave_estimate(m, n, sms).unwrap_or(1.0);
        let cells: Vec<String> = big
            .iter()
            .map(|v| {
                let e = v.wave_estimate(m, n, sms).unwrap_or(0.0);
                format!("{} tiles, {:.2}", v.tiles(m, n), e / base)
            })
            .collect();
        println!("| {m}×{n} | {} |", cells.join(" | "));
    }
    let s = gpu.stats();
    println!(
        "stats: {} device allocations, {} reused, {} syncs, {} launches",
        s.device_allocs, s.reused_allocs, s.syncs, s.kernel_launches
    );
    Ok(())
}
