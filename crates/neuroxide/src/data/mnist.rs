//! MNIST (and Fashion-MNIST, same format) from the four IDX files in one directory.
//!
//! Files: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`, each either raw or gzip-compressed with a `.gz` suffix (the raw
//! name is tried first). Images become rows of 784 f32 pixels in `[0, 1]` (`byte / 255`), labels
//! class indices `0..=9` in an i32 `[n, 1]` tensor.

use crate::data::dataset::Dataset;
use crate::data::idx::{parse_idx_expecting, read_maybe_gzip, IdxArray};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Image side in pixels.
pub const MNIST_SIDE: usize = 28;
/// Pixels per image.
pub const MNIST_PIXELS: usize = MNIST_SIDE * MNIST_SIDE;
/// Number of classes.
pub const MNIST_CLASSES: usize = 10;

/// SHA-256 of the decompressed canonical MNIST files (see data/NOTICE.md).
pub const MNIST_SHA256: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// Options for [`Mnist::load_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistOptions {
    /// Check every decompressed file against [`MNIST_SHA256`]. Turn off for Fashion-MNIST or
    /// other data in the same format.
    pub verify_checksums: bool,
    /// Keep only the first `limit` samples of each split (checksums still cover whole files).
    pub limit: Option<usize>,
}

impl Default for MnistOptions {
    fn default() -> Self {
        MnistOptions {
            verify_checksums: true,
            limit: None,
        }
    }
}

/// Loader for the MNIST family of datasets.
#[derive(Clone, Copy, Debug)]
pub struct Mnist;

impl Mnist {
    /// Loads canonical MNIST from `dir` as `(train, test)`, verifying the checksums.
    pub fn load(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset)> {
        Self::load_with(dir, &MnistOptions::default())
    }

    /// Loads MNIST-format files without checking checksums (e.g. Fashion-MNIST).
    pub fn load_unverified(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset)> {
        Self::load_with(
            dir,
            &MnistOptions {
                verify_checksums: false,
                limit: None,
            },
        )
    }

    /// Loads `(train, test)` with explicit options.
    pub fn load_with(dir: impl AsRef<Path>, options: &MnistOptions) -> Result<(Dataset, Dataset)> {
        let dir = dir.as_ref();
        let train = load_split(dir, "train", options)?;
        let test = load_split(dir, "t10k", options)?;
        Ok((train, test))
    }
}

/// `dir/name` if it exists, else `dir/name.gz`.
fn locate(dir: &Path, name: &str) -> Result<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(Error::io(
        &gz,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "MNIST file not found (looked for {} and {})",
                raw.display(),
                gz.display()
            ),
        ),
    ))
}

fn data_err(path: &Path, message: String) -> Error {
    Error::Data {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads one file, checks its checksum when asked, and parses it.
fn read_file(
    dir: &Path,
    name: &str,
    ndims: usize,
    options: &MnistOptions,
) -> Result<(PathBuf, IdxArray)> {
    let path = locate(dir, name)?;
    let bytes = read_maybe_gzip(&path)?;
    if options.verify_checksums {
        let expected = MNIST_SHA256
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, h)| *h);
        let got = hex(&Sha256::digest(&bytes));
        if got != expected {
            return Err(data_err(
                &path,
                format!(
                    "SHA-256 mismatch for {name}: expected {expected}, got {got} (not the \
                     canonical MNIST file; for Fashion-MNIST or other data in this format use \
                     Mnist::load_unverified)"
                ),
            ));
        }
    }
    let array = parse_idx_expecting(&bytes, &path, Some(ndims))?;
    Ok((path, array))
}

fn load_split(dir: &Path, prefix: &str, options: &MnistOptions) -> Result<Dataset> {
    let (img_path, images) = read_file(dir, &format!("{prefix}-images-idx3-ubyte"), 3, options)?;
    let (lbl_path, labels) = read_file(dir, &format!("{prefix}-labels-idx1-ubyte"), 1, options)?;
    if images.dims.len() != 3 || images.dims[1] != MNIST_SIDE || images.dims[2] != MNIST_SIDE {
        return Err(data_err(
            &img_path,
            format!(
                "expected MNIST images of shape [n, {MNIST_SIDE}, {MNIST_SIDE}] (magic \
                 0x00000803), got dimensions {:?}",
                images.dims
            ),
        ));
    }
    if labels.dims.len() != 1 {
        return Err(data_err(
            &lbl_path,
            format!(
                "expected MNIST labels of shape [n] (magic 0x00000801), got dimensions {:?}",
                labels.dims
            ),
        ));
    }
    let n = images.dims[0];
    if labels.dims[0] != n {
        return Err(data_err(
            &lbl_path,
            format!(
                "label count {} does not match the image count {n} of {}",
                labels.dims[0],
                img_path.display()
            ),
        ));
    }
    if let Some(i) = labels
        .data
        .iter()
        .position(|&l| usize::from(l) >= MNIST_CLASSES)
    {
        return Err(data_err(
            &lbl_path,
            format!(
                "label {} of sample {i} is not a digit class 0..=9",
                labels.data[i]
            ),
        ));
    }
    let n = options.limit.map_or(n, |l| l.min(n));
    let mut lut = [0f32; 256];
    for (v, slot) in lut.iter_mut().enumerate() {
        *slot = v as f32 / 255.0;
    }
    let x: Vec<f32> = images.data[..n * MNIST_PIXELS]
        .iter()
        .map(|&b| lut[usize::from(b)])
        .collect();
    let y: Vec<i32> = labels.data[..n].iter().map(|&l| i32::from(l)).collect();
    Dataset::new(
        Tensor::new(vec![n, MNIST_PIXELS], x)?,
        Tensor::from_i32(vec![n, 1], y)?,
    )
}
