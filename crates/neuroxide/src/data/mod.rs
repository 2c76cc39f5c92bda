//! Data: in-memory datasets, seeded batching, CSV tables, IDX/MNIST files, label encoding and
//! feature normalisation. Everything here runs on the host; the training loop copies batches to
//! the backend.

pub mod csv;
pub mod csv_detect;
pub mod dataset;
pub mod idx;
pub mod label_encoder;
pub mod loader;
pub mod mnist;
pub mod normalize;
pub mod shuffle;
pub mod text;
pub mod tokenizer;

pub use self::csv::{read_csv, read_csv_from, CsvData, CsvOptions, TargetColumns, Task};
pub use dataset::{Dataset, RowSelection, SPLIT_STREAM};
pub use idx::{read_idx, IdxArray};
pub use label_encoder::LabelEncoder;
pub use loader::{Batch, Batches, DataLoader};
pub use mnist::{Mnist, MnistOptions, MNIST_SHA256};
pub use normalize::{Normalizer, NormalizerKind};
pub use shuffle::{shuffle, shuffle_indices, PhiloxWords};
pub use text::{lm_batch, load_shakespeare, CharTokenizer};
pub use tokenizer::{ByteTokenizer, TextTokenizer, Tokenizer, TokenizerKind};
