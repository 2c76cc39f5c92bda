//! The character LM with every regularisation option and a tied head (`TransformerConfig`:
//! dropout on the embedding sum and the residual branches, attention-weight dropout, the head
//! reading the token embedding's table through `SharedLayer::attend`), trained 30 steps on the
//! CPU and on CUDA from one seed: every step's loss, every final weight, the validation loss
//! and the predictions bit-identical. The steps after the first are recorded CUDA graphs, so
//! the dropout counters travel through the per-step scalar block and the tied table's
//! gradient sum (`g_head + g_embedding`) runs inside a replayed graph.
//!
//! Without a usable GPU the test prints why it was skipped (a failure under
//! `NEUROXIDE_REQUIRE_CUDA=1`).

#[path = "../../neuroxide/tests/support/require_cuda.rs"]
mod require_cuda;

use neuroxide::data::text::lm_batch;
use neuroxide::parity::{compare_losses, compare_weights};
use neuroxide::{Device, Tensor};
use neuroxide_examples::char_transformer::{self as ct, validation_loss, TransformerConfig};

const VOCAB: usize = 11;
const SEQ: usize = 12;

fn config() -> TransformerConfig {
    TransformerConfig {
        vocab: VOCAB,
        seq: SEQ,
        dim: 16,
        heads: 2,
        blocks: 2,
        ff: 32,
        dropout: 0.1,
        attention_dropout: 0.1,
        tie_weights: true,
    }
}

/// A deterministic token stream with some structure to learn.
fn tokens() -> Vec<u32> {
    (0..3000u32)
        .map(|i| (i * i + 3 * i) % VOCAB as u32)
        .collect()
}

struct Trace {
    losses: Vec<f32>,
    weights: Vec<(String, Tensor)>,
    val: f64,
    prediction: Vec<u32>,
}

fn run(device: Device, batches: &[(Tensor, Tensor)]) -> Trace {
    let mut m = ct::model_with_weight_decay(&config(), 3e-3, 0.05, 3).expect("model");
    m.to_device(device).expect("device");
    let losses = batches
        .iter()
        .map(|(x, y)| m.train_on_batch(x, y).expect("step"))
        .collect();
    let t = tokens();
    let val = validation_loss(&mut m, &t[2000..], SEQ, 40).expect("validation");
    let prediction = m
        .predict(&batches[0].0)
        .expect("predict")
        .data()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    Trace {
        losses,
        weights: m.weights().expect("weights"),
        val,
        prediction,
    }
}

#[test]
fn tied_dropout_lm_cpu_vs_cuda_bit_identical() {
    if let Err(e) = neuroxide::backend::cuda::probe(0) {
        require_cuda::skip(format!("no usable CUDA device: {e}"));
        return;
    }
    let t = tokens();
    let batches: Vec<_> = (0..30u64)
        .map(|s| lm_batch(&t[..2000], SEQ, 16, 2, s).expect("batch"))
        .collect();
    let cpu = run(Device::cpu(), &batches);
    let gpu = run(Device::cuda(0), &batches);
    let l = compare_losses(&cpu.losses, &gpu.losses).expect("same step count");
    let w = compare_weights(&cpu.weights, &gpu.weights).expect("same parameters");
    println!(
        "tied head + dropout 0.1 + attention dropout 0.1: losses {} differing of {}, weights {} \
         of {}; validation loss {} (CPU) vs {} (CUDA); loss {} -> {}",
        l.differing,
        l.compared,
        w.differing,
        w.compared,
        cpu.val,
        gpu.val,
        cpu.losses[0],
        cpu.losses[29]
    );
    assert!(l.identical() && w.identical(), "CPU and CUDA differ");
    assert_eq!(cpu.val.to_bits(), gpu.val.to_bits(), "validation loss");
    assert!(cpu.prediction == gpu.prediction, "predictions differ");
    // One table for embedding and head: the tied model has no head parameter.
    assert!(cpu.weights.iter().all(|(n, _)| !n.starts_with("head/")));
    assert!(
        cpu.losses[29] < cpu.losses[0],
        "the model must learn for the comparison to mean anything"
    );
}
