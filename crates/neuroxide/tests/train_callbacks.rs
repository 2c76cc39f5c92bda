//! Callbacks and schedules: early stopping (stop + restore), checkpoints, CSV log, epoch logger,
//! learning-rate schedules, ReduceLROnPlateau.

mod common;

use common::{blobs, classifier, temp_dir, weight_bits};
use neuroxide::train::{
    Callback, Control, CosineWarmup, CsvLogger, EarlyStopping, EpochLogger, FitOptions,
    LearningRateScheduler, Logs, ModelCheckpoint, MonitorMode, ReduceLrOnPlateau, StepDecay,
    Verbosity,
};
use neuroxide::{io, Model, Result};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

fn quiet<'a>() -> FitOptions<'a> {
    FitOptions::new().verbose(Verbosity::Silent)
}

/// Records the weights after each epoch and the learning rate of each step.
#[derive(Default)]
struct Recorder {
    weights: Vec<Vec<(String, Vec<u32>)>>,
    step_lrs: Vec<f32>,
}

impl Callback for Recorder {
    fn on_batch_begin(&mut self, model: &mut Model, _e: usize, _b: usize) -> Result<()> {
        self.step_lrs
            .push(model.train_config().unwrap().optimizer.lr());
        Ok(())
    }
    fn on_epoch_end(&mut self, model: &mut Model, _e: usize, _l: &mut Logs) -> Result<Control> {
        self.weights.push(weight_bits(model));
        Ok(Control::Continue)
    }
}

#[test]
fn early_stopping_stops_after_patience_and_restores_the_best_weights() {
    let data = blobs(60, 1);
    let mut m = classifier(5);
    let mut rec = Recorder::default();
    // The training loss falls every epoch, so with mode Max only epoch 0 is "best".
    let mut es = EarlyStopping::new("loss")
        .mode(MonitorMode::Max)
        .patience(3)
        .restore_best_weights(true);
    let h = m
        .fit_dataset(
            &data,
            quiet()
                .epochs(50)
                .batch_size(8)
                .callback(&mut rec)
                .callback(&mut es),
        )
        .unwrap();
    assert_eq!(h.len(), 4);
    assert_eq!(es.best_epoch(), Some(0));
    assert_eq!(es.stopped_epoch(), Some(3));
    let reason = h.stop_reason.clone().unwrap();
    assert!(
        reason.starts_with(
            "early stopping after epoch 4: no improvement of loss for 3 epoch(s); best loss ="
        ),
        "{reason}"
    );
    assert!(reason.ends_with("at epoch 1"), "{reason}");
    assert_eq!(weight_bits(&mut m), rec.weights[0]);
    assert_ne!(rec.weights[0], rec.weights[3]);

    // Without restoring, the last epoch's weights stay; a monitored name that is not logged is
    // an error that lists what is.
    let mut m2 = classifier(5);
    let mut es2 = EarlyStopping::new("loss")
        .mode(MonitorMode::Max)
        .patience(2);
    let mut rec2 = Recorder::default();
    m2.fit_dataset(
        &data,
        quiet()
            .epochs(50)
            .batch_size(8)
            .callback(&mut rec2)
            .callback(&mut es2),
    )
    .unwrap();
    assert_eq!(weight_bits(&mut m2), *rec2.weights.last().unwrap());
    let e = classifier(5)
        .fit_dataset(
            &data,
            quiet().epochs(2).callback(EarlyStopping::new("val_loss")),
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("monitored quantity 'val_loss' is not logged; available: loss, accuracy"),
        "{e}"
    );
}

#[test]
fn early_stopping_on_validation_loss_with_min_delta() {
    let data = blobs(90, 2);
    let mut m = classifier(1);
    // A huge min_delta: nothing after the first epoch counts as an improvement.
    let mut es = EarlyStopping::new("val_loss").min_delta(1e9).patience(2);
    let h = m
        .fit_dataset(
            &data,
            quiet().epochs(10).validation_split(0.2).callback(&mut es),
        )
        .unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(es.best(), Some(h.metric("val_loss")[0]));
}

#[test]
fn checkpoints_every_epoch_and_best_only() {
    let dir = temp_dir("ckpt");
    let data = blobs(45, 3);
    let mut m = classifier(2);
    let mut every = ModelCheckpoint::new(dir.join("every-{epoch}"));
    let mut best = ModelCheckpoint::new(dir.join("best"))
        .save_best_only_mode("loss", MonitorMode::Max)
        .include_optimizer(false);
    let mut rec = Recorder::default();
    m.fit_dataset(
        &data,
        quiet()
            .epochs(3)
            .batch_size(16)
            .callback(&mut rec)
            .callback(&mut every)
            .callback(&mut best),
    )
    .unwrap();
    let names: Vec<String> = every
        .saved()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["every-0001", "every-0002", "every-0003"]);
    for p in every.saved() {
        for f in [io::MODEL_FILE, io::WEIGHTS_FILE, io::OPTIMIZER_FILE] {
            assert!(p.join(f).is_file(), "{} lacks {f}", p.display());
        }
    }
    // Each checkpoint holds that epoch's weights and progress.
    let mut second = io::load(dir.join("every-0002")).unwrap();
    assert_eq!(second.training.as_ref().unwrap().epochs_completed, 2);
    assert_eq!(second.training.as_ref().unwrap().optimizer_steps, 6);
    assert_eq!(second.model.optimizer_steps(), 6);
    assert_eq!(weight_bits(&mut second.model), rec.weights[1]);
    // Best-only (loss, maximised) saved once, after epoch 1, without optimizer state.
    assert_eq!(best.saved().len(), 1);
    assert!(!dir.join("best").join(io::OPTIMIZER_FILE).exists());
    let mut b = io::load(dir.join("best")).unwrap();
    assert_eq!(weight_bits(&mut b.model), rec.weights[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_logger_writes_every_epoch_and_appends_when_resuming() {
    let dir = temp_dir("csvlog");
    let path = dir.join("log.csv");
    let data = blobs(60, 4);
    let mut m = classifier(3);
    let h = m
        .fit_dataset(
            &data,
            quiet()
                .epochs(3)
                .validation_split(0.25)
                .callback(CsvLogger::new(&path)),
        )
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,loss,accuracy,val_loss,val_accuracy");
    assert_eq!(lines.len(), 4);
    for (i, line) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], (i + 1).to_string());
        // Shortest round-trip formatting: the values read back exactly.
        let logged: Vec<f64> = cells[1..].iter().map(|c| c.parse().unwrap()).collect();
        let want: Vec<f64> = h.epochs[i].logs.entries().iter().map(|e| e.1).collect();
        assert_eq!(logged, want);
    }
    m.fit_dataset(
        &data,
        quiet()
            .epochs(5)
            .initial_epoch(3)
            .validation_split(0.25)
            .callback(CsvLogger::new(&path).append(true)),
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let epochs: Vec<&str> = text.lines().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(epochs, ["epoch", "1", "2", "3", "4", "5"]);

    std::fs::write(&path, "step,loss\n1,0.5\n").unwrap();
    let e = m
        .fit_dataset(&data, quiet().callback(CsvLogger::new(&path).append(true)))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("log.csv, line 1, column 1: cannot append: the header starts with 'step'"),
        "{e}"
    );
    let e = m
        .fit_dataset(
            &data,
            quiet().callback(CsvLogger::new(dir.join("no/such/dir.csv"))),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("no/such/dir.csv"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `Write` whose bytes the test can read afterwards.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn epoch_logger_prints_one_line_per_epoch() {
    let buf = Shared::default();
    let mut m = classifier(1);
    let h = m
        .fit_dataset(
            &blobs(30, 1),
            quiet()
                .epochs(12)
                .callback(EpochLogger::to_writer(Box::new(buf.clone()))),
        )
        .unwrap();
    let text = String::from_utf8(buf.0.borrow().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 12);
    assert!(lines[0].starts_with("Epoch  1/12 - "), "{}", lines[0]);
    assert!(
        lines[11].ends_with(&format!(
            "s - loss: {:.4} - accuracy: {:.4}",
            h.metric("loss")[11],
            h.metric("accuracy")[11]
        )),
        "{}",
        lines[11]
    );
}

#[test]
fn step_schedule_sets_the_rate_per_epoch_and_logs_it() {
    let mut m = classifier(1);
    let mut rec = Recorder::default();
    let h = m
        .fit_dataset(
            &blobs(32, 1),
            quiet()
                .epochs(3)
                .batch_size(16)
                .callback(LearningRateScheduler::new(StepDecay {
                    initial: 0.1,
                    factor: 0.5,
                    every: 1,
                }))
                .callback(&mut rec),
        )
        .unwrap();
    assert_eq!(h.metric("lr"), [0.1f32, 0.05, 0.025].map(f64::from));
    assert_eq!(rec.step_lrs, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    assert_eq!(m.train_config().unwrap().optimizer.lr(), 0.025);
}

#[test]
fn cosine_warmup_moves_every_step() {
    let mut m = classifier(1);
    let mut rec = Recorder::default();
    let s = CosineWarmup {
        peak: 0.01,
        min_lr: 0.0,
        warmup: 1.0,
        total: 3.0,
        start_factor: 0.0,
    };
    m.fit_dataset(
        &blobs(40, 1),
        quiet()
            .epochs(3)
            .batch_size(10)
            .callback(LearningRateScheduler::new(s))
            .callback(&mut rec),
    )
    .unwrap();
    let lrs = &rec.step_lrs;
    assert_eq!(lrs.len(), 12);
    assert_eq!(&lrs[..5], &[0.0, 0.0025, 0.005, 0.0075, 0.01]);
    assert!(lrs[5..].windows(2).all(|w| w[1] < w[0]), "{lrs:?}");
    assert_eq!(lrs[8], 0.005);
}

#[test]
fn reduce_lr_on_plateau_multiplies_the_rate() {
    let mut m = classifier(1);
    let mut plateau = ReduceLrOnPlateau::new("loss")
        .mode(MonitorMode::Max)
        .patience(1)
        .factor(0.5)
        .min_lr(0.003);
    let h = m
        .fit_dataset(&blobs(30, 1), quiet().epochs(5).callback(&mut plateau))
        .unwrap();
    // Epoch 0 improves (first value); then every epoch is a plateau: 0.01 → 0.005 → 0.003 (floor).
    assert_eq!(
        h.metric("lr"),
        [0.01f32, 0.005, 0.003, 0.003, 0.003].map(f64::from)
    );
    assert_eq!(plateau.reductions(), 2);
    let e = classifier(1)
        .fit_dataset(
            &blobs(30, 1),
            quiet().callback(ReduceLrOnPlateau::new("loss").factor(2.0)),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("factor must be in (0, 1), got 2"), "{e}");
}
