//! `fit` and `evaluate`: batching and shuffling, device vs host metrics, validation, clipping,
//! argument errors.

mod common;

use common::{blobs, classifier, weight_bits};
use neuroxide::data::DataLoader;
use neuroxide::layers::Dense;
use neuroxide::train::{evaluate, FitOptions, Metric, Validation, Verbosity};
use neuroxide::{graph::Graph, optim, LayerApply, Loss, Model, Sequential, Tensor};

fn quiet() -> FitOptions<'static> {
    FitOptions::new().verbose(Verbosity::Silent)
}

#[test]
fn fit_equals_a_manual_loop_over_the_loader_order() {
    let data = blobs(90, 3);
    let mut a = classifier(11);
    let h = a
        .fit_dataset(&data, quiet().epochs(3).batch_size(16).seed(5))
        .unwrap();
    assert_eq!(h.len(), 3);

    // Same steps by hand: epoch e visits the loader's permutation with stream e, 16 rows at a
    // time, the last batch holding the 10 rows left over.
    let mut b = classifier(11);
    let loader = DataLoader::new(&data, 16).unwrap().shuffle(5);
    let mut losses = Vec::new();
    for epoch in 0..3u64 {
        b.reset_running().unwrap();
        let order = loader.epoch_order(epoch);
        let mut batches = 0;
        for chunk in order.chunks(16) {
            let x = data.x.select_rows(chunk).unwrap();
            let y = data.y.select_rows(chunk).unwrap();
            b.train_step(&[&x], &[&y]).unwrap();
            batches += 1;
        }
        assert_eq!(batches, 6);
        let (sum, _) = b.running_totals().unwrap();
        let last = f64::from(b.last_loss().unwrap());
        losses.push(((f64::from(sum) - last) * 16.0 + last * 10.0) / 90.0);
    }
    assert_eq!(weight_bits(&mut a), weight_bits(&mut b));
    let fit_losses = h.metric("loss");
    for (x, y) in fit_losses.iter().zip(&losses) {
        assert_eq!(x.to_bits(), y.to_bits(), "{fit_losses:?} vs {losses:?}");
    }
    assert_eq!(a.optimizer_steps(), 18);
}

#[test]
fn training_reduces_the_loss_and_device_accuracy_matches_the_host() {
    let data = blobs(150, 9);
    let mut m = classifier(2);
    let h = m
        .fit_dataset(
            &data,
            quiet()
                .epochs(30)
                .batch_size(16)
                .validation(Validation::StratifiedSplit(0.2)),
        )
        .unwrap();
    let loss = h.metric("loss");
    assert!(loss[29] < 0.5 * loss[0], "loss did not fall: {loss:?}");
    assert_eq!(h.names(), ["loss", "accuracy", "val_loss", "val_accuracy"]);
    let acc = h.metric("val_accuracy")[29];
    assert!(acc > 0.85, "validation accuracy {acc}");

    // Accuracy counted on the device equals the host metric from downloaded predictions, and
    // the batch-size-weighted loss does not depend on the batch size.
    let e7 = evaluate(&mut m, &data, 7, &[Metric::Accuracy, Metric::TopK(2)]).unwrap();
    let e150 = evaluate(&mut m, &data, 150, &[]).unwrap();
    assert_eq!(e7.accuracy, Some(e7.metrics[0].1));
    assert_eq!(e7.accuracy, e150.accuracy);
    assert!(e7.metrics[1].1 >= e7.metrics[0].1);
    assert!(
        (e7.loss - e150.loss).abs() < 1e-5 * e150.loss.max(1.0),
        "{} vs {}",
        e7.loss,
        e150.loss
    );
    assert_eq!(e7.predictions.as_ref().unwrap().shape(), &[150, 3]);
    assert_eq!(e7.get("top2_accuracy"), Some(e7.metrics[1].1));
    // The predictions evaluate downloaded are the same as predict's.
    let p = m.predict(&data.x).unwrap();
    assert_eq!(&p, e7.predictions.as_ref().unwrap());
}

#[test]
fn validation_split_and_data_give_val_logs() {
    let data = blobs(60, 4);
    let (train, val) = data.split(0.25, 8).unwrap();
    let mut a = classifier(3);
    let ha = a
        .fit_dataset(&data, quiet().epochs(2).seed(8).validation_split(0.25))
        .unwrap();
    let mut b = classifier(3);
    let hb = b
        .fit_dataset(&train, quiet().epochs(2).seed(8).validation_data(val))
        .unwrap();
    // A split of 0.25 with seed 8 is exactly Dataset::split(0.25, 8).
    assert_eq!(ha, hb_without_time(&hb, &ha));
    assert_eq!(weight_bits(&mut a), weight_bits(&mut b));
    assert_eq!(ha.metric("val_loss").len(), 2);
}

/// `hb` with `ha`'s epoch durations (wall-clock times never match).
fn hb_without_time(
    hb: &neuroxide::train::History,
    ha: &neuroxide::train::History,
) -> neuroxide::train::History {
    let mut h = hb.clone();
    for (e, a) in h.epochs.iter_mut().zip(&ha.epochs) {
        e.seconds = a.seconds;
    }
    h
}

#[test]
fn regression_logs_host_metrics_on_validation() {
    let mut r = common::Lcg(5);
    let n = 64;
    let x: Vec<f32> = (0..n * 2).map(|_| r.next_f32()).collect();
    let y: Vec<f32> = (0..n).map(|i| 3.0 * x[2 * i] - x[2 * i + 1]).collect();
    let x = Tensor::new([n, 2], x).unwrap();
    let y = Tensor::new([n, 1], y).unwrap();
    let mut m = Sequential::new([2]).add(Dense::new(1)).build(1).unwrap();
    m.compile(optim::adam(0.05), Loss::mse()).unwrap();
    let h = m
        .fit(
            &x,
            &y,
            quiet()
                .epochs(60)
                .batch_size(8)
                .validation_split(0.25)
                .metrics(&[Metric::Mae, Metric::Mse]),
        )
        .unwrap();
    assert_eq!(h.names(), ["loss", "val_loss", "val_mae", "val_mse"]);
    let last = h.last().unwrap();
    // For an MSE loss the validation loss is the host MSE, up to f32 rounding.
    let (vl, vmse) = (last.get("val_loss").unwrap(), last.get("val_mse").unwrap());
    assert!((vl - vmse).abs() <= 1e-5 * vmse.max(1e-3), "{vl} vs {vmse}");
    assert!(vmse < 0.05, "linear fit did not converge: {vmse}");
}

#[test]
fn clip_norm_bounds_an_sgd_step() {
    let data = blobs(30, 1);
    let mut m = Sequential::new([4])
        .add(Dense::new(8).relu())
        .add(Dense::new(3))
        .build(4)
        .unwrap();
    m.compile(optim::sgd(1.0), Loss::cross_entropy()).unwrap();
    let before: Vec<f32> = m
        .weights()
        .unwrap()
        .iter()
        .flat_map(|(_, t)| t.data().to_vec())
        .collect();
    m.fit_dataset(&data, quiet().epochs(1).batch_size(30).clip_norm(1e-3))
        .unwrap();
    assert_eq!(m.train_config().unwrap().clip_norm, Some(1e-3));
    let after: Vec<f32> = m
        .weights()
        .unwrap()
        .iter()
        .flat_map(|(_, t)| t.data().to_vec())
        .collect();
    let step: f64 = before
        .iter()
        .zip(&after)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(
        step > 0.0 && step <= 1e-3 * (1.0 + 1e-4),
        "step norm {step}"
    );
}

#[test]
fn drop_last_skips_the_partial_batch() {
    let data = blobs(50, 2);
    let mut m = classifier(1);
    m.fit_dataset(&data, quiet().epochs(2).batch_size(16).drop_last(true))
        .unwrap();
    assert_eq!(m.optimizer_steps(), 6);
}

#[test]
fn a_diverging_run_is_an_error_naming_epoch_and_step() {
    let data = blobs(30, 2);
    let mut m = Sequential::new([4]).add(Dense::new(3)).build(1).unwrap();
    m.compile(optim::sgd(1e30), Loss::mse()).unwrap();
    let y = Tensor::new([30, 3], vec![1.0; 90]).unwrap();
    let e = m
        .fit(&data.x, &y, quiet().epochs(20).batch_size(10))
        .unwrap_err();
    assert!(matches!(e, neuroxide::Error::Diverged(_)), "{e:?}");
    // The first step's loss is finite; its update by lr 1e30 makes the second one overflow.
    assert_eq!(
        e.to_string(),
        "training diverged: the training loss is inf at epoch 1, step 2 of 3 (optimizer step \
         2); lower the learning rate, scale the inputs or clip gradients"
    );
}

#[test]
fn fit_reports_bad_arguments() {
    let data = blobs(12, 1);
    let mut plain = Sequential::new([4]).add(Dense::new(3)).build(1).unwrap();
    let e = plain.fit_dataset(&data, quiet()).unwrap_err().to_string();
    assert!(e.contains("fit: the model is not compiled"), "{e}");

    let mut m = classifier(1);
    let e = m
        .fit_dataset(&data, quiet().batch_size(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch size must be at least 1"), "{e}");
    let e = m
        .fit_dataset(&data, quiet().epochs(2).initial_epoch(3))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("initial epoch 3 is past the last epoch 2"),
        "{e}"
    );
    let e = m
        .fit_dataset(&data, quiet().validation_split(1.5))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("validation fraction must be in [0, 1), got 1.5"),
        "{e}"
    );
    let e = m
        .fit_dataset(&data, quiet().batch_size(20).drop_last(true))
        .unwrap_err()
        .to_string();
    assert!(e.contains("make no full batch of 20"), "{e}");
    let e = m
        .fit_dataset(&data, quiet().clip_norm(-1.0))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("clip norm must be a positive finite number"),
        "{e}"
    );
    let bad_y = Tensor::from_i32([12, 1], vec![5; 12]).unwrap();
    let e = m.fit(&data.x, &bad_y, quiet()).unwrap_err().to_string();
    assert!(e.contains("5 is not a class index in 0..3"), "{e}");
    let e = m
        .evaluate(&data.x, &bad_y.select_rows(&[0]).unwrap(), 4)
        .unwrap_err()
        .to_string();
    assert!(e.contains("same number of rows"), "{e}");

    let g = Graph::new();
    let (a, b) = (g.input([2]), g.input([2]));
    let y = Dense::new(1).apply(&neuroxide::graph::concat(&[&a, &b]));
    let mut two = Model::new(&[&a, &b], &[&y]).unwrap();
    two.compile(optim::adam(0.1), Loss::mse()).unwrap();
    let x = Tensor::zeros([4, 2]);
    let e = two
        .fit(&x, &Tensor::zeros([4, 1]), quiet())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2 input(s) and 1 output(s): use train_step"),
        "{e}"
    );
}
