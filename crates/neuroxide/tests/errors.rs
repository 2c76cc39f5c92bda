//! Bad input gives a clear error, never a panic: every case below must return `Err` whose
//! message names what was wrong (the input, the expected shape, the row, the device, …).

use neuroxide::graph::LayerApply;
use neuroxide::layers::{ActivationLayer, Dense, Dropout, Reshape};
use neuroxide::{
    optim, Activation, Device, Graph, Loss, LossKind, Model, Result, Sequential, TargetKind, Tensor,
};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, which must return an error (not `Ok`, not a panic); returns the message, which
/// must contain every string of `want`.
fn expect_err<T>(case: &str, want: &[&str], f: impl FnOnce() -> Result<T>) -> String {
    let msg = match catch_unwind(AssertUnwindSafe(f)) {
        Err(_) => panic!("{case}: panicked instead of returning an error"),
        Ok(Ok(_)) => panic!("{case}: succeeded but must fail"),
        Ok(Err(e)) => e.to_string(),
    };
    for w in want {
        assert!(
            msg.contains(w),
            "{case}: error message {msg:?} should mention {w:?}"
        );
    }
    eprintln!("{case}: {msg}");
    msg
}

fn t(shape: &[usize], fill: f32) -> Tensor {
    let n = shape.iter().product();
    Tensor::new(shape.to_vec(), vec![fill; n]).unwrap()
}

fn regression_model() -> Model {
    let mut m = Sequential::new([2])
        .add(Dense::new(3).relu())
        .add(Dense::new(1))
        .build(1)
        .unwrap();
    m.compile(optim::sgd(0.1), Loss::mse()).unwrap();
    m
}

fn classifier() -> Model {
    let mut m = Sequential::new([4]).add(Dense::new(3)).build(1).unwrap();
    m.compile(optim::adam(0.01), Loss::cross_entropy()).unwrap();
    m
}

#[test]
fn predict_with_wrong_input_width() {
    let mut m = regression_model();
    expect_err(
        "predict [4, 3] into a [2] model",
        &["input_1", "[2]", "[4, 3]"],
        || m.predict(&t(&[4, 3], 0.5)),
    );
    // The model still works afterwards.
    let p = m.predict(&t(&[4, 2], 0.5)).unwrap();
    assert_eq!(p.shape(), &[4, 1]);
}

#[test]
fn train_on_batch_with_wrong_input_width() {
    let mut m = regression_model();
    expect_err(
        "train_on_batch x [8, 5]",
        &["input_1", "[2]", "[8, 5]"],
        || m.train_on_batch(&t(&[8, 5], 0.1), &t(&[8, 1], 0.0)),
    );
}

#[test]
fn train_on_batch_with_wrong_target_width_or_rows() {
    let mut m = regression_model();
    expect_err(
        "target [8, 2] for a [1] output",
        &["target", "dense_2", "[1]", "[8, 2]"],
        || m.train_on_batch(&t(&[8, 2], 0.1), &t(&[8, 2], 0.0)),
    );
    expect_err("8 inputs, 6 targets", &["6", "8"], || {
        m.train_on_batch(&t(&[8, 2], 0.1), &t(&[6, 1], 0.0))
    });
    expect_err("empty batch", &["empty"], || {
        m.train_on_batch(&t(&[0, 2], 0.1), &t(&[0, 1], 0.0))
    });
    // Wrong number of tensors for the model's inputs.
    let x = t(&[8, 2], 0.1);
    expect_err(
        "two inputs for a one-input model",
        &["1 input", "2"],
        || m.predict_multi(&[&x, &x], 4),
    );
}

#[test]
fn class_label_out_of_range_names_the_row() {
    let mut m = classifier();
    let x = t(&[4, 4], 0.3);
    let labels = Tensor::from_i32([4, 1], vec![0, 2, 5, 1]).unwrap();
    expect_err("label 5 of 3 classes", &["row 2", "5", "0..3"], || {
        m.train_on_batch(&x, &labels)
    });
    let labels = Tensor::from_i32([4, 1], vec![0, -1, 1, 1]).unwrap();
    expect_err("negative label", &["row 1", "-1"], || {
        m.train_on_batch(&x, &labels)
    });
    // Labels are i32: f32 labels are a dtype error naming both dtypes, and the explicit
    // conversion refuses a fractional or NaN value, naming it.
    let floats = Tensor::new([4, 1], vec![0.0, 1.0, 1.0, 1.5]).unwrap();
    expect_err(
        "f32 labels",
        &[
            "target 0",
            "takes i32",
            "got a f32 tensor",
            "dtype mismatch",
            "to_i32",
        ],
        || m.train_on_batch(&x, &floats),
    );
    expect_err("fractional label", &["position 3", "1.5"], || {
        floats.to_i32()
    });
    let nan = Tensor::new([4, 1], vec![f32::NAN, 1.0, 1.0, 1.0]).unwrap();
    expect_err("NaN label", &["position 0", "NaN"], || nan.to_i32());
    // Valid labels still train.
    let labels = Tensor::from_i32([4, 1], vec![0, 2, 1, 1]).unwrap();
    assert!(m.train_on_batch(&x, &labels).unwrap().is_finite());
}

#[test]
fn uncompiled_model() {
    let mut m = Sequential::new([2]).add(Dense::new(1)).build(0).unwrap();
    let (x, y) = (t(&[4, 2], 1.0), t(&[4, 1], 0.0));
    expect_err(
        "train_on_batch uncompiled",
        &["not compiled", "compile"],
        || m.train_on_batch(&x, &y),
    );
    expect_err("train_step uncompiled", &["not compiled"], || {
        m.train_step(&[&x], &[&y])
    });
    expect_err("eval_step uncompiled", &["not compiled"], || {
        m.eval_step(&[&x], &[&y])
    });
    expect_err("set_optimizer_state uncompiled", &["not compiled"], || {
        m.set_optimizer_state(1, &[])
    });
    // Prediction needs no compile.
    assert_eq!(m.predict(&x).unwrap().shape(), &[4, 1]);
}

#[test]
fn unknown_device_string() {
    expect_err("device 'tpu'", &["tpu", "cpu", "cuda"], || {
        Device::parse("tpu")
    });
    expect_err("device 'cuda:x'", &["cuda:x"], || Device::parse("cuda:x"));
    expect_err("device ''", &["cpu"], || Device::parse(""));
    assert_eq!(Device::parse("cpu").unwrap(), Device::cpu());
    assert_eq!(Device::parse("cuda:1").unwrap(), Device::cuda(1));
}

/// A GPU ordinal that does not exist is an error when the model first runs, not a panic.
#[test]
fn missing_gpu_is_an_error() {
    let mut m = regression_model();
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.to_device(Device::cuda(999))?;
        m.train_on_batch(&t(&[2, 2], 0.0), &t(&[2, 1], 0.0))
    }));
    match r {
        Err(_) => panic!("cuda:999 panicked"),
        Ok(Ok(_)) => panic!("cuda:999 cannot exist"),
        Ok(Err(e)) => {
            let msg = e.to_string();
            assert!(msg.to_lowercase().contains("cuda"), "{msg}");
        }
    }
}

#[test]
fn bad_layer_configurations() {
    let build =
        |layer: Box<dyn neuroxide::layers::Layer>| Sequential::new([6]).add_boxed(layer).build(0);
    expect_err("Dense(0)", &["dense_1", "units"], || {
        build(Box::new(Dense::new(0)))
    });
    expect_err("Dropout(1.0)", &["dropout_1", "rate"], || {
        build(Box::new(Dropout::new(1.0)))
    });
    expect_err("Dropout(-0.1)", &["dropout_1", "rate"], || {
        build(Box::new(Dropout::new(-0.1)))
    });
    expect_err("Reshape [6] to [4]", &["reshape_1", "[4]", "[6]"], || {
        build(Box::new(Reshape::new([4])))
    });
    expect_err("Reshape [6] to [0, 0]", &["reshape_1"], || {
        build(Box::new(Reshape::new([0, 0])))
    });
    expect_err("empty input shape", &["input_1", "empty"], || {
        Sequential::new([0]).add(Dense::new(1)).build(0)
    });
    expect_err("unknown activation", &["swoosh"], || {
        ActivationLayer::parse("swoosh")
    });
    assert!(Activation::parse("swoosh").is_none());
    assert!(Loss::parse("hinge").is_none());
    assert!(optim::parse("lbfgs", 0.1).is_none());
}

#[test]
fn output_that_is_an_input_cannot_be_compiled() {
    let g = Graph::new();
    let x = g.input([3]);
    let y = Dense::new(1).apply(&x);
    let mut m = Model::new(&[&x], &[&y, &x]).unwrap();
    expect_err(
        "compile with an input as output",
        &["input_1", "input"],
        || m.compile(optim::sgd(0.1), Loss::mse()),
    );
}

#[test]
fn set_weights_mismatches() {
    let mut m = regression_model();
    let mut w = m.weights().unwrap();
    expect_err("missing tensor", &["4", "3"], || m.set_weights(&w[..3]));
    let good = w.clone();
    w[0].1 = t(&[3, 2], 0.0);
    expect_err(
        "wrong shape",
        &["dense_1/kernel", "[2, 3]", "[3, 2]"],
        || m.set_weights(&w),
    );
    let mut w = good.clone();
    w[1].0 = "dense_1/bias_typo".into();
    expect_err("wrong name", &["dense_1/bias", "bias_typo"], || {
        m.set_weights(&w)
    });
    m.set_weights(&good).unwrap();
}

#[test]
fn tensor_construction_errors() {
    expect_err("6 values for [4, 2]", &["[4, 2]", "8", "6"], || {
        Tensor::new([4, 2], vec![0.0; 6])
    });
    expect_err("ragged rows", &["row 1"], || {
        Tensor::from_rows(&[vec![1.0, 2.0], vec![3.0]])
    });
}

/// A loss that needs dense targets, given class indices, fails with a message (from the
/// backend) instead of reading out of bounds.
#[test]
fn dense_loss_with_class_index_targets() {
    let mut m = Sequential::new([4]).add(Dense::new(3)).build(0).unwrap();
    let loss = Loss {
        kind: LossKind::Mse,
        targets: TargetKind::ClassIndex,
    };
    m.compile(optim::sgd(0.1), loss).unwrap();
    let x = t(&[2, 4], 0.5);
    let y = Tensor::from_i32([2, 1], vec![0, 2]).unwrap();
    expect_err("MSE with class indices", &["Mse", "class"], || {
        m.train_on_batch(&x, &y)
    });
}
