//! Float64 finite-difference gradient checks of the transformer layers (the harness and the
//! objective `L = Σ r_i · y_i` of gradcheck.rs): LayerNorm, RmsNorm, MultiHeadAttention with and
//! without the causal mask and biases, PositionEmbedding, Embedding with repeated ids, and
//! EmbeddingAttend (the tied output head `x · tableᵀ`; the tied graph is in gradcheck_tied.rs).

mod common;

use common::{dot64, fd_check, LayerHarness, Rng};
use neuroxide::layers::{
    Embedding, EmbeddingAttend, Layer, LayerNorm, MultiHeadAttention, PositionEmbedding, RmsNorm,
    SequencePooling, SinusoidalPositionEncoding,
};
use neuroxide::Shape;

const RTOL: f64 = 1e-2;
const ATOL: f64 = 1e-3;

/// Checks the gradients of the inputs listed in `diff_inputs` and of every parameter.
fn check(
    name: &str,
    layer: Box<dyn Layer>,
    input_shapes: &[&[usize]],
    batch: usize,
    inputs: &[Vec<f32>],
    diff_inputs: &[usize],
    seed: u64,
) {
    let shapes: Vec<Shape> = input_shapes
        .iter()
        .map(|d| Shape::new(d.to_vec()))
        .collect();
    let mut h = LayerHarness::new(layer, shapes, batch, true);
    let mut rng = Rng::new(seed);
    let params: Vec<Vec<f32>> = h
        .param_specs
        .iter()
        .map(|p| rng.vec(p.shape.numel(), -1.0, 1.0))
        .collect();
    let r = rng.vec(h.output_len(), -1.0, 1.0);
    let (gi, gp) = h.backward(inputs, &params, &r);
    let mut failures = Vec::new();
    let mut nonzero = 0;
    for &i in diff_inputs {
        nonzero += gi[i].iter().filter(|v| **v != 0.0).count();
        failures.extend(fd_check(
            &format!("{name}: d/d input {i}"),
            &inputs[i],
            &gi[i],
            1e-2,
            RTOL,
            ATOL,
            &mut |x| {
                let mut ins = inputs.to_vec();
                ins[i] = x.to_vec();
                dot64(&r, &h.forward(&ins, &params))
            },
        ));
    }
    let names: Vec<&str> = h.param_specs.iter().map(|p| p.name).collect();
    for p in 0..params.len() {
        nonzero += gp[p].iter().filter(|v| **v != 0.0).count();
        failures.extend(fd_check(
            &format!("{name}: d/d {}", names[p]),
            &params[p],
            &gp[p],
            1e-2,
            RTOL,
            ATOL,
            &mut |x| {
                let mut ps = params.clone();
                ps[p] = x.to_vec();
                dot64(&r, &h.forward(inputs, &ps))
            },
        ));
    }
    assert!(nonzero > 0, "{name}: every gradient is zero");
    assert!(
        failures.is_empty(),
        "{name}: {} values disagree:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn layernorm_gradients() {
    let x = Rng::new(31).vec(3 * 4 * 6, -2.0, 2.0);
    check(
        "LayerNorm",
        Box::new(LayerNorm::new()),
        &[&[4, 6]],
        3,
        &[x],
        &[0],
        32,
    );
}

#[test]
fn rmsnorm_gradients() {
    let x = Rng::new(41).vec(3 * 4 * 6, -2.0, 2.0);
    check(
        "RmsNorm",
        Box::new(RmsNorm::new()),
        &[&[4, 6]],
        3,
        &[x],
        &[0],
        42,
    );
}

#[test]
fn attention_causal_gradients() {
    let x = Rng::new(33).vec(2 * 5 * 6, -1.0, 1.0);
    let l = MultiHeadAttention::new(2).causal();
    check("MHA causal", Box::new(l), &[&[5, 6]], 2, &[x], &[0], 34);
}

#[test]
fn attention_full_no_bias_gradients() {
    let x = Rng::new(35).vec(2 * 4 * 6, -1.0, 1.0);
    let l = MultiHeadAttention::new(3).no_bias();
    check(
        "MHA full, no bias",
        Box::new(l),
        &[&[4, 6]],
        2,
        &[x],
        &[0],
        36,
    );
}

#[test]
fn attention_rope_gradients() {
    // Heads of 4 (even, as RoPE needs); a small base so every pair turns noticeably.
    let x = Rng::new(48).vec(2 * 5 * 8, -1.0, 1.0);
    let l = MultiHeadAttention::new(2).causal().rope(10.0);
    check(
        "MHA causal + RoPE",
        Box::new(l),
        &[&[5, 8]],
        2,
        &[x],
        &[0],
        49,
    );
    let x = Rng::new(50).vec(2 * 4 * 6, -1.0, 1.0);
    let l = MultiHeadAttention::new(1).no_bias().rope(10000.0);
    check(
        "MHA full + RoPE",
        Box::new(l),
        &[&[4, 6]],
        2,
        &[x],
        &[0],
        51,
    );
}

#[test]
fn attention_dropout_gradients() {
    // Rate 0: the path without multipliers.
    let x = Rng::new(54).vec(2 * 5 * 6, -1.0, 1.0);
    let l = MultiHeadAttention::new(2).causal().dropout(0.0);
    check("MHA dropout 0", Box::new(l), &[&[5, 6]], 2, &[x], &[0], 55);
    // Rate 0.3 in training: the harness keeps (seed, node, step) fixed, so every evaluation of
    // the finite difference uses the same mask.
    let x = Rng::new(56).vec(2 * 5 * 6, -1.0, 1.0);
    let l = MultiHeadAttention::new(2).causal().dropout(0.3);
    check(
        "MHA dropout 0.3",
        Box::new(l),
        &[&[5, 6]],
        2,
        &[x],
        &[0],
        57,
    );
}

#[test]
fn sinusoidal_position_encoding_gradients() {
    let x = Rng::new(52).vec(3 * 4 * 5, -1.0, 1.0);
    check(
        "SinusoidalPositionEncoding",
        Box::new(SinusoidalPositionEncoding::new()),
        &[&[4, 5]],
        3,
        &[x],
        &[0],
        53,
    );
}

#[test]
fn position_embedding_gradients() {
    let x = Rng::new(37).vec(3 * 4 * 3, -1.0, 1.0);
    check(
        "PositionEmbedding",
        Box::new(PositionEmbedding::new()),
        &[&[4, 3]],
        3,
        &[x],
        &[0],
        38,
    );
}

#[test]
fn embedding_gradients_with_repeated_ids() {
    // 2 sequences of 5 ids over a vocabulary of 4: ids 1 and 3 repeat, id 2 never appears.
    let ids = vec![1.0, 3.0, 1.0, 0.0, 1.0, 3.0, 3.0, 0.0, 1.0, 1.0];
    check(
        "Embedding",
        Box::new(Embedding::new(4, 3)),
        &[&[5]],
        2,
        std::slice::from_ref(&ids),
        &[],
        39,
    );
    // The unused row gets exactly zero, and the ids get a zero gradient.
    let mut h = LayerHarness::new(
        Box::new(Embedding::new(4, 3)),
        vec![Shape::new([5])],
        2,
        true,
    );
    let table = Rng::new(40).vec(12, -1.0, 1.0);
    let (gi, gp) = h.backward(&[ids], &[table], &[1.0; 30]);
    assert_eq!(&gp[0][6..9], &[0.0, 0.0, 0.0]);
    assert_eq!(&gp[0][3..6], &[5.0, 5.0, 5.0]);
    assert!(gi[0].iter().all(|&v| v == 0.0));
}

#[test]
fn embedding_attend_gradients() {
    // [positions 3, dim 4] features → logits over 5 tokens; batch 2.
    let x = Rng::new(51).vec(2 * 3 * 4, -1.0, 1.0);
    check(
        "EmbeddingAttend",
        Box::new(EmbeddingAttend::new(5, 4)),
        &[&[3, 4]],
        2,
        &[x],
        &[0],
        52,
    );
}

#[test]
fn sequence_pooling_gradients() {
    let x = Rng::new(43).vec(3 * 5 * 4, -1.0, 1.0);
    check(
        "SequencePooling mean",
        Box::new(SequencePooling::mean()),
        &[&[5, 4]],
        3,
        std::slice::from_ref(&x),
        &[0],
        44,
    );
    check(
        "SequencePooling first",
        Box::new(SequencePooling::first()),
        &[&[5, 4]],
        3,
        &[x],
        &[0],
        45,
    );
}

#[test]
fn attention_key_padding_mask_gradients() {
    // Sequence 0 has its last two keys padded, sequence 1 none; causal as well.
    let x = Rng::new(46).vec(2 * 5 * 6, -1.0, 1.0);
    let mask = vec![1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    let l = MultiHeadAttention::new(2).causal().key_padding_mask();
    check(
        "MHA causal + key padding",
        Box::new(l),
        &[&[5, 6], &[5]],
        2,
        &[x, mask],
        &[0],
        47,
    );
}

#[test]
fn attention_dropout_acts_only_in_training() {
    let x = Rng::new(58).vec(2 * 5 * 6, -1.0, 1.0);
    let run = |layer: MultiHeadAttention, training: bool| {
        let mut h = LayerHarness::new(Box::new(layer), vec![Shape::new([5, 6])], 2, training);
        let mut rng = Rng::new(59);
        let params: Vec<Vec<f32>> = h
            .param_specs
            .iter()
            .map(|p| rng.vec(p.shape.numel(), -1.0, 1.0))
            .collect();
        h.forward(std::slice::from_ref(&x), &params)
    };
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    let plain = bits(run(MultiHeadAttention::new(2), true));
    let inference = bits(run(MultiHeadAttention::new(2).dropout(0.5), false));
    let rate0 = bits(run(MultiHeadAttention::new(2).dropout(0.0), true));
    let training = bits(run(MultiHeadAttention::new(2).dropout(0.5), true));
    assert_eq!(plain, inference, "inference must not drop");
    assert_eq!(plain, rate0, "rate 0 must not drop");
    assert_ne!(plain, training, "training with rate 0.5 must drop");
}
