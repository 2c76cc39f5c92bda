//! A convolutional model end to end on the CPU: training gives the same bits with 1 and 2
//! threads (PARITY rule 9), and a saved model (architecture with every conv/pool layer kind and
//! option, weights, optimizer state) predicts bit-identically after loading and resumes
//! training bit-identically.

mod common;

use common::{temp_dir, weight_bits, Rng};
use neuroxide::layers::{
    AvgPool2D, Conv1D, Conv2D, Dense, Flatten, GlobalAveragePool2D, MaxPool1D, MaxPool2D, Padding,
    Reshape, SpatialDropout2D,
};
use neuroxide::{io, optim, Activation, Device, Loss, Model, Sequential, Tensor};

/// Every conv/pool layer kind and option in one small classifier of `[2, 12, 12]` images.
fn model(seed: u64) -> Model {
    let mut m = Sequential::new([2, 12, 12])
        .add(Conv2D::new(8, (3, 3)).same().relu())
        .add(SpatialDropout2D::new(0.25))
        .add(
            Conv2D::new(8, (3, 3))
                .groups(8)
                .padding(Padding::Explicit(1, 1)),
        )
        .add(MaxPool2D::new((2, 2)))
        .add(
            Conv2D::new(12, (3, 3))
                .stride(2, 2)
                .dilation(1, 1)
                .groups(4)
                .same()
                .activation(Activation::Tanh),
        )
        .add(
            AvgPool2D::new((3, 3))
                .stride(1, 1)
                .padding(Padding::Explicit(1, 1)),
        )
        .add(
            Conv2D::new(6, (2, 2))
                .dilation(2, 2)
                .padding(Padding::Explicit(1, 1))
                .no_bias(),
        )
        .add(Reshape::new([6, 0]))
        .add(
            Conv1D::new(6, 3)
                .padding(Padding::Same)
                .activation(Activation::Relu),
        )
        .add(MaxPool1D::new(2))
        .add(Reshape::new([6, 1, 0]))
        .add(GlobalAveragePool2D::new())
        .add(Flatten::new())
        .add(Dense::new(5))
        .build(seed)
        .unwrap();
    m.compile(optim::adam(0.01), Loss::cross_entropy()).unwrap();
    m
}

fn data(rows: usize) -> (Tensor, Tensor) {
    let mut r = Rng::new(5);
    let x = Tensor::new([rows, 2 * 12 * 12], r.vec(rows * 288, -1.0, 1.0)).unwrap();
    let y = Tensor::from_i32([rows, 1], (0..rows).map(|_| r.index(5) as i32).collect()).unwrap();
    (x, y)
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.data().iter().map(|v| v.to_bits()).collect()
}

/// Loss bits per step, named weight bits, prediction bits.
type TrainBits = (Vec<u32>, Vec<(String, Vec<u32>)>, Vec<u32>);

fn train(threads: usize) -> TrainBits {
    let mut m = model(11);
    m.to_device(Device::cpu_threads(threads)).unwrap();
    let (x, y) = data(24);
    let losses = (0..5)
        .map(|_| m.train_on_batch(&x, &y).unwrap().to_bits())
        .collect();
    let pred = bits(&m.predict(&x).unwrap());
    (losses, weight_bits(&mut m), pred)
}

#[test]
fn cnn_training_is_thread_count_independent() {
    let (l1, w1, p1) = train(1);
    let (l2, w2, p2) = train(2);
    assert!(
        f32::from_bits(l1[4]) < f32::from_bits(l1[0]),
        "the model must train"
    );
    assert_eq!(l1, l2, "losses");
    for ((name, a), (_, b)) in w1.iter().zip(&w2) {
        assert_eq!(a, b, "weight {name}");
    }
    assert_eq!(p1, p2, "predictions");
}

#[test]
fn a_saved_cnn_predicts_and_resumes_bit_identically() {
    let dir = temp_dir("cnn-save");
    let (x, y) = data(16);
    let mut m = model(3);
    for _ in 0..3 {
        m.train_on_batch(&x, &y).unwrap();
    }
    io::save(
        &mut m,
        &dir,
        &io::SaveOptions {
            preprocessing: None,
            epochs_completed: Some(1),
            include_optimizer: true,
        },
    )
    .unwrap();
    let mut loaded = io::load(&dir).unwrap().model;
    assert_eq!(m.summary(), loaded.summary());
    assert_eq!(
        bits(&m.predict(&x).unwrap()),
        bits(&loaded.predict(&x).unwrap())
    );
    let a = m.train_on_batch(&x, &y).unwrap();
    let b = loaded.train_on_batch(&x, &y).unwrap();
    assert_eq!(a.to_bits(), b.to_bits(), "the resumed step's loss");
    assert_eq!(weight_bits(&mut m), weight_bits(&mut loaded));
}
