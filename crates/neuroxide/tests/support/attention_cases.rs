//! Attention cases shared by the CUDA attention tests: the shape of a case and the CPU vs CUDA
//! check of one forward and backward pass.
#![allow(dead_code)]

use super::parity_pair::Pair;
use neuroxide::backend::BufId;
use neuroxide::ops::attention::{
    attention_backward, attention_forward, AttentionBackward, AttentionForward, AttentionShape,
};

/// A self-attention shape with the usual `1/sqrt(head_dim)` scale.
pub fn shape(
    batch: usize,
    seq: usize,
    heads: usize,
    head_dim: usize,
    causal: bool,
) -> AttentionShape {
    AttentionShape {
        batch,
        seq,
        heads,
        head_dim,
        causal,
        scale: (1.0 / (head_dim as f64).sqrt()) as f32,
    }
}

/// Forward, then backward from `dout`, on both backends: `out`, `probs` and `dqkv` must agree
/// bit for bit (`what` names the case in the report).
pub fn check_passes(
    p: &mut Pair,
    s: AttentionShape,
    qkv: BufId,
    key_mask: Option<BufId>,
    drop: Option<BufId>,
    dout: &[f32],
    what: &str,
) {
    let d = s.model_dim();
    let (out, probs) = (
        p.out(s.batch * s.seq * d),
        p.out(s.batch * s.heads * s.seq * s.seq),
    );
    let f = AttentionForward {
        shape: s,
        qkv,
        out,
        probs,
        key_mask,
        drop,
    };
    p.run(|be| attention_forward(be, &f));
    p.check(&format!("{what} out"), out);
    p.check(&format!("{what} probs"), probs);
    let dout = p.buf(dout);
    let dqkv = p.out(s.batch * s.seq * 3 * d);
    let b = AttentionBackward {
        shape: s,
        qkv,
        probs,
        dout,
        dqkv,
        key_mask,
        drop,
    };
    p.run(|be| attention_backward(be, &b));
    p.check(&format!("{what} dqkv"), dqkv);
}
