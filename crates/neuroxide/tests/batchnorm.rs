//! BatchNorm on the CPU: the running statistics' update and evaluation with them against a
//! hand computation in the documented order, training-mode output differing from evaluation
//! output, 1 vs 2 threads bit for bit, a save/load round trip (predictions bit-identical,
//! training resumed bit-identically), and the clear error of a batch of one.

mod common;

use common::{weight_bits, LayerHarness, Rng};
use neuroxide::layers::{BatchNorm1D, BatchNorm2D, Conv2D, Dense, Flatten, Layer};
use neuroxide::ops::reduce::chunked;
use neuroxide::{optim, Device, Loss, Model, Sequential, Shape, Tensor};

/// `[N, F]` BatchNorm1D: one training forward, then evaluation, by hand.
#[test]
fn evaluation_uses_running_statistics() {
    let (batch, f) = (6, 3);
    let mut rng = Rng::new(17);
    let x = rng.vec(batch * f, -2.0, 2.0);
    let gamma = rng.vec(f, 0.5, 1.5);
    let beta = rng.vec(f, -0.5, 0.5);
    let layer = BatchNorm1D::new().momentum(0.25);
    let mut train = LayerHarness::new(Box::new(layer.clone()), vec![Shape::new([f])], batch, true);
    let y_train = train.forward(std::slice::from_ref(&x), &[gamma.clone(), beta.clone()]);
    let (rm, rv) = (train.state(0), train.state(1));
    let (m, mf) = (batch, batch as f32);
    for c in 0..f {
        let mean = chunked(m, |acc, k| acc + x[k * f + c]) / mf;
        let sq = chunked(m, |acc, k| {
            let d = x[k * f + c] - mean;
            d.mul_add(d, acc)
        });
        let rstd = 1.0 / (sq / mf + 1e-5).sqrt();
        // Running statistics start at 0 and 1.
        assert_eq!(rm[c].to_bits(), (0.75f32 * 0.0 + 0.25 * mean).to_bits());
        assert_eq!(
            rv[c].to_bits(),
            (0.75f32 * 1.0 + 0.25 * (sq / (mf - 1.0))).to_bits()
        );
        for k in 0..batch {
            let i = k * f + c;
            let want = ((x[i] - mean) * rstd) * gamma[c] + beta[c];
            assert_eq!(y_train[i].to_bits(), want.to_bits(), "train y[{i}]");
        }
    }
    // Evaluation with the running statistics the training forward left.
    let mut eval = LayerHarness::new(Box::new(layer), vec![Shape::new([f])], batch, false);
    eval.set_state(0, &rm);
    eval.set_state(1, &rv);
    let y_eval = eval.forward(std::slice::from_ref(&x), &[gamma.clone(), beta.clone()]);
    for (i, (&ye, &yt)) in y_eval.iter().zip(&y_train).enumerate() {
        let c = i % f;
        let want = ((x[i] - rm[c]) * (1.0 / (rv[c] + 1e-5).sqrt())) * gamma[c] + beta[c];
        assert_eq!(ye.to_bits(), want.to_bits(), "eval y[{i}]");
        assert_ne!(ye, yt, "evaluation must not use the batch statistics");
    }
    // Evaluation leaves the state alone.
    assert_eq!(eval.state(0), rm);
    assert_eq!(eval.state(1), rv);
}

#[test]
fn training_with_a_batch_of_one_is_a_clear_error() {
    let mut m = Sequential::new([3])
        .add(BatchNorm1D::new())
        .add(Dense::new(1))
        .build(1)
        .unwrap();
    m.compile(optim::sgd(0.1), Loss::mse()).unwrap();
    let x = Tensor::new([1, 3], vec![1.0, 2.0, 3.0]).unwrap();
    let y = Tensor::new([1, 1], vec![1.0]).unwrap();
    let e = m.train_step(&[&x], &[&y]).unwrap_err().to_string();
    assert!(
        e.contains("batchnorm1d_1") && e.contains("more than 1 value per channel"),
        "{e}"
    );
    // Prediction uses the running statistics and works on one row.
    assert_eq!(m.predict(&x).unwrap().shape(), &[1, 1]);
    let e = BatchNorm2D::new()
        .output_shape(&[Shape::new([4])])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("BatchNorm2D normalises the channels of [N, C, H, W]"),
        "{e}"
    );
}

/// Conv → BN2D → Flatten → Dense → BN1D (no affine) → Dense.
fn bn_model(device: Device) -> Model {
    let mut m = Sequential::new([2, 6, 5])
        .add(Conv2D::new(4, (3, 3)).relu())
        .add(BatchNorm2D::new())
        .add(Flatten::new())
        .add(Dense::new(8).relu())
        .add(BatchNorm1D::new().affine(false).momentum(0.2))
        .add(Dense::new(3))
        .build(21)
        .unwrap();
    m.compile(optim::adam(0.01), Loss::cross_entropy()).unwrap();
    m.to_device(device).unwrap();
    m
}

fn batches() -> Vec<(Tensor, Tensor)> {
    let mut rng = Rng::new(5);
    (0..5)
        .map(|_| {
            let x = Tensor::new([10, 2, 6, 5], rng.vec(600, -1.0, 1.0)).unwrap();
            let y =
                Tensor::from_i32([10, 1], (0..10).map(|_| rng.index(3) as i32).collect()).unwrap();
            (x, y)
        })
        .collect()
}

fn state_bits(m: &mut Model) -> Vec<(String, Vec<u32>)> {
    m.state_tensors()
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.data().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

#[test]
fn one_and_two_threads_train_bit_identically() {
    let data = batches();
    let run = |threads| {
        let mut m = bn_model(Device::cpu_threads(threads));
        let mut losses = Vec::new();
        for (x, y) in &data {
            losses.push(m.train_on_batch(x, y).unwrap().to_bits());
        }
        let p: Vec<u32> = m
            .predict(&data[0].0)
            .unwrap()
            .data()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        (losses, weight_bits(&mut m), state_bits(&mut m), p)
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a.0, b.0, "losses");
    assert_eq!(a.1, b.1, "weights");
    assert_eq!(a.2, b.2, "running statistics");
    assert_eq!(a.3, b.3, "predictions");
}

#[test]
fn save_load_round_trip_predicts_and_resumes_bit_identically() {
    let data = batches();
    let mut straight = bn_model(Device::cpu());
    assert_eq!(straight.non_trainable_count(), 2 * 4 + 2 * 8);
    let summary = straight.summary();
    assert!(summary.contains("Non-trainable params: 24\n"), "{summary}");
    let mut first = bn_model(Device::cpu());
    for (x, y) in &data[..3] {
        first.train_step(&[x], &[y]).unwrap();
        straight.train_step(&[x], &[y]).unwrap();
    }
    let dir = common::temp_dir("batchnorm-save");
    first.save(&dir).unwrap();
    let mut back = Model::load(&dir).unwrap();
    assert_eq!(state_bits(&mut back), state_bits(&mut first));
    let names: Vec<String> = back.state_info().iter().map(|s| s.name.clone()).collect();
    assert_eq!(
        names,
        [
            "batchnorm2d_1/running_mean",
            "batchnorm2d_1/running_var",
            "batchnorm1d_1/running_mean",
            "batchnorm1d_1/running_var"
        ]
    );
    let p1 = first.predict(&data[4].0).unwrap();
    let p2 = back.predict(&data[4].0).unwrap();
    assert_eq!(p1, p2, "predictions after reload");
    for (x, y) in &data[3..] {
        back.train_step(&[x], &[y]).unwrap();
        straight.train_step(&[x], &[y]).unwrap();
    }
    assert_eq!(weight_bits(&mut back), weight_bits(&mut straight));
    assert_eq!(state_bits(&mut back), state_bits(&mut straight));
    assert_eq!(
        back.last_loss().unwrap().to_bits(),
        straight.last_loss().unwrap().to_bits()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The ops at a size where the elementwise passes split into several tasks: 1 and 2 threads
/// give the same bits.
#[test]
fn ops_one_and_two_threads_bit_identical() {
    use neuroxide::backend::cpu::CpuBackend;
    use neuroxide::ops::batchnorm::*;
    use neuroxide::Backend;
    let g = Geometry {
        batch: 8,
        channels: 6,
        plane: 24 * 24,
    };
    let mut rng = Rng::new(99);
    let (x, dy) = (rng.vec(g.len(), -2.0, 2.0), rng.vec(g.len(), -1.0, 1.0));
    let run = |threads| {
        let mut be = CpuBackend::new(threads);
        let mut buf = |v: &[f32]| {
            let b = be.alloc(v.len()).unwrap();
            be.upload(b, 0, v).unwrap();
            b
        };
        let c = g.channels;
        let (xb, dyb) = (buf(&x), buf(&dy));
        let (gamma, beta) = (buf(&vec![1.5; c]), buf(&vec![0.25; c]));
        let [mean, rstd, rm, rv, sa, sb] = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0].map(|v| buf(&vec![v; c]));
        let (y, dx) = (buf(&vec![0.0; g.len()]), buf(&vec![0.0; g.len()]));
        let s = BatchNormStats {
            geometry: g,
            x: xb,
            mean,
            rstd,
            running_mean: rm,
            running_var: rv,
            eps: 1e-5,
            momentum: 0.1,
        };
        batchnorm_stats(&mut be, &s).unwrap();
        let n = BatchNormNormalize {
            geometry: g,
            x: xb,
            mean,
            scale: Scale::Rstd(rstd),
            affine: Some((gamma, beta)),
            y,
        };
        batchnorm_normalize(&mut be, &n).unwrap();
        let b = BatchNormBackward {
            geometry: g,
            x: xb,
            dy: dyb,
            mean,
            rstd,
            gamma: Some(gamma),
            sum_dy: sa,
            sum_dy_xhat: sb,
            dx: Some(dx),
        };
        batchnorm_backward(&mut be, &b).unwrap();
        [mean, rstd, rm, rv, y, sa, sb, dx]
            .map(|id| {
                let mut v = vec![0.0f32; be.buf_len(id)];
                be.download(id, 0, &mut v).unwrap();
                v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>()
            })
            .to_vec()
    };
    assert_eq!(run(1), run(2));
}
