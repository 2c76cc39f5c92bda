//! `ops::attention`: the fused exact attention against a float64 reference (CPU), the causal
//! property (changing later keys leaves earlier rows bit-identical), and CPU vs CUDA bit for bit
//! for forward and backward, causal and not, sequence lengths around the chunk size and head
//! sizes that are not multiples of 32; the tiled CUDA kernels and the warp-per-row fallback both
//! (shapes on either side of the tiles' bounds), with masks, dropout multipliers and edge values.

#[path = "support/attention_cases.rs"]
mod attention_cases;
#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use attention_cases::{check_passes, shape};
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::attention::{
    attention_forward, tiled_dkv_grid, tiled_grid, AttentionForward, AttentionShape,
    TILED_DKV_ROWS, TILED_MAX_HEAD_DIM, TILED_MAX_SEQ, TILED_ROWS, TILED_THREADS,
};
use neuroxide::Backend;
use parity_pair::{edge_values, rng, Pair};

fn run_cpu(s: &AttentionShape, qkv: &[f32]) -> (Vec<f32>, Vec<f32>) {
    run_cpu_masked(s, qkv, None)
}

fn run_cpu_masked(s: &AttentionShape, qkv: &[f32], mask: Option<&[f32]>) -> (Vec<f32>, Vec<f32>) {
    let d = s.model_dim();
    let mut be = CpuBackend::new(2);
    let key_mask = mask.map(|m| {
        let b = be.alloc(m.len()).unwrap();
        be.upload(b, 0, m).unwrap();
        b
    });
    let q = be.alloc(qkv.len()).unwrap();
    let o = be.alloc(s.batch * s.seq * d).unwrap();
    let pr = be.alloc(s.batch * s.heads * s.seq * s.seq).unwrap();
    be.upload(q, 0, qkv).unwrap();
    let f = AttentionForward {
        shape: *s,
        qkv: q,
        out: o,
        probs: pr,
        key_mask,
        drop: None,
    };
    attention_forward(&mut be, &f).unwrap();
    let mut out = vec![0.0; s.batch * s.seq * d];
    let mut probs = vec![0.0; s.batch * s.heads * s.seq * s.seq];
    be.download(o, 0, &mut out).unwrap();
    be.download(pr, 0, &mut probs).unwrap();
    (out, probs)
}

#[test]
fn attention_forward_matches_f64() {
    let mut r = rng("attention_forward_matches_f64");
    for causal in [true, false] {
        let s = shape(2, 9, 3, 5, causal);
        let d = s.model_dim();
        let qkv = r.vec(s.batch * s.seq * 3 * d, -1.0, 1.0);
        let (out, _) = run_cpu(&s, &qkv);
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..s.seq {
                    let at = |t: usize, part: usize, p: usize| {
                        qkv[(b * s.seq + t) * 3 * d + part * d + h * s.head_dim + p] as f64
                    };
                    let jn = if causal { i + 1 } else { s.seq };
                    let sc: Vec<f64> = (0..jn)
                        .map(|j| {
                            (0..s.head_dim)
                                .map(|p| at(i, 0, p) * at(j, 1, p))
                                .sum::<f64>()
                                * s.scale as f64
                        })
                        .collect();
                    let mx = sc.iter().cloned().fold(f64::MIN, f64::max);
                    let e: Vec<f64> = sc.iter().map(|v| (v - mx).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    for p in 0..s.head_dim {
                        let want: f64 = (0..jn).map(|j| e[j] / sum * at(j, 2, p)).sum();
                        let got = out[(b * s.seq + i) * d + h * s.head_dim + p] as f64;
                        assert!(
                            (got - want).abs() < 1e-5,
                            "causal {causal} b{b} h{h} i{i} p{p}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn causal_attention_ignores_later_positions() {
    let mut r = rng("causal_attention_ignores_later_positions");
    let s = shape(1, 12, 2, 4, true);
    let d = s.model_dim();
    let qkv = r.vec(s.seq * 3 * d, -1.0, 1.0);
    let (out, _) = run_cpu(&s, &qkv);
    let mut changed = qkv.clone();
    for v in &mut changed[7 * 3 * d..] {
        *v = -*v * 3.0;
    }
    let (out2, _) = run_cpu(&s, &changed);
    for k in 0..7 * d {
        assert_eq!(out[k].to_bits(), out2[k].to_bits(), "row {} changed", k / d);
    }
    assert_ne!(out[7 * d..], out2[7 * d..]);
}

#[test]
fn attention_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("attention_cpu_vs_cuda");
    for (batch, seq, heads, hd) in [
        (1, 1, 1, 1),
        (2, 7, 3, 5),
        (32, 64, 4, 32),
        (2, 255, 2, 33),
        (1, 257, 2, 64),
        (1, 300, 1, 70),
    ] {
        for causal in [true, false] {
            let s = shape(batch, seq, heads, hd, causal);
            let d = s.model_dim();
            let mut qv = r.vec(batch * seq * 3 * d, -2.0, 2.0);
            // Tiny and signed-zero entries (underflowing products, rule 2b).
            for k in (0..qv.len()).step_by(17) {
                qv[k] = if k % 2 == 0 { -0.0 } else { 1e-30 };
            }
            let qkv = p.buf(&qv);
            let what = format!("b{batch} t{seq} h{heads}x{hd} causal {causal}");
            let dout = r.vec(batch * seq * d, -1.0, 1.0);
            check_passes(
                &mut p,
                s,
                qkv,
                None,
                None,
                &dout,
                &format!("attention {what}"),
            );
            // The same with a key padding mask (about a third of the keys padded; the first
            // sequence fully padded, so its queries see no key).
            let mask: Vec<f32> = (0..batch * seq)
                .map(|k| if k < seq || r.below(3) == 0 { 0.0 } else { 1.0 })
                .collect();
            let key_mask = Some(p.buf(&mask));
            let what = format!("masked attention {what}");
            check_passes(&mut p, s, qkv, key_mask, None, &dout, &what);
        }
    }
    p.finish("attention_cpu_vs_cuda");
}

/// Padding keys at the end of a sequence gives the same outputs, bit for bit, as the causal
/// attention of the unpadded positions (a padded key is skipped, not weighted by zero); a query
/// that sees only padding gets zeros.
#[test]
fn key_padding_mask_skips_padded_keys() {
    let mut r = rng("key_padding_mask_skips_padded_keys");
    let s = shape(1, 10, 2, 3, false);
    let d = s.model_dim();
    let qkv = r.vec(s.seq * 3 * d, -1.0, 1.0);
    let mut mask = vec![1.0f32; 10];
    mask[6..].fill(0.0);
    let (out, probs) = run_cpu_masked(&s, &qkv, Some(&mask));
    // Reference: a 6-position non-causal attention on the first 6 rows.
    let short = shape(1, 6, 2, 3, false);
    let (want, _) = run_cpu(&short, &qkv[..6 * 3 * d]);
    for k in 0..6 * d {
        assert_eq!(out[k].to_bits(), want[k].to_bits(), "element {k}");
    }
    for h in 0..2 {
        for i in 0..10 {
            for j in 6..10 {
                assert_eq!(probs[(h * 10 + i) * 10 + j], 0.0);
            }
        }
    }
    let none = vec![0.0f32; 10];
    let (out, _) = run_cpu_masked(&s, &qkv, Some(&none));
    assert!(out.iter().all(|&v| v == 0.0));
}

/// The tiles' bounds written in `attention_tiled.cu` and `attention_tiled_dkv.cu` are the ones
/// `tiled_grid` and `tiled_dkv_grid` select with.
#[test]
fn tiled_bounds_match_the_cuda_source() {
    let src = concat!(
        include_str!("../src/ops/attention/attention_tiled.cu"),
        include_str!("../src/ops/attention/attention_tiled_dkv.cu")
    );
    for (name, v) in [
        ("NX_ATT_TQ", TILED_ROWS),
        ("NX_ATT_DKV_KEYS", TILED_DKV_ROWS),
        ("NX_ATT_MAX_SEQ", TILED_MAX_SEQ),
        ("NX_ATT_MAX_HD", TILED_MAX_HEAD_DIM),
    ] {
        let line = format!("constexpr u64 {name} = {v};");
        assert!(src.contains(&line), "attention_tiled.cu must say `{line}`");
    }
    let line = format!("constexpr unsigned int NX_ATT_THREADS = {TILED_THREADS};");
    assert!(src.contains(&line), "attention_tiled.cu must say `{line}`");
    let s = shape(16, 256, 12, 64, true);
    assert_eq!(tiled_grid(&s), Some(16 * 12 * 16));
    assert_eq!(tiled_dkv_grid(&s), Some(16 * 12 * 8));
    assert_eq!(tiled_dkv_grid(&shape(1, 257, 1, 64, true)), None);
    assert_eq!(tiled_grid(&shape(1, 257, 1, 64, true)), None);
    assert_eq!(tiled_grid(&shape(1, 256, 1, 65, true)), None);
}

/// CPU vs CUDA on shapes of the tiled kernels (up to their bounds: gpt_small's 256 × 64, the
/// mini transformer's 64 × 32, tails of a 16-row tile, head sizes 1 and 3) and just past them
/// (the warp-per-row fallback), with key padding masks (random, tail, a fully masked sequence),
/// dropout multipliers and edge values (±0, denormals, underflowing products).
#[test]
fn attention_tiled_and_fallback_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("attention_tiled_and_fallback_cpu_vs_cuda");
    let edge = edge_values();
    for (batch, seq, heads, hd, tiled) in [
        (2, 256, 12, 64, true),
        (32, 64, 4, 32, true),
        (3, 33, 2, 1, true),
        (2, 130, 3, 3, true),
        (1, 17, 1, 64, true),
        (2, 256, 1, 65, false),
        (1, 257, 2, 64, false),
    ] {
        for (causal, masked, dropped) in [
            (true, false, true),
            (false, true, false),
            (true, true, true),
        ] {
            let s = shape(batch, seq, heads, hd, causal);
            assert_eq!(
                tiled_grid(&s).is_some(),
                tiled,
                "b{batch} t{seq} h{heads}x{hd}"
            );
            let d = s.model_dim();
            let mut qv = r.vec(batch * seq * 3 * d, -2.0, 2.0);
            for k in (0..qv.len()).step_by(13) {
                qv[k] = edge[r.below(edge.len())].clamp(-4.0, 4.0);
            }
            let qkv = p.buf(&qv);
            let key_mask = masked.then(|| {
                let m: Vec<f32> = (0..batch * seq)
                    .map(|k| {
                        let (b, j) = (k / seq, k % seq);
                        let pad = b == 0 || (b == 1 && j >= seq / 2) || r.below(4) == 0;
                        if pad {
                            0.0
                        } else {
                            1.0
                        }
                    })
                    .collect();
                p.buf(&m)
            });
            let n = batch * heads * seq * seq;
            let drop = dropped.then(|| {
                let m: Vec<f32> = (0..n)
                    .map(|_| if r.below(4) == 0 { 0.0 } else { 1.0 / 0.75 })
                    .collect();
                p.buf(&m)
            });
            let what = format!(
                "attention b{batch} t{seq} h{heads}x{hd} causal {causal} mask {masked} drop {dropped} tiled {tiled}"
            );
            let mut gv = r.vec(batch * seq * d, -1.0, 1.0);
            for k in (0..gv.len()).step_by(11) {
                gv[k] = edge[r.below(edge.len())].clamp(-4.0, 4.0);
            }
            check_passes(&mut p, s, qkv, key_mask, drop, &gv, &what);
        }
    }
    p.finish("attention_tiled_and_fallback_cpu_vs_cuda");
}
