//! The functional API end to end: a residual MLP with two inputs (concatenated) and two outputs
//! trains, and its gradients pass a float64 finite-difference check through the whole model;
//! shape errors name the layer; an unlisted input is reported; `summary()` is complete.

mod common;

use common::{fd_check, Rng};
use neuroxide::graph::{add, concat, multiply, LayerApply};
use neuroxide::layers::{Dense, Flatten, Reshape};
use neuroxide::{optim, Activation, Graph, Loss, Model, Sequential, SymbolicTensor, Tensor};

/// `a[3], b[2] → concat → Dense(8, tanh) = h1 → Dense(8, silu) = h2 → add(h1, h2) = r`;
/// outputs `Dense(1)(r)` and `Dense(2, gelu_tanh)(r)`.
fn residual_two_in_two_out(seed: u64) -> Model {
    let g = Graph::new();
    let a = g.input([3]);
    let b = g.input([2]);
    let c = concat(&[&a, &b]);
    let h1 = Dense::new(8).activation(Activation::Tanh).apply(&c);
    let h2 = Dense::new(8).activation(Activation::Silu).apply(&h1);
    let r = add(&[&h1, &h2]);
    let o1 = Dense::new(1).apply_named("out_sum", &r);
    let o2 = Dense::new(2)
        .activation(Activation::GeluTanh)
        .apply_named("out_pair", &r);
    Model::with_seed(&[&a, &b], &[&o1, &o2], seed).expect("build")
}

/// Synthetic regression: `y1 = sin(a0) + a1·b0`, `y2 = [a2 − b1, 0.5·a0·b1]`.
fn dataset(rows: usize, seed: u64) -> [Tensor; 4] {
    let mut rng = Rng::new(seed);
    let a = rng.vec(rows * 3, -1.0, 1.0);
    let b = rng.vec(rows * 2, -1.0, 1.0);
    let mut y1 = Vec::new();
    let mut y2 = Vec::new();
    for i in 0..rows {
        let (a0, a1, a2) = (a[3 * i], a[3 * i + 1], a[3 * i + 2]);
        let (b0, b1) = (b[2 * i], b[2 * i + 1]);
        y1.push(a0.sin() + a1 * b0);
        y2.push(a2 - b1);
        y2.push(0.5 * a0 * b1);
    }
    [
        Tensor::new([rows, 3], a).unwrap(),
        Tensor::new([rows, 2], b).unwrap(),
        Tensor::new([rows, 1], y1).unwrap(),
        Tensor::new([rows, 2], y2).unwrap(),
    ]
}

#[test]
fn residual_two_inputs_two_outputs_trains() {
    let mut m = residual_two_in_two_out(5);
    assert_eq!(m.input_shapes().len(), 2);
    assert_eq!(m.output_shapes(), vec![[1].into(), [2].into()]);
    // (5·8 + 8) + (8·8 + 8) + (8·1 + 1) + (8·2 + 2)
    assert_eq!(m.param_count(), 48 + 72 + 9 + 18);
    m.compile(optim::adam(0.01), Loss::mse()).unwrap();
    let [a, b, y1, y2] = dataset(64, 1);
    let eval = |m: &mut Model| {
        m.eval_step(&[&a, &b], &[&y1, &y2]).unwrap();
        m.last_loss().unwrap()
    };
    let initial = eval(&mut m);
    for _ in 0..400 {
        m.train_step(&[&a, &b], &[&y1, &y2]).unwrap();
    }
    let trained = eval(&mut m);
    assert!(
        trained < 0.1 * initial,
        "loss must fall markedly: {initial} -> {trained}"
    );
    // Two outputs come back with their own shapes, and match what the loss saw.
    let preds = m.predict_multi(&[&a, &b], 16).unwrap();
    assert_eq!(preds.len(), 2);
    assert_eq!(preds[0].shape(), &[64, 1]);
    assert_eq!(preds[1].shape(), &[64, 2]);
    let mse = |p: &Tensor, t: &Tensor| {
        p.data()
            .iter()
            .zip(t.data())
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum::<f64>()
            / p.data().len() as f64
    };
    let recomputed = mse(&preds[0], &y1) + mse(&preds[1], &y2);
    assert!(
        (recomputed - f64::from(trained)).abs() < 1e-5 * recomputed.max(1e-3),
        "eval loss {trained} vs loss recomputed from predictions {recomputed}"
    );
}

/// Model-level gradient check. The analytic gradient comes out of one SGD step with lr = 2^10
/// (`w1 = w0 − 1024·g`, and scaling by a power of two is exact, so `g = (w0 − w1)/1024` keeps
/// nearly full f32 precision); the numeric one from `eval_step` losses with one weight moved.
#[test]
fn residual_model_gradients_match_finite_differences() {
    let mut m = residual_two_in_two_out(9);
    m.compile(optim::sgd(1024.0), Loss::mse()).unwrap();
    let [a, b, y1, y2] = dataset(16, 2);
    let w0 = m.weights().unwrap();
    m.train_step(&[&a, &b], &[&y1, &y2]).unwrap();
    let w1 = m.weights().unwrap();
    m.set_weights(&w0).unwrap();

    // Forward-only loss: same value before and after restoring the weights.
    let loss_at = |m: &mut Model, w: &[(String, Tensor)]| -> f64 {
        m.set_weights(w).unwrap();
        m.eval_step(&[&a, &b], &[&y1, &y2]).unwrap();
        f64::from(m.last_loss().unwrap())
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for p in 0..w0.len() {
        let name = w0[p].0.clone();
        let x = w0[p].1.data().to_vec();
        let analytic: Vec<f32> = x
            .iter()
            .zip(w1[p].1.data())
            .map(|(&before, &after)| ((f64::from(before) - f64::from(after)) / 1024.0) as f32)
            .collect();
        assert!(analytic.iter().any(|g| *g != 0.0), "{name}: zero gradient");
        checked += x.len();
        let mut w = w0.clone();
        failures.extend(fd_check(&name, &x, &analytic, 1e-2, 1e-2, 1e-3, &mut |v| {
            w[p].1.data_mut().copy_from_slice(v);
            loss_at(&mut m, &w)
        }));
    }
    assert_eq!(checked, m.param_count());
    assert!(
        failures.is_empty(),
        "{} of {checked} weights fail the model-level gradient check:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `Sequential` is sugar over the graph: same layers and seed give the same model.
#[test]
fn sequential_equals_functional() {
    let mut s = Sequential::new([2, 3])
        .add(Flatten::new())
        .add(Dense::new(5).relu())
        .add(Reshape::new([5, 1]))
        .add(Dense::new(2))
        .build(17)
        .unwrap();
    let g = Graph::new();
    let x = g.input([2, 3]);
    let y = Dense::new(2)
        .apply(&Reshape::new([5, 1]).apply(&Dense::new(5).relu().apply(&Flatten::new().apply(&x))));
    let mut f = Model::with_seed(&[&x], &[&y], 17).unwrap();
    assert_eq!(s.output_shapes(), vec![[5, 2].into()]);
    assert_eq!(s.param_count(), 6 * 5 + 5 + 2 + 2);
    assert_eq!(s.param_count(), f.param_count());
    let ws = s.weights().unwrap();
    let wf = f.weights().unwrap();
    assert_eq!(ws, wf, "same seed, same layers: same initial weights");
    let input = Tensor::new([4, 2, 3], Rng::new(3).vec(24, -1.0, 1.0)).unwrap();
    let ps = s.predict(&input).unwrap();
    let pf = f.predict(&input).unwrap();
    assert_eq!(ps.shape(), &[4, 5, 2]);
    assert_eq!(ps, pf);
}

/// A gating product (`multiply`) inside a graph trains.
#[test]
fn multiply_gate_trains() {
    let g = Graph::new();
    let x = g.input([4]);
    let v = Dense::new(6).apply(&x);
    let gate = Dense::new(6).activation(Activation::Sigmoid).apply(&x);
    let y = Dense::new(1).apply(&multiply(&v, &gate));
    let mut m = Model::with_seed(&[&x], &[&y], 2).unwrap();
    m.compile(optim::adam(0.02), Loss::mse()).unwrap();
    let mut rng = Rng::new(8);
    let xs = rng.vec(32 * 4, -1.0, 1.0);
    let ys: Vec<f32> = xs.chunks(4).map(|r| r[0] * r[1] - r[2]).collect();
    let (xt, yt) = (
        Tensor::new([32, 4], xs).unwrap(),
        Tensor::new([32, 1], ys).unwrap(),
    );
    let first = m.train_on_batch(&xt, &yt).unwrap();
    let mut last = first;
    for _ in 0..300 {
        last = m.train_on_batch(&xt, &yt).unwrap();
    }
    assert!(last < 0.2 * first, "loss {first} -> {last}");
}

fn build_err(inputs: &[&SymbolicTensor], outputs: &[&SymbolicTensor]) -> String {
    match Model::new(inputs, outputs) {
        Ok(_) => panic!("building must fail"),
        Err(e) => {
            eprintln!("build error: {e}");
            e.to_string()
        }
    }
}

#[test]
fn add_shape_mismatch_names_the_layer_and_both_shapes() {
    let g = Graph::new();
    let x = g.input([3]);
    let h4 = Dense::new(4).apply(&x);
    let h5 = Dense::new(5).apply(&x);
    let s = add(&[&h4, &h5]);
    let msg = build_err(&[&x], &[&s]);
    for want in ["add_1", "[4]", "[5]"] {
        assert!(msg.contains(want), "error {msg:?} should mention {want}");
    }
}

#[test]
fn concat_shape_mismatch_names_the_layer() {
    let g = Graph::new();
    let x = g.input([2, 3]);
    let z = g.input([3, 3]);
    let c = concat(&[&x, &z]);
    let msg = build_err(&[&x, &z], &[&c]);
    for want in ["concat_1", "[2, 3]", "[3, 3]"] {
        assert!(msg.contains(want), "error {msg:?} should mention {want}");
    }
}

#[test]
fn named_layer_in_shape_error() {
    let g = Graph::new();
    let x = g.input([6]);
    let r = Reshape::new([4, 0]).apply_named("bad_reshape", &x);
    let msg = build_err(&[&x], &[&r]);
    assert!(
        msg.contains("bad_reshape") && msg.contains("[6]"),
        "error {msg:?} should name the layer and its input shape"
    );
}

#[test]
fn unlisted_input_is_a_clear_error() {
    let g = Graph::new();
    let x = g.input([4]);
    let z = g.input([7]);
    let y = Dense::new(1).apply(&concat(&[&x, &z]));
    let msg = build_err(&[&x], &[&y]);
    assert!(
        msg.contains("not among the model's inputs") && msg.contains("[7]"),
        "error {msg:?} should say which input is missing"
    );
}

#[test]
fn other_graph_and_duplicate_names_are_errors() {
    let g1 = Graph::new();
    let g2 = Graph::new();
    let x1 = g1.input([2]);
    let y2 = Dense::new(1).apply(&g2.input([2]));
    let msg = build_err(&[&x1], &[&y2]);
    assert!(msg.contains("different graphs"), "{msg}");

    let g = Graph::new();
    let x = g.input([2]);
    let h = Dense::new(3).apply_named("hidden", &x);
    let y = Dense::new(1).apply_named("hidden", &h);
    let msg = build_err(&[&x], &[&y]);
    assert!(msg.contains("'hidden'"), "{msg}");

    let msg = build_err(&[], &[&y]);
    assert!(msg.contains("at least one input"), "{msg}");
}

#[test]
fn summary_lists_layers_shapes_and_params() {
    let m = residual_two_in_two_out(1);
    let s = m.summary();
    eprintln!("{s}");
    let line = |name: &str| -> &str {
        s.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("summary has no line for {name}:\n{s}"))
    };
    // name, type, output shape, parameter count
    let rows = [
        ("input_1", "Input", "(None, 3)", "0"),
        ("input_2", "Input", "(None, 2)", "0"),
        ("concat_1", "Concat", "(None, 5)", "0"),
        ("dense_1", "Dense", "(None, 8)", "48"),
        ("dense_2", "Dense", "(None, 8)", "72"),
        ("add_1", "Add", "(None, 8)", "0"),
        ("out_sum", "Dense", "(None, 1)", "9"),
        ("out_pair", "Dense", "(None, 2)", "18"),
    ];
    for (name, kind, shape, params) in rows {
        let l = line(name);
        let fields: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(fields[1], kind, "type of {name} in: {l}");
        assert!(l.contains(shape), "{name} should show {shape}: {l}");
        let count_field = l
            .split(')')
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next());
        assert_eq!(count_field, Some(params), "params of {name} in: {l}");
    }
    // The merge rows list their inputs.
    assert!(line("concat_1").contains("input_1, input_2"), "{s}");
    assert!(line("add_1").contains("dense_1, dense_2"), "{s}");
    assert!(
        s.contains(&format!("Total params: {}", m.param_count())),
        "{s}"
    );
    assert_eq!(m.param_count(), 147);
}

/// An input listed in `Model::new` that no output depends on must be either kept (and fed) or
/// rejected by name; it must not leave a dangling node index behind.
#[test]
fn unused_listed_input_is_kept_or_rejected() {
    let g = Graph::new();
    let a = g.input([2]);
    let b = g.input([3]);
    let y = Dense::new(1).apply(&a);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        match Model::new(&[&a, &b], &[&y]) {
            Err(e) => Err(e.to_string()),
            Ok(mut m) => {
                let shapes = m.input_shapes();
                let xa = Tensor::new([2, 2], vec![0.5; 4]).unwrap();
                let xb = Tensor::new([2, 3], vec![0.5; 6]).unwrap();
                let p = m.predict_multi(&[&xa, &xb], 2).map_err(|e| e.to_string())?;
                Ok((shapes, p[0].shape().to_vec()))
            }
        }
    }));
    match result {
        Err(_) => panic!("building or using a model with an unused input panicked"),
        Ok(Err(msg)) => assert!(msg.contains("input_2") || msg.contains("[3]"), "{msg}"),
        Ok(Ok((shapes, pred_shape))) => {
            assert_eq!(shapes, vec![[2].into(), [3].into()]);
            assert_eq!(pred_shape, vec![2, 1]);
        }
    }
}

/// Only `Graph::input` tensors can be model inputs: listing a layer's output as an input would
/// silently discard the data fed to it (forward overwrites that buffer).
#[test]
fn layer_output_as_model_input_is_an_error() {
    let g = Graph::new();
    let a = g.input([2]);
    let h = Dense::new(3).apply(&a);
    let y = Dense::new(1).apply(&h);
    let msg = build_err(&[&a, &h], &[&y]);
    assert!(msg.contains("dense_1"), "{msg}");
}

/// The same tensor listed twice as an output: the loss is the sum of both (identical) losses,
/// so the gradient must be twice that of the single-output model (or building must fail).
#[test]
fn repeated_output_gradient_is_summed() {
    let make = |twice: bool| {
        let g = Graph::new();
        let x = g.input([3]);
        let y = Dense::new(2).apply(&x);
        if twice {
            Model::with_seed(&[&x], &[&y, &y], 4)
        } else {
            Model::with_seed(&[&x], &[&y], 4)
        }
    };
    let Ok(mut twice) = make(true) else {
        return; // rejecting the graph is fine too
    };
    let mut once = make(false).unwrap();
    let xs = Tensor::new([4, 3], Rng::new(5).vec(12, -1.0, 1.0)).unwrap();
    let ys = Tensor::new([4, 2], Rng::new(6).vec(8, -1.0, 1.0)).unwrap();
    let grad = |m: &mut Model, outputs: usize| -> Vec<f64> {
        m.compile(optim::sgd(1024.0), Loss::mse()).unwrap();
        let w0 = m.weights().unwrap();
        let ys_all: Vec<&Tensor> = (0..outputs).map(|_| &ys).collect();
        m.train_step(&[&xs], &ys_all).unwrap();
        let w1 = m.weights().unwrap();
        w0.iter()
            .zip(&w1)
            .flat_map(|((_, a), (_, b))| {
                a.data()
                    .iter()
                    .zip(b.data())
                    .map(|(x, y)| (f64::from(*x) - f64::from(*y)) / 1024.0)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let g1 = grad(&mut once, 1);
    let g2 = grad(&mut twice, 2);
    for (i, (a, b)) in g1.iter().zip(&g2).enumerate() {
        assert!(
            (2.0 * a - b).abs() <= 1e-5 * b.abs().max(1e-3),
            "weight value {i}: single-output gradient {a}, repeated-output gradient {b} (want {})",
            2.0 * a
        );
    }
}
