//! `ops::rope` (rotary position embedding) and the sinusoidal position table: the host tables
//! against std's f64 trigonometry, the rotation's properties on the CPU (inverse undoes forward,
//! scores depend on relative positions only, values untouched, 1 vs 2 threads bit-identical),
//! CPU vs CUDA bit for bit for the op (forward and inverse, edge values, odd sizes), and a small
//! causal LM with RoPE attention and the sinusoidal encoding trained on both backends with every
//! loss and weight bit-identical.

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::backend::cpu::CpuBackend;
use neuroxide::data::text::lm_batch;
use neuroxide::graph::{Graph, LayerApply};
use neuroxide::layers::{
    sinusoidal_table, Dense, Embedding, MultiHeadAttention, SinusoidalPositionEncoding,
};
use neuroxide::ops::rope::{rope_rotate, rope_table, Rope};
use neuroxide::parity::{compare_losses, compare_weights, ulp_distance};
use neuroxide::{optim, Backend, Device, Loss, Model};
use parity_pair::{edge_values, rng, Pair};

/// Rotates `qkv` on a CPU backend with `threads` threads; returns the result.
fn rotate_cpu(
    qkv: &[f32],
    table: &[f32],
    dims: (usize, usize, usize, usize),
    inverse: bool,
    threads: usize,
) -> Vec<f32> {
    let (batch, seq, heads, head_dim) = dims;
    let mut be = CpuBackend::new(threads);
    let q = be.alloc(qkv.len()).unwrap();
    be.upload(q, 0, qkv).unwrap();
    let t = be.alloc(table.len()).unwrap();
    be.upload(t, 0, table).unwrap();
    let r = Rope {
        qkv: q,
        table: t,
        batch,
        seq,
        heads,
        head_dim,
        inverse,
    };
    rope_rotate(&mut be, &r).unwrap();
    let mut out = vec![0.0; qkv.len()];
    be.download(q, 0, &mut out).unwrap();
    out
}

#[test]
fn host_tables_match_std_trigonometry() {
    let (seq, hd, base) = (300, 64, 10000.0f32);
    let table = rope_table(seq, hd, base);
    let half = hd / 2;
    let (mut worst, mut exact) = (0, 0);
    for t in 0..seq {
        for i in 0..half {
            let theta = f64::from(base).powf(-((2 * i) as f64) / hd as f64);
            let a = t as f64 * theta;
            for (k, want) in [(0, a.cos() as f32), (1, a.sin() as f32)] {
                let got = table[k * seq * half + t * half + i];
                let d = ulp_distance(got, want);
                worst = worst.max(d);
                exact += usize::from(d == 0);
            }
        }
    }
    println!(
        "rope table: max {worst} ulp from std, {exact}/{} equal",
        seq * hd
    );
    assert!(worst <= 1, "rope table {worst} ulp from std");
    assert!(exact * 100 >= seq * hd * 99);
    assert_eq!(table[0], 1.0, "cos 0");
    assert_eq!(table[seq * half].to_bits(), 0, "sin 0 = +0");
    let pe = sinusoidal_table(50, 7, 10000.0);
    for t in 0..50 {
        for c in 0..7 {
            let w = 10000f64.powf(-((2 * (c / 2)) as f64) / 7.0);
            let a = t as f64 * w;
            let want = if c % 2 == 0 { a.sin() } else { a.cos() } as f32;
            assert!(ulp_distance(pe[t * 7 + c], want) <= 1, "PE[{t}, {c}]");
        }
    }
}

#[test]
fn rotation_is_invertible_relative_and_leaves_values_alone() {
    let mut r = rng("rotation_is_invertible_relative_and_leaves_values_alone");
    let dims @ (batch, seq, heads, hd) = (2, 9, 3, 6);
    let d = heads * hd;
    let table = rope_table(seq, hd, 100.0);
    let qkv = r.vec(batch * seq * 3 * d, -1.0, 1.0);
    let fwd = rotate_cpu(&qkv, &table, dims, false, 2);
    let back = rotate_cpu(&fwd, &table, dims, true, 2);
    for (k, (&a, &b)) in qkv.iter().zip(&back).enumerate() {
        assert!((a - b).abs() < 1e-6, "element {k}: {a} vs {b}");
        if k % (3 * d) >= 2 * d {
            assert_eq!(fwd[k].to_bits(), a.to_bits(), "value column {k} changed");
        }
    }
    // The same query and key vectors placed at every position: the score q(t1)·k(t2) depends
    // only on t1 − t2.
    let mut same = vec![0.0f32; seq * 3 * d];
    let (q0, k0) = (r.vec(hd, -1.0, 1.0), r.vec(hd, -1.0, 1.0));
    for t in 0..seq {
        same[t * 3 * d..t * 3 * d + hd].copy_from_slice(&q0);
        same[t * 3 * d + d..t * 3 * d + d + hd].copy_from_slice(&k0);
    }
    let rot = rotate_cpu(&same, &table, (1, seq, heads, hd), false, 1);
    let score = |t1: usize, t2: usize| -> f64 {
        (0..hd)
            .map(|p| f64::from(rot[t1 * 3 * d + p]) * f64::from(rot[t2 * 3 * d + d + p]))
            .sum()
    };
    for lag in 0..4 {
        let s0 = score(lag, 0);
        for t in 1..seq - lag {
            assert!((score(t + lag, t) - s0).abs() < 1e-5, "lag {lag} at {t}");
        }
    }
    // The rotation matters: position 3's query differs from position 0's.
    assert_ne!(rot[3 * 3 * d..3 * 3 * d + hd], rot[..hd]);
}

#[test]
fn rope_one_and_two_threads_bit_identical() {
    let mut r = rng("rope_one_and_two_threads_bit_identical");
    let dims @ (batch, seq, heads, hd) = (8, 65, 4, 32);
    let table = rope_table(seq, hd, 10000.0);
    let qkv = r.vec(batch * seq * 3 * heads * hd, -2.0, 2.0);
    for inverse in [false, true] {
        let one = rotate_cpu(&qkv, &table, dims, inverse, 1);
        let two = rotate_cpu(&qkv, &table, dims, inverse, 2);
        assert!(one
            .iter()
            .zip(&two)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn rope_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("rope_cpu_vs_cuda");
    let edges = edge_values();
    for (batch, seq, heads, hd) in [
        (1, 1, 1, 2),
        (2, 7, 3, 6),
        (3, 33, 2, 66),
        (32, 64, 4, 32),
        (1, 257, 1, 10),
    ] {
        let d = heads * hd;
        let mut v = r.vec(batch * seq * 3 * d, -3.0, 3.0);
        for (k, x) in v.iter_mut().enumerate().step_by(5) {
            *x = edges[k % edges.len()];
        }
        let table = p.buf(&rope_table(seq, hd, 10000.0));
        for inverse in [false, true] {
            let qkv = p.buf(&v);
            let rope = Rope {
                qkv,
                table,
                batch,
                seq,
                heads,
                head_dim: hd,
                inverse,
            };
            p.run(|be| rope_rotate(be, &rope));
            p.check(
                &format!("rope b{batch} t{seq} h{heads}x{hd} inverse {inverse}"),
                qkv,
            );
        }
    }
    // The constant table itself, built through each backend's cache.
    let key = "rope-test-table";
    let a = p
        .cpu
        .constant_table(key, &|| rope_table(40, 8, 500.0))
        .unwrap();
    let b = p
        .gpu
        .constant_table(key, &|| rope_table(40, 8, 500.0))
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(p.cpu.constant_table(key, &Vec::new).unwrap(), a, "cached");
    p.check("rope constant table", a);
    p.finish("rope_cpu_vs_cuda");
}

/// A causal LM: ids → Embedding → sinusoidal encoding → RoPE attention → Dense(vocab).
fn rope_lm(vocab: usize, seq: usize) -> Model {
    let g = Graph::new();
    let ids = g.input_ids([seq]);
    let x = Embedding::new(vocab, 16).apply(&ids);
    let x = SinusoidalPositionEncoding::new().apply(&x);
    let x = MultiHeadAttention::new(2).causal().rope(10000.0).apply(&x);
    let logits = Dense::new(vocab).apply(&x);
    let mut m = Model::with_seed(&[&ids], &[&logits], 5).expect("model");
    m.compile(optim::adamw(3e-3, 0.01), Loss::cross_entropy())
        .expect("compile");
    m
}

fn toy_tokens() -> Vec<u32> {
    (0..2000u32).map(|i| (i * i + 3 * i) % 11).collect()
}

#[test]
fn rope_lm_learns_on_the_cpu() {
    let tokens = toy_tokens();
    let mut m = rope_lm(11, 12);
    let mut first = 0.0;
    let mut last = 0.0;
    for step in 0..150 {
        let (x, y) = lm_batch(&tokens, 12, 16, 3, step).unwrap();
        last = m.train_on_batch(&x, &y).unwrap();
        if step == 0 {
            first = last;
        }
    }
    println!("rope LM: loss {first} -> {last}");
    // Measured: 2.71 -> 0.197 after 150 steps.
    assert!(first > 2.0 && last < 0.5, "loss {first} -> {last}");
}

#[test]
fn rope_lm_cpu_vs_cuda_bit_identical() {
    if let Err(e) = neuroxide::backend::cuda::probe(0) {
        require_cuda::skip(format!("no usable CUDA device: {e}"));
        return;
    }
    let tokens = toy_tokens();
    let batches: Vec<_> = (0..30)
        .map(|s| lm_batch(&tokens, 12, 16, 3, s).unwrap())
        .collect();
    let run = |device: Device| {
        let mut m = rope_lm(11, 12);
        m.to_device(device).unwrap();
        let losses: Vec<f32> = batches
            .iter()
            .map(|(x, y)| m.train_on_batch(x, y).unwrap())
            .collect();
        (losses, m.weights().unwrap())
    };
    let (cl, cw) = run(Device::cpu());
    let (gl, gw) = run(Device::cuda(0));
    let l = compare_losses(&cl, &gl).unwrap();
    let w = compare_weights(&cw, &gw).unwrap();
    println!(
        "rope LM: losses {} differing of {}, weights {} of {}",
        l.differing, l.compared, w.differing, w.compared
    );
    assert!(l.identical() && w.identical(), "CPU and CUDA differ");
}
