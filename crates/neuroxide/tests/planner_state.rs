//! Planner v2: non-trainable layer state (allocated, initialised, written by forward in
//! training only, moved between devices, never touched by the optimizer, counted as
//! non-trainable), shared layers (one parameter set, gradients added in reverse order of
//! application) and the planned device bytes.

mod common;

use neuroxide::graph::{Graph, LayerApply, SharedLayer};
use neuroxide::layers::{Dense, GradIo, Initializer, Io, Layer, LayerCtx, StateSpec};
use neuroxide::ops::copy::{copy_2d, Copy2d};
use neuroxide::ops::elementwise;
use neuroxide::{optim, Device, Loss, Model, Result, Shape, Tensor};

/// Identity layer that, in training, adds the first sample of its input into a state tensor
/// initialised to ones: a visible record of which forward passes ran in training mode.
#[derive(Clone)]
struct Tally;

impl Layer for Tally {
    fn kind(&self) -> &'static str {
        "Tally"
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        Ok(inputs[0].clone())
    }
    fn state(&self, inputs: &[Shape]) -> Vec<StateSpec> {
        vec![StateSpec {
            name: "tally",
            shape: inputs[0].clone(),
            init: Initializer::Ones,
        }]
    }
    fn forward(&self, ctx: &mut LayerCtx, io: &Io) -> Result<()> {
        let n = ctx.batch * io.input_shapes[0].numel();
        copy_2d(ctx.backend, &Copy2d::plain(io.inputs[0], io.output, n))?;
        if ctx.training {
            let width = io.input_shapes[0].numel();
            elementwise::add_assign(ctx.backend, io.state[0], io.inputs[0], width)?;
        }
        Ok(())
    }
    fn backward(&self, ctx: &mut LayerCtx, io: &Io, g: &GradIo) -> Result<()> {
        let n = ctx.batch * io.input_shapes[0].numel();
        if let Some(dx) = g.grad_inputs[0] {
            copy_2d(ctx.backend, &Copy2d::plain(g.grad_output, dx, n))?;
        }
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

fn tally_model() -> Model {
    let g = Graph::new();
    let x = g.input([3]);
    let h = Dense::new(3).apply(&x);
    let t = g.apply_layer(Box::new(Tally), None, &[&h]);
    let y = Dense::new(1).apply(&t);
    let mut m = Model::with_seed(&[&x], &[&y], 5).unwrap();
    m.compile(optim::adam(0.05), Loss::mse()).unwrap();
    m
}

fn state_bits(m: &mut Model) -> Vec<u32> {
    let s = m.state_tensors().unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, "tally_1/tally");
    s[0].1.data().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn state_is_initialised_written_in_training_only_and_not_trainable() {
    let mut m = tally_model();
    assert_eq!(m.param_count(), 3 * 3 + 3 + 3 + 1);
    assert_eq!(m.non_trainable_count(), 3);
    let summary = m.summary();
    assert!(summary.contains("Total params: 19\n"), "{summary}");
    assert!(summary.contains("Trainable params: 16\n"), "{summary}");
    assert!(summary.contains("Non-trainable params: 3\n"), "{summary}");
    assert_eq!(state_bits(&mut m), vec![1.0f32.to_bits(); 3]);

    let x = Tensor::new([2, 3], vec![0.5, -1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let y = Tensor::new([2, 1], vec![1.0, -1.0]).unwrap();
    // Prediction and evaluation leave the state alone.
    m.predict(&x).unwrap();
    m.eval_step(&[&x], &[&y]).unwrap();
    assert_eq!(state_bits(&mut m), vec![1.0f32.to_bits(); 3]);
    // A training step adds the first sample of the Dense output (before the update).
    let h_before = {
        let w = m.weights().unwrap();
        let (k, b) = (w[0].1.data().to_vec(), w[1].1.data().to_vec());
        (0..3)
            .map(|j| {
                let mut acc = 0.0f32;
                for i in 0..3 {
                    acc = x.data()[i].mul_add(k[i * 3 + j], acc);
                }
                acc + b[j]
            })
            .collect::<Vec<f32>>()
    };
    let weights_before = common::weight_bits(&mut m);
    m.train_step(&[&x], &[&y]).unwrap();
    let want: Vec<u32> = h_before.iter().map(|h| (1.0 + h).to_bits()).collect();
    assert_eq!(state_bits(&mut m), want);
    // The optimizer updated the parameters but saw no state: the state list is separate.
    assert_ne!(common::weight_bits(&mut m), weights_before);
    assert_eq!(m.weights().unwrap().len(), 4);
    let grads = m.gradients().unwrap();
    assert_eq!(grads.len(), 4);
    assert!(grads.iter().all(|(n, _)| !n.contains("tally")));
}

#[test]
fn state_moves_between_devices_and_can_be_replaced() {
    let x = Tensor::new([2, 3], vec![0.5, -1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let y = Tensor::new([2, 1], vec![1.0, -1.0]).unwrap();
    let mut a = tally_model();
    a.to_device(Device::cpu_threads(1)).unwrap();
    for _ in 0..3 {
        a.train_step(&[&x], &[&y]).unwrap();
    }
    let before = state_bits(&mut a);
    assert_ne!(before, vec![1.0f32.to_bits(); 3]);
    // Moving to another device keeps the state and the training continues from it.
    a.to_device(Device::cpu_threads(2)).unwrap();
    assert_eq!(state_bits(&mut a), before);
    a.train_step(&[&x], &[&y]).unwrap();
    let mut b = tally_model();
    b.to_device(Device::cpu_threads(2)).unwrap();
    for _ in 0..4 {
        b.train_step(&[&x], &[&y]).unwrap();
    }
    assert_eq!(state_bits(&mut a), state_bits(&mut b));
    assert_eq!(common::weight_bits(&mut a), common::weight_bits(&mut b));
    // Replacing the state checks names and shapes.
    let s = a.state_tensors().unwrap();
    let wrong = vec![("tally_1/other".to_string(), s[0].1.clone())];
    let e = a.set_state_tensors(&wrong).unwrap_err().to_string();
    assert!(
        e.contains("expected state 'tally_1/tally', got 'tally_1/other'"),
        "{e}"
    );
    let zeros = Tensor::new([3], vec![0.0; 3]).unwrap();
    a.set_state_tensors(&[("tally_1/tally".to_string(), zeros)])
        .unwrap();
    assert_eq!(state_bits(&mut a), vec![0u32; 3]);
}

/// `x → D → D → y` with one shared Dense, and the same with two Dense layers holding the same
/// weights: the shared gradient is `g_second + g_first` bit for bit.
#[test]
fn shared_layer_gradient_is_the_sum_of_its_uses_in_reverse_order() {
    let g = Graph::new();
    let x = g.input([4]);
    let shared = SharedLayer::new(Dense::new(4).activation(neuroxide::Activation::Tanh));
    let h = shared.apply(&x);
    let y = Dense::new(2).apply(&shared.apply(&h));
    let mut s = Model::with_seed(&[&x], &[&y], 11).unwrap();
    assert_eq!(s.param_count(), 4 * 4 + 4 + 4 * 2 + 2);
    assert_eq!(
        s.shares(),
        vec![None, None, Some("dense_1".to_string()), None]
    );
    let summary = s.summary();
    assert!(summary.contains("(shares dense_1)"), "{summary}");

    let g2 = Graph::new();
    let x2 = g2.input([4]);
    let h2 = Dense::new(4)
        .activation(neuroxide::Activation::Tanh)
        .apply(&x2);
    let y2 = Dense::new(2).apply(
        &Dense::new(4)
            .activation(neuroxide::Activation::Tanh)
            .apply(&h2),
    );
    let mut sep = Model::with_seed(&[&x2], &[&y2], 11).unwrap();
    let w = s.weights().unwrap();
    let names: Vec<String> = sep.params().iter().map(|p| p.name.clone()).collect();
    let tensors: Vec<Tensor> = vec![
        w[0].1.clone(),
        w[1].1.clone(),
        w[0].1.clone(),
        w[1].1.clone(),
        w[2].1.clone(),
        w[3].1.clone(),
    ];
    sep.set_weights(&names.into_iter().zip(tensors).collect::<Vec<_>>())
        .unwrap();

    let mut rng = common::Rng::new(3);
    let xb = Tensor::new([5, 4], rng.vec(20, -1.0, 1.0)).unwrap();
    let yb = Tensor::new([5, 2], rng.vec(10, -1.0, 1.0)).unwrap();
    for m in [&mut s, &mut sep] {
        m.compile(optim::sgd(0.0), Loss::mse()).unwrap();
        m.train_step(&[&xb], &[&yb]).unwrap();
    }
    assert_eq!(
        s.last_loss().unwrap().to_bits(),
        sep.last_loss().unwrap().to_bits()
    );
    let gs = s.gradients().unwrap();
    let gp = sep.gradients().unwrap();
    for p in 0..2 {
        let (first, second) = (gp[p].1.data(), gp[2 + p].1.data());
        let want: Vec<u32> = second
            .iter()
            .zip(first)
            .map(|(b, a)| (b + a).to_bits())
            .collect();
        let got: Vec<u32> = gs[p].1.data().iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want, "gradient of {}", gs[p].0);
        assert_ne!(
            first, second,
            "the two uses must differ for the test to mean anything"
        );
    }
    for p in 2..4 {
        assert_eq!(gs[p].1, gp[p + 2].1, "head gradient {}", gs[p].0);
    }
}

#[test]
fn shared_layer_is_saved_once_and_reloads_bit_identically() {
    let g = Graph::new();
    let a = g.input([3]);
    let b = g.input([3]);
    let enc = SharedLayer::new(Dense::new(3).relu());
    let ea = enc.apply_named("enc_a", &a);
    let eb = enc.apply_named("enc_b", &b);
    let y = Dense::new(1).apply(&neuroxide::graph::concat(&[&ea, &eb]));
    let mut m = Model::with_seed(&[&a, &b], &[&y], 4).unwrap();
    m.compile(optim::adam(0.01), Loss::mse()).unwrap();
    let mut rng = common::Rng::new(9);
    let xa = Tensor::new([4, 3], rng.vec(12, -1.0, 1.0)).unwrap();
    let xb = Tensor::new([4, 3], rng.vec(12, -1.0, 1.0)).unwrap();
    let yy = Tensor::new([4, 1], rng.vec(4, -1.0, 1.0)).unwrap();
    for _ in 0..3 {
        m.train_step(&[&xa, &xb], &[&yy]).unwrap();
    }
    let dir = common::temp_dir("shared-save");
    m.save(&dir).unwrap();
    let file = neuroxide::io::tensors::parse_tensors(
        &std::fs::read(dir.join("weights.safetensors")).unwrap(),
        &dir,
    )
    .unwrap();
    let mut names: Vec<&String> = file.tensors.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "dense_3/bias",
            "dense_3/kernel",
            "enc_a/bias",
            "enc_a/kernel"
        ]
    );
    let json = std::fs::read_to_string(dir.join("model.json")).unwrap();
    assert!(json.contains("\"shares\": \"enc_a\""), "{json}");
    let mut back = Model::load(&dir).unwrap();
    assert_eq!(back.shares()[3], Some("enc_a".to_string()));
    let p1 = m.predict_multi(&[&xa, &xb], 4).unwrap();
    let p2 = back.predict_multi(&[&xa, &xb], 4).unwrap();
    assert_eq!(p1, p2);
    // Training resumes bit-identically.
    m.train_step(&[&xa, &xb], &[&yy]).unwrap();
    back.train_step(&[&xa, &xb], &[&yy]).unwrap();
    assert_eq!(common::weight_bits(&mut m), common::weight_bits(&mut back));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shared_layer_with_mismatched_inputs_is_a_clear_error() {
    let g = Graph::new();
    let a = g.input([3]);
    let b = g.input([5]);
    let enc = SharedLayer::new(Dense::new(2));
    let ya = enc.apply(&a);
    let yb = enc.apply(&b);
    let e = Model::new(&[&a, &b], &[&ya, &yb])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("dense_2"), "{e}");
    assert!(
        e.contains("shares the parameters of 'dense_1', which have shapes [\"[3, 2]\", \"[2]\"], but its inputs need [\"[5, 2]\", \"[2]\"]"),
        "{e}"
    );
}

#[test]
fn planned_bytes_count_every_planned_buffer() {
    let mut m = tally_model();
    assert!(m.planned_bytes().is_none());
    let x = Tensor::new([2, 3], vec![0.5, -1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let y = Tensor::new([2, 1], vec![1.0, -1.0]).unwrap();
    m.train_step(&[&x], &[&y]).unwrap();
    let b = m.planned_bytes().unwrap();
    assert_eq!(b.params, 16 * 4);
    assert_eq!(b.grads, 16 * 4);
    assert_eq!(b.optimizer, 2 * 16 * 4, "Adam keeps two moments");
    assert_eq!(b.state, 3 * 4);
    // Without reuse: outputs of the 4 nodes (3+3+3+1 values per row), gradients of the 3
    // layers (3+3+1), the target (1): 2 rows. With reuse (N = 4 nodes) the output's gradient
    // (live over [4, 5]) shares the first layer's gradient (live over [6, 7]): 1 value less.
    assert_eq!(b.activations_unshared, 2 * (10 + 7 + 1) * 4);
    assert_eq!(b.activations, 2 * (10 + 6 + 1) * 4);
    assert_eq!(b.workspaces, 0);
    assert!(b.other > 0);
    assert_eq!(
        b.total(),
        b.params + b.grads + b.optimizer + b.activations + b.workspaces + b.state + b.other
    );
}
