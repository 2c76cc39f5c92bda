//! The character language model end to end: the shipped text (checksum), the tokenizer and its
//! save/load, LM windows, the causal property of the whole model, bad ids rejected on the host,
//! save/load round trip with the tokenizer, thread-count independence, and a CI-sized training
//! run whose validation loss must fall below a stated bound (run it with `--release`).

use neuroxide::data::text::{lm_batch, train_val_split, CharTokenizer, SHAKESPEARE_SHA256};
use neuroxide::{Device, Model, Tensor};
use neuroxide_examples::char_transformer::{self as ct, validation_loss, GenerateOptions};
#[path = "support/tiny_lm.rs"]
mod tiny_lm;
use tiny_lm::{corpus, tiny};

#[test]
fn shakespeare_is_the_shipped_text_and_round_trips() {
    let (t, ids) = corpus();
    assert_eq!(SHAKESPEARE_SHA256.len(), 64);
    assert_eq!(ids.len(), 1_036_467);
    assert_eq!(t.vocab(), 76);
    let (train, val) = train_val_split(&ids);
    assert_eq!(val.len(), ids.len() / 10);
    assert_eq!(train.len() + val.len(), ids.len());
    assert_eq!(t.decode(&ids[..200]).unwrap().len(), 200);
    let e = t.encode("ROMEO é").unwrap_err().to_string();
    assert!(e.contains("'é'") && e.contains("76"), "{e}");
    // Windows: y is x shifted by one, the same for the same seed and step.
    let (x, y) = lm_batch(train, 16, 4, 9, 3).unwrap();
    let (x2, _) = lm_batch(train, 16, 4, 9, 3).unwrap();
    // Windows are i32 ids: the next token at every position.
    assert_eq!(x.dtype(), neuroxide::DType::I32);
    assert_eq!(x.ids().unwrap(), x2.ids().unwrap());
    assert_eq!(&x.ids().unwrap()[1..16], &y.ids().unwrap()[..15]);
    assert_ne!(
        lm_batch(train, 16, 4, 9, 4).unwrap().0.ids().unwrap(),
        x.ids().unwrap()
    );
}

fn batch(ids: &[u32], seq: usize, n: usize, step: u64) -> (Tensor, Tensor) {
    lm_batch(ids, seq, n, 5, step).unwrap()
}

#[test]
fn changing_future_tokens_leaves_earlier_outputs_bit_identical() {
    let c = tiny(76);
    let mut m = ct::build(&c, 3).unwrap();
    let (_, ids) = corpus();
    let (x, _) = batch(&ids, c.seq, 2, 0);
    let a = m.predict(&x).unwrap();
    let mut changed = x.ids().unwrap().to_vec();
    for row in 0..2 {
        for t in 20..c.seq {
            changed[row * c.seq + t] = (changed[row * c.seq + t] + 7) % 76;
        }
    }
    let b = m
        .predict(&Tensor::from_i32(vec![2, c.seq], changed).unwrap())
        .unwrap();
    let v = c.vocab;
    for row in 0..2 {
        let off = row * c.seq * v;
        let bits = |s: &[f32]| s.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&a.data()[off..off + 20 * v]),
            bits(&b.data()[off..off + 20 * v])
        );
        assert_ne!(
            bits(&a.data()[off + 20 * v..off + 32 * v]),
            bits(&b.data()[off + 20 * v..off + 32 * v])
        );
    }
}

#[test]
fn a_bad_token_id_is_a_clear_error() {
    let c = tiny(10);
    let mut m = ct::model(&c, 1e-3, 1).unwrap();
    let mut x = vec![1i32; 2 * c.seq];
    x[37] = 10;
    let x = Tensor::from_i32(vec![2, c.seq], x).unwrap();
    let y = Tensor::from_i32(vec![2, c.seq], vec![0; 2 * c.seq]).unwrap();
    let e = m.train_step(&[&x], &[&y]).unwrap_err().to_string();
    assert!(
        e.contains("token_embedding") && e.contains("id 10") && e.contains("vocabulary size 10"),
        "{e}"
    );
    let e = m.predict(&x).unwrap_err().to_string();
    assert!(e.contains("id 10"), "{e}");
    // Negative ids too, and ids given as floats are a dtype error, not a conversion.
    let mut neg = vec![1i32; 2 * c.seq];
    neg[5] = -2;
    let neg = Tensor::from_i32(vec![2, c.seq], neg).unwrap();
    let e = m.predict(&neg).unwrap_err().to_string();
    assert!(
        e.contains("id -2") && e.contains("vocabulary size 10"),
        "{e}"
    );
    let floats = x.to_f32();
    let e = m.predict(&floats).unwrap_err().to_string();
    assert!(
        e.contains("takes i32 values") && e.contains("got a f32 tensor") && e.contains("dtype"),
        "{e}"
    );
}

fn train_steps(device: Device, steps: usize) -> (Vec<u32>, Vec<Vec<u32>>) {
    let (_, ids) = corpus();
    let c = tiny(76);
    let mut m = ct::model(&c, 1e-3, 2).unwrap();
    m.to_device(device).unwrap();
    let mut losses = Vec::new();
    for s in 0..steps {
        let (x, y) = batch(&ids, c.seq, 4, s as u64);
        losses.push(m.train_on_batch(&x, &y).unwrap().to_bits());
    }
    let w = m
        .weights()
        .unwrap()
        .into_iter()
        .map(|(_, t)| t.data().iter().map(|f| f.to_bits()).collect())
        .collect();
    (losses, w)
}

#[test]
fn transformer_training_is_thread_count_independent() {
    let one = train_steps(Device::cpu_threads(1), 4);
    let two = train_steps(Device::cpu_threads(2), 4);
    assert_eq!(one.0, two.0, "losses differ between 1 and 2 threads");
    assert!(one.1 == two.1, "weights differ between 1 and 2 threads");
}

#[test]
fn save_and_load_round_trip_with_the_tokenizer() {
    let (t, ids) = corpus();
    let c = tiny(t.vocab());
    let mut m = ct::model(&c, 1e-3, 4).unwrap();
    let (x, y) = batch(&ids, c.seq, 4, 0);
    m.train_on_batch(&x, &y).unwrap();
    let dir = std::env::temp_dir().join(format!("nx_char_lm_{}", std::process::id()));
    m.save(&dir).unwrap();
    t.save(&dir).unwrap();
    let mut back = Model::load(&dir).unwrap();
    let t2 = CharTokenizer::load(&dir).unwrap();
    assert_eq!(t, t2);
    let bits = |t: &Tensor| t.data().iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&m.predict(&x).unwrap()),
        bits(&back.predict(&x).unwrap())
    );
    let o = GenerateOptions {
        temperature: 0.8,
        top_k: Some(5),
        seed: 1,
    };
    let a = ct::generate(&mut m, &t, "KING", 20, &o, &mut |_| {}).unwrap();
    let b = ct::generate(&mut back, &t2, "KING", 20, &o, &mut |_| {}).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.chars().count(), 20);
    std::fs::remove_dir_all(&dir).ok();
}

/// CI-sized run: the tiny model (T 32, d 48, 1 block), batch 16, AdamW(3e-3) for 300 steps
/// must bring the validation loss (256 windows) below 2.6 nats/char (uniform over 76
/// characters is 4.33; a unigram model ≈ 3.3).
#[test]
fn ci_sized_language_model_learns() {
    if cfg!(debug_assertions) {
        println!("skipped in debug builds (run with --release)");
        return;
    }
    let (t, ids) = corpus();
    let (train, val) = train_val_split(&ids);
    let c = tiny(t.vocab());
    let mut m = ct::model(&c, 3e-3, 1).unwrap();
    let start = std::time::Instant::now();
    let before = validation_loss(&mut m, val, c.seq, 256).unwrap();
    for s in 0..300u64 {
        let (x, y) = lm_batch(train, c.seq, 16, 1, s).unwrap();
        m.train_step(&[&x], &[&y]).unwrap();
    }
    let after = validation_loss(&mut m, val, c.seq, 256).unwrap();
    println!(
        "validation loss {before:.3} -> {after:.3} in 300 steps ({:.1}s)",
        start.elapsed().as_secs_f64()
    );
    assert!(after < 2.6, "validation loss {after} after 300 steps");
}

/// The validation loss weights every window alike: 40 windows (a batch of 32 and one of 8) give
/// the window-weighted mean of the first 32 and the next 8, not the mean of the two batches.
#[test]
fn validation_loss_weights_a_short_last_batch_by_its_windows() {
    let (t, ids) = corpus();
    let (_, val) = train_val_split(&ids);
    let c = tiny(t.vocab());
    let mut m = ct::model(&c, 3e-3, 1).unwrap();
    let first = validation_loss(&mut m, val, c.seq, 32).unwrap();
    let next = validation_loss(&mut m, &val[32 * c.seq..], c.seq, 8).unwrap();
    let all = validation_loss(&mut m, val, c.seq, 40).unwrap();
    let expected = (32.0 * first + 8.0 * next) / 40.0;
    assert!(
        (first - next).abs() > 1e-3,
        "the two parts must differ for the test to tell the weightings apart ({first} vs {next})"
    );
    assert!(
        (all - expected).abs() < 1e-5,
        "40 windows: {all}, window-weighted mean {expected}, mean of batch means {}",
        (first + next) / 2.0
    );
}

/// A block variant with RMSNorm and a SwiGLU feed-forward builds, trains and lowers the loss.
#[test]
fn rmsnorm_swiglu_block_trains() {
    use neuroxide::graph::{add, Graph, LayerApply};
    use neuroxide::layers::{Dense, Embedding, MultiHeadAttention, PositionEmbedding, RmsNorm};
    let (_, ids) = corpus();
    let g = Graph::new();
    let tokens = g.input_ids([16]);
    let x = PositionEmbedding::new().apply(&Embedding::new(76, 32).apply(&tokens));
    let h = MultiHeadAttention::new(2)
        .causal()
        .no_bias()
        .apply(&RmsNorm::new().apply(&x));
    let x = add(&[&x, &h]);
    let h = ct::swiglu(&RmsNorm::new().apply(&x), 64, 32);
    let x = add(&[&x, &h]);
    let logits = Dense::new(76).no_bias().apply(&RmsNorm::new().apply(&x));
    let mut m = Model::with_seed(&[&tokens], &[&logits], 1).unwrap();
    m.compile(
        neuroxide::optim::adamw(3e-3, 0.01),
        neuroxide::Loss::cross_entropy(),
    )
    .unwrap();
    let (x, y) = batch(&ids, 16, 8, 0);
    let first = m.train_on_batch(&x, &y).unwrap();
    let mut last = first;
    for _ in 0..30 {
        last = m.train_on_batch(&x, &y).unwrap();
    }
    assert!(last < first - 0.5, "loss {first} -> {last}");
}
