//! Weight tying of an output head with the token embedding (`SharedLayer::attend`), checked on
//! a whole graph `ids → Embedding → Dense(tanh) → x · tableᵀ → cross-entropy`: every parameter
//! gradient against float64 finite differences of the loss; the tied table's gradient equal,
//! bit for bit, to `g_head + g_embedding` of the same graph with two separate tables (the
//! documented order); and the errors of a wrong use.

mod common;

use common::{fd_check, Rng};
use neuroxide::graph::{Graph, LayerApply, SharedLayer};
use neuroxide::layers::{Dense, Embedding, EmbeddingAttend};
use neuroxide::{optim, Activation, Loss, Model, Tensor};

const VOCAB: usize = 7;
const DIM: usize = 5;
const SEQ: usize = 4;
const BATCH: usize = 3;

fn compiled(ids: &neuroxide::SymbolicTensor, logits: &neuroxide::SymbolicTensor) -> Model {
    let mut m = Model::with_seed(&[ids], &[logits], 5).unwrap();
    // Learning rate 0: a training step computes the gradients and leaves the weights alone.
    m.compile(optim::sgd(0.0), Loss::cross_entropy()).unwrap();
    m
}

/// The tied graph: parameters `[table, kernel, bias]`.
fn tied() -> Model {
    let g = Graph::new();
    let ids = g.input_ids([SEQ]);
    let tokens = SharedLayer::new(Embedding::new(VOCAB, DIM));
    let h = Dense::new(DIM)
        .activation(Activation::Tanh)
        .apply(&tokens.apply(&ids));
    let logits = tokens.attend_named("head", &h).unwrap();
    compiled(&ids, &logits)
}

/// The same graph with a table of its own for the head: `[table, kernel, bias, head table]`.
fn untied() -> Model {
    let g = Graph::new();
    let ids = g.input_ids([SEQ]);
    let h = Dense::new(DIM)
        .activation(Activation::Tanh)
        .apply(&Embedding::new(VOCAB, DIM).apply(&ids));
    let logits = EmbeddingAttend::new(VOCAB, DIM).apply_named("head", &h);
    compiled(&ids, &logits)
}

/// Ids with repeats (so rows of the table collect several terms) and their targets.
fn batch() -> (Tensor, Tensor) {
    let mut rng = Rng::new(17);
    let mut id = || rng.index(VOCAB) as i32;
    let x: Vec<i32> = (0..BATCH * SEQ).map(|_| id()).collect();
    let y: Vec<i32> = (0..BATCH * SEQ).map(|_| id()).collect();
    (
        Tensor::from_i32(vec![BATCH, SEQ], x).unwrap(),
        Tensor::from_i32(vec![BATCH, SEQ], y).unwrap(),
    )
}

/// Weights in ±1 (the default ±0.05 table would make every gradient tiny).
fn random_weights(m: &Model, seed: u64) -> Vec<(String, Tensor)> {
    let mut rng = Rng::new(seed);
    m.params()
        .iter()
        .map(|p| {
            let dims = p.shape.dims().to_vec();
            let v = rng.vec(p.shape.numel(), -1.0, 1.0);
            (p.name.clone(), Tensor::new(dims, v).unwrap())
        })
        .collect()
}

/// Mean softmax cross-entropy over every position, in f64 from the model's f32 logits.
fn loss64(m: &mut Model, x: &Tensor, y: &Tensor) -> f64 {
    let logits = m.predict(x).unwrap();
    let targets = y.ids().unwrap();
    let rows = logits.data().chunks(VOCAB);
    let total: f64 = rows
        .zip(targets)
        .map(|(row, &t)| {
            let max = row.iter().fold(f64::MIN, |a, &v| a.max(f64::from(v)));
            let sum: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
            max + sum.ln() - f64::from(row[t as usize])
        })
        .sum();
    total / targets.len() as f64
}

#[test]
fn tied_graph_gradients_match_finite_differences() {
    let mut m = tied();
    assert_eq!(m.param_count(), VOCAB * DIM + DIM * DIM + DIM);
    assert_eq!(m.shares().last().unwrap().as_deref(), Some("embedding_1"));
    let weights = random_weights(&m, 23);
    m.set_weights(&weights).unwrap();
    let (x, y) = batch();
    m.train_step(&[&x], &[&y]).unwrap();
    let model_loss = f64::from(m.last_loss().unwrap());
    let ours = loss64(&mut m, &x, &y);
    assert!(
        (model_loss - ours).abs() < 1e-5,
        "the f64 objective is the model's loss: {model_loss} vs {ours}"
    );
    let grads = m.gradients().unwrap();
    let mut failures = Vec::new();
    for (p, (name, grad)) in grads.iter().enumerate() {
        assert!(grad.data().iter().any(|&v| v != 0.0), "{name}: all zero");
        failures.extend(fd_check(
            &format!("tied graph: d/d {name}"),
            weights[p].1.data(),
            grad.data(),
            1e-2,
            1e-2,
            1e-3,
            &mut |v| {
                let mut w = weights.clone();
                w[p].1 = Tensor::new(weights[p].1.shape().to_vec(), v.to_vec()).unwrap();
                m.set_weights(&w).unwrap();
                loss64(&mut m, &x, &y)
            },
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tied_gradient_is_head_plus_embedding_bit_for_bit() {
    let (mut t, mut u) = (tied(), untied());
    let w = random_weights(&t, 29);
    t.set_weights(&w).unwrap();
    let mut uw = w.clone();
    let head_name = u.params()[3].name.clone();
    uw.push((head_name, w[0].1.clone()));
    let names: Vec<String> = u.params().iter().map(|p| p.name.clone()).collect();
    let uw: Vec<(String, Tensor)> = names.into_iter().zip(uw.into_iter().map(|p| p.1)).collect();
    u.set_weights(&uw).unwrap();
    let (x, y) = batch();
    t.train_step(&[&x], &[&y]).unwrap();
    u.train_step(&[&x], &[&y]).unwrap();
    assert_eq!(
        t.last_loss().unwrap().to_bits(),
        u.last_loss().unwrap().to_bits()
    );
    let (gt, gu) = (t.gradients().unwrap(), u.gradients().unwrap());
    let (g_embedding, g_head) = (gu[0].1.data(), gu[3].1.data());
    assert_ne!(g_embedding, g_head, "both uses must contribute");
    let want: Vec<u32> = g_head
        .iter()
        .zip(g_embedding)
        .map(|(h, e)| (h + e).to_bits())
        .collect();
    let got: Vec<u32> = gt[0].1.data().iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want, "tied table gradient");
    for p in 1..3 {
        assert_eq!(gt[p].1, gu[p].1, "{}", gt[p].0);
    }
}

#[test]
fn attend_on_a_layer_without_a_tied_form_or_on_the_wrong_width_is_a_clear_error() {
    let g = Graph::new();
    let x = g.input([3]);
    let dense = SharedLayer::new(Dense::new(3));
    let e = dense.attend(&dense.apply(&x)).err().unwrap().to_string();
    assert!(e.contains("a Dense layer has no tied output form"), "{e}");

    let g = Graph::new();
    let ids = g.input_ids([SEQ]);
    let tokens = SharedLayer::new(Embedding::new(VOCAB, DIM));
    let h = Dense::new(DIM + 1).apply(&tokens.apply(&ids));
    let logits = tokens.attend_named("head", &h).unwrap();
    let e = Model::new(&[&ids], &[&logits]).err().unwrap().to_string();
    assert!(
        e.contains("head") && e.contains("reads features of width 5") && e.contains("[4, 6]"),
        "{e}"
    );
}
