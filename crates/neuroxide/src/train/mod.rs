//! The training workflow: `fit`, `evaluate`, metrics, callbacks, learning-rate schedules.
//!
//! ```
//! use neuroxide::layers::Dense;
//! use neuroxide::train::{FitOptions, Verbosity};
//! use neuroxide::{optim, Loss, Sequential, Tensor};
//! let mut model = Sequential::new([2]).add(Dense::new(8).relu()).add(Dense::new(2)).build(1).unwrap();
//! model.compile(optim::adam(0.05), Loss::cross_entropy()).unwrap();
//! let x = Tensor::new([4, 2], vec![0., 0., 0., 1., 1., 0., 1., 1.]).unwrap();
//! let y = Tensor::from_i32([4, 1], vec![0, 1, 1, 0]).unwrap(); // class labels are i32
//! let history = model
//!     .fit(&x, &y, FitOptions::new().epochs(200).batch_size(4).verbose(Verbosity::Silent))
//!     .unwrap();
//! assert_eq!(history.len(), 200);
//! assert_eq!(model.evaluate(&x, &y, 4).unwrap().accuracy, Some(1.0));
//! ```

mod batches;
pub mod callbacks;
mod confusion;
mod evaluate;
mod fit;
pub mod generate;
mod history;
pub mod metrics;
mod model_ext;
mod plateau;
pub mod schedule;
mod split;

pub use callbacks::{
    Callback, Control, CsvLogger, EarlyStopping, EpochLogger, LearningRateScheduler,
    ModelCheckpoint, Monitor, MonitorMode, ProgressBar, TrainInfo, WeightEma,
};
pub use confusion::ConfusionMatrix;
pub use evaluate::{evaluate, Evaluation};
pub use fit::{fit, fit_dataset, FitOptions, Validation, Verbosity};
pub use generate::{generate, validation_loss, GenerateOptions};
pub use history::{format_value, EpochRecord, History, Logs};
pub use metrics::Metric;
pub use plateau::ReduceLrOnPlateau;
pub use schedule::{CosineWarmup, ExponentialDecay, Schedule, StepDecay};
pub use split::stratified_split;
