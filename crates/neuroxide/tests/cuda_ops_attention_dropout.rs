//! Attention dropout (`ops::attention::dropout` and the fused kernels' multipliers): the mask
//! is the Dropout layer's draw (same Philox words), the step counter read from the per-step
//! scalar block gives the same mask as the one passed directly, 1 vs 2 CPU threads are
//! bit-identical, the layer at inference and with rate 0 is bit-identical to no dropout, and
//! CPU vs CUDA bit for bit for the mask and the forward and backward with multipliers.

#[path = "support/attention_cases.rs"]
mod attention_cases;
#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use attention_cases::{check_passes, shape};
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::backend::{BufId, StepBlock};
use neuroxide::ops::attention::dropout::{attention_dropout_mask, AttentionDropoutMask};
use neuroxide::ops::attention::{
    attention_backward, attention_forward, AttentionBackward, AttentionForward,
};
use neuroxide::ops::dropout::dropout_keep;
use neuroxide::Backend;
use parity_pair::{edge_values, rng, Pair};

fn mask_args(mask: BufId, n: usize, step: u32, block: Option<BufId>) -> AttentionDropoutMask {
    AttentionDropoutMask {
        mask,
        n,
        rate: 0.25,
        seed: 0x5eed_0001_0002,
        stream: 9,
        step,
        step_block: block,
    }
}

fn cpu_mask(threads: usize, n: usize, step: u32, block_step: Option<u32>) -> Vec<f32> {
    let mut be = CpuBackend::new(threads);
    let mask = be.alloc(n).unwrap();
    let block = block_step.map(|s| {
        let b = be.alloc(StepBlock::LEN).unwrap();
        let mut v = vec![0.5f32; StepBlock::LEN];
        v[StepBlock::DROPOUT_STEP] = f32::from_bits(s);
        be.upload(b, 0, &v).unwrap();
        b
    });
    attention_dropout_mask(&mut be, &mask_args(mask, n, step, block)).unwrap();
    let mut out = vec![0.0; n];
    be.download(mask, 0, &mut out).unwrap();
    out
}

#[test]
fn mask_is_the_dropout_draw_and_reads_the_step_block() {
    let n = 4 * 3 * 17 * 17 + 3;
    let direct = cpu_mask(1, n, 41, None);
    let scale = 1.0 / (1.0 - 0.25f32);
    for (i, &m) in direct.iter().enumerate() {
        let keep = dropout_keep(i, 0.25, 0x5eed_0001_0002, 9, 41);
        assert_eq!(m, if keep { scale } else { 0.0 }, "element {i}");
    }
    let dropped = direct.iter().filter(|&&m| m == 0.0).count() as f64 / n as f64;
    assert!((dropped - 0.25).abs() < 0.03, "dropped fraction {dropped}");
    // The block's counter wins over the argument (a recorded step's argument is frozen).
    let via_block = cpu_mask(2, n, 0, Some(41));
    assert!(direct
        .iter()
        .zip(&via_block)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_ne!(
        direct,
        cpu_mask(1, n, 42, None),
        "a new step draws a new mask"
    );
}

#[test]
fn attention_dropout_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("attention_dropout_cpu_vs_cuda");
    let edges = edge_values();
    for (batch, seq, heads, hd) in [(1, 1, 1, 1), (2, 7, 3, 5), (4, 64, 4, 32), (1, 257, 2, 33)] {
        for causal in [true, false] {
            let s = shape(batch, seq, heads, hd, causal);
            let d = s.model_dim();
            let n = batch * heads * seq * seq;
            let mut qv = r.vec(batch * seq * 3 * d, -2.0, 2.0);
            for (k, v) in qv.iter_mut().enumerate().step_by(13) {
                *v = edges[k % edges.len()];
            }
            let what = format!("b{batch} t{seq} h{heads}x{hd} causal {causal}");
            let drop = p.out(n);
            let block = p.buf(&{
                let mut v = vec![0.0f32; StepBlock::LEN];
                v[StepBlock::DROPOUT_STEP] = f32::from_bits(7 + seq as u32);
                v
            });
            let m = mask_args(drop, n, 0, Some(block));
            p.run(|be| attention_dropout_mask(be, &m));
            p.check(&format!("dropout mask {what}"), drop);
            let qkv = p.buf(&qv);
            let dout = r.vec(batch * seq * d, -1.0, 1.0);
            let what = format!("dropout attention {what}");
            check_passes(&mut p, s, qkv, None, Some(drop), &dout, &what);
        }
    }
    p.finish("attention_dropout_cpu_vs_cuda");
}

/// Forward and backward on the CPU with `threads` threads and optional all-`1.0` multipliers.
fn cpu_attention(threads: usize, ones: bool) -> (Vec<f32>, Vec<f32>) {
    let s = shape(3, 19, 2, 6, true);
    let d = s.model_dim();
    let n = s.batch * s.heads * s.seq * s.seq;
    let mut r = parity_pair::Rng(77);
    let mut be = CpuBackend::new(threads);
    let mut up = |v: &[f32]| {
        let b = be.alloc(v.len()).unwrap();
        be.upload(b, 0, v).unwrap();
        b
    };
    let qkv = up(&r.vec(s.batch * s.seq * 3 * d, -2.0, 2.0));
    let dout = up(&r.vec(s.batch * s.seq * d, -1.0, 1.0));
    let drop = ones.then(|| up(&vec![1.0; n]));
    let out = be.alloc(s.batch * s.seq * d).unwrap();
    let probs = be.alloc(n).unwrap();
    let dqkv = be.alloc(s.batch * s.seq * 3 * d).unwrap();
    let f = AttentionForward {
        shape: s,
        qkv,
        out,
        probs,
        key_mask: None,
        drop,
    };
    attention_forward(&mut be, &f).unwrap();
    let b = AttentionBackward {
        shape: s,
        qkv,
        probs,
        dout,
        dqkv,
        key_mask: None,
        drop,
    };
    attention_backward(&mut be, &b).unwrap();
    let mut o = vec![0.0; s.batch * s.seq * d];
    let mut g = vec![0.0; s.batch * s.seq * 3 * d];
    be.download(out, 0, &mut o).unwrap();
    be.download(dqkv, 0, &mut g).unwrap();
    (o, g)
}

#[test]
fn unit_multipliers_and_thread_counts_change_no_bit() {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let (o1, g1) = cpu_attention(1, false);
    let (o2, g2) = cpu_attention(2, true);
    assert_eq!(
        bits(&o1),
        bits(&o2),
        "out: multipliers of 1 or thread count changed bits"
    );
    assert_eq!(
        bits(&g1),
        bits(&g2),
        "dqkv: multipliers of 1 or thread count changed bits"
    );
}
