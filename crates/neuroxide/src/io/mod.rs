//! Saving and loading models: the architecture as JSON, the weights and the optimizer state as
//! safetensors, in one directory (see [`model_dir`] for the layout). A loaded model predicts
//! bit-identically to the saved one, and training resumed from a checkpoint continues exactly
//! as if it had never stopped.
//!
//! ```
//! use neuroxide::layers::Dense;
//! use neuroxide::{optim, Loss, Model, Sequential, Tensor};
//! let mut m = Sequential::new([3]).add(Dense::new(2)).build(7).unwrap();
//! m.compile(optim::adam(1e-3), Loss::mse()).unwrap();
//! let dir = std::env::temp_dir().join(format!("neuroxide-doc-io-{}", std::process::id()));
//! m.save(&dir).unwrap();
//! let mut back = Model::load(&dir).unwrap();
//! let x = Tensor::new([1, 3], vec![1.0, 2.0, 3.0]).unwrap();
//! assert_eq!(m.predict(&x).unwrap(), back.predict(&x).unwrap());
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

pub mod architecture;
pub mod atomic_dir;
pub mod manifest;
pub mod model_dir;
mod model_ext;
mod preprocessing;
pub mod tensors;

pub use architecture::{Architecture, CompileSpec, NodeSpec, TrainingState};
pub use manifest::MANIFEST_FILE;
pub use model_dir::{
    expand_epoch, load, load_allowing_non_finite, load_from_files, save, ModelFiles, SaveOptions,
    SavedModel, MODEL_FILE, OPTIMIZER_FILE, WEIGHTS_FILE,
};
pub use preprocessing::Preprocessing;
