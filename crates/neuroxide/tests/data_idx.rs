//! IDX reader and MNIST loader: synthetic files for every error, plus the committed real MNIST.

use flate2::write::GzEncoder;
use flate2::Compression;
use neuroxide::data::{idx::parse_idx, read_idx, IdxArray, Mnist, MnistOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A fresh, empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("neuroxide-data-idx-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// `n` synthetic 28×28 images; pixel `p` of image `i` is `(i * 7 + p) % 256`.
fn images(n: u32) -> Vec<u8> {
    let data: Vec<u8> = (0..n as usize * 784)
        .map(|k| ((k / 784) * 7 + k % 784) as u8)
        .collect();
    idx_bytes(0x0803, &[n, 28, 28], &data)
}

fn labels(values: &[u8]) -> Vec<u8> {
    idx_bytes(0x0801, &[values.len() as u32], values)
}

/// A complete synthetic MNIST directory: 3 train images (raw files), 2 test images (gzip).
fn synthetic_mnist(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    write(&dir.join("train-images-idx3-ubyte"), &images(3));
    write(&dir.join("train-labels-idx1-ubyte"), &labels(&[5, 0, 9]));
    write(&dir.join("t10k-images-idx3-ubyte.gz"), &gzip(&images(2)));
    write(
        &dir.join("t10k-labels-idx1-ubyte.gz"),
        &gzip(&labels(&[7, 2])),
    );
    dir
}

fn unverified() -> MnistOptions {
    MnistOptions {
        verify_checksums: false,
        limit: None,
    }
}

fn load_err(dir: &Path, options: &MnistOptions) -> String {
    Mnist::load_with(dir, options).unwrap_err().to_string()
}

#[test]
fn reads_raw_and_gzip_idx_alike() {
    let dir = temp_dir("rawgz");
    let bytes = idx_bytes(0x0802, &[2, 3], &[1, 2, 3, 4, 5, 6]);
    write(&dir.join("a.idx"), &bytes);
    write(&dir.join("a.idx.gz"), &gzip(&bytes));
    let expected = IdxArray {
        dims: vec![2, 3],
        data: vec![1, 2, 3, 4, 5, 6],
    };
    assert_eq!(read_idx(dir.join("a.idx")).unwrap(), expected);
    assert_eq!(read_idx(dir.join("a.idx.gz")).unwrap(), expected);
    // detection is by magic bytes, not by name
    write(&dir.join("b.gz"), &bytes);
    assert_eq!(read_idx(dir.join("b.gz")).unwrap(), expected);
}

#[test]
fn idx_header_errors() {
    let p = Path::new("x.idx");
    let msg = |b: &[u8]| parse_idx(b, p).unwrap_err().to_string();
    assert_eq!(
        msg(&[0, 0, 8]),
        "x.idx: not an IDX file: 3 bytes, too short for the 4-byte magic number"
    );
    assert_eq!(
        msg(&idx_bytes(0x1234_5678, &[], &[])),
        "x.idx: not an IDX file: magic number 0x12345678, expected 0x000008DD (unsigned bytes, \
         DD dimensions), e.g. 0x00000803 for images or 0x00000801 for labels"
    );
    assert_eq!(
        msg(&idx_bytes(0x0D01, &[1], &[0, 0, 0, 0])),
        "x.idx: unsupported IDX element type 0x0D (magic 0x00000D01); only unsigned bytes \
         (0x08) are supported"
    );
    assert_eq!(
        msg(&[0, 0, 8, 3, 0, 0, 0, 1, 0, 0]),
        "x.idx: truncated IDX header: 3 dimensions need 16 header bytes, the file has 10"
    );
    assert_eq!(
        msg(&idx_bytes(0x0803, &[2, 2, 2], &[0; 7])),
        "x.idx: truncated IDX file: dimensions [2, 2, 2] need 8 data bytes after the 16-byte \
         header, found 7"
    );
    assert_eq!(
        msg(&idx_bytes(0x0801, &[2], &[0; 3])),
        "x.idx: IDX file has 1 unexpected trailing bytes: dimensions [2] need 2 data bytes \
         after the 8-byte header, found 3"
    );
}

#[test]
fn corrupt_gzip_names_the_file() {
    let dir = temp_dir("badgz");
    let gz = gzip(&labels(&[1, 2, 3]));
    let path = dir.join("cut.gz");
    write(&path, &gz[..gz.len() - 12]);
    let msg = read_idx(&path).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: corrupt or truncated gzip data: ",
            path.display()
        )),
        "message was: {msg}"
    );
}

#[test]
fn synthetic_mnist_loads() {
    let dir = synthetic_mnist("ok");
    let (train, test) = Mnist::load_unverified(&dir).unwrap();
    assert_eq!(train.x.shape(), [3, 784]);
    assert_eq!(train.y.shape(), [3, 1]);
    assert_eq!(test.x.shape(), [2, 784]);
    assert_eq!(train.y.ids().unwrap(), [5, 0, 9]);
    assert_eq!(test.y.ids().unwrap(), [7, 2]);
    // image 1, pixel 0 is byte 7; image 0, pixel 255 is byte 255; pixel 256 wraps to 0
    assert_eq!(train.x.row(1)[0], 7.0 / 255.0);
    assert_eq!(train.x.row(0)[255], 1.0);
    assert_eq!(train.x.row(0)[256], 0.0);
    assert_eq!(test.x.row(1)[10], 17.0 / 255.0);
    let (train, test) = Mnist::load_with(
        &dir,
        &MnistOptions {
            verify_checksums: false,
            limit: Some(2),
        },
    )
    .unwrap();
    assert_eq!((train.len(), test.len()), (2, 2));
    assert_eq!(train.y.ids().unwrap(), [5, 0]);
}

#[test]
fn mnist_checksum_mismatch() {
    let dir = synthetic_mnist("sha");
    let msg = load_err(&dir, &MnistOptions::default());
    let path = dir.join("train-images-idx3-ubyte");
    assert!(
        msg.starts_with(&format!(
            "{}: SHA-256 mismatch for train-images-idx3-ubyte: expected \
             ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db, got ",
            path.display()
        )),
        "message was: {msg}"
    );
    assert!(
        msg.ends_with("use Mnist::load_unverified)"),
        "message was: {msg}"
    );
}

#[test]
fn mnist_missing_file() {
    let dir = synthetic_mnist("missing");
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let raw = dir.join("t10k-labels-idx1-ubyte");
    let gz = dir.join("t10k-labels-idx1-ubyte.gz");
    assert_eq!(
        load_err(&dir, &unverified()),
        format!(
            "{}: MNIST file not found (looked for {} and {})",
            gz.display(),
            raw.display(),
            gz.display()
        )
    );
}

#[test]
fn mnist_wrong_magic() {
    let dir = synthetic_mnist("magic");
    let path = dir.join("train-labels-idx1-ubyte");
    write(&path, &[0x1f, 0x00, 0x08, 0x01, 0, 0, 0, 0]);
    assert_eq!(
        load_err(&dir, &unverified()),
        format!(
            "{}: not an IDX file: magic number 0x1F000801, expected 0x000008DD (unsigned bytes, \
             DD dimensions), e.g. 0x00000803 for images or 0x00000801 for labels",
            path.display()
        )
    );
}

#[test]
fn mnist_truncated_file() {
    let dir = synthetic_mnist("trunc");
    let path = dir.join("train-images-idx3-ubyte");
    let full = images(3);
    write(&path, &full[..full.len() - 100]);
    assert_eq!(
        load_err(&dir, &unverified()),
        format!(
            "{}: truncated IDX file: dimensions [3, 28, 28] need 2352 data bytes after the \
             16-byte header, found 2252",
            path.display()
        )
    );
}

#[test]
fn mnist_count_mismatch() {
    let dir = synthetic_mnist("count");
    let path = dir.join("t10k-labels-idx1-ubyte.gz");
    write(&path, &gzip(&labels(&[1, 2, 3])));
    assert_eq!(
        load_err(&dir, &unverified()),
        format!(
            "{}: label count 3 does not match the image count 2 of {}",
            path.display(),
            dir.join("t10k-images-idx3-ubyte.gz").display()
        )
    );
}

#[test]
fn mnist_wrong_dimensions() {
    let dir = synthetic_mnist("dims");
    let path = dir.join("train-images-idx3-ubyte");
    write(
        &path,
        &idx_bytes(0x0803, &[3, 32, 32], &vec![0; 3 * 32 * 32]),
    );
    assert_eq!(
        load_err(&dir, &unverified()),
        format!(
            "{}: expected MNIST images of shape [n, 28, 28] (magic 0x00000803), got dimensions \
             [3, 32, 32]",
            path.display()
        )
    );
    let dir = synthetic_mnist("labeldims");
    let path = dir.join("train-labels-idx1-ubyte");
    write(&path, &idx_bytes(0x0802, &[3, 1], &[1, 2, 3]));
    assert_eq!(
        load_err(&dir, &unverified()),
        format!(
            "{}: the magic number 0x00000802 declares a 2-dimensional array, but a \
             1-dimensional one (MNIST labels, magic 0x00000801) is expected here",
            path.display()
        )
    );
}

#[test]
fn mnist_images_file_with_the_labels_magic_says_so() {
    let dir = synthetic_mnist("swapped");
    let path = dir.join("train-images-idx3-ubyte");
    let mut bytes = images(3);
    bytes[3] = 0x01; // the labels magic: the rest reads as 1 dimension and "trailing bytes"
    write(&path, &bytes);
    assert_eq!(
        load_err(&dir, &unverified()),
        format!(
            "{}: the magic number 0x00000801 declares a 1-dimensional array (MNIST labels, magic \
             0x00000801), but a 3-dimensional one (MNIST images, magic 0x00000803) is expected \
             here: are the images and labels files swapped?",
            path.display()
        )
    );
}

#[test]
fn mnist_label_out_of_range() {
    let dir = synthetic_mnist("label10");
    let path = dir.join("train-labels-idx1-ubyte");
    write(&path, &labels(&[1, 10, 2]));
    assert_eq!(
        load_err(&dir, &unverified()),
        format!(
            "{}: label 10 of sample 1 is not a digit class 0..=9",
            path.display()
        )
    );
}

/// The committed real MNIST: counts, checksums (verified by `load`), known labels and class
/// frequencies.
#[test]
fn real_mnist_from_repo() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let (train, test) = Mnist::load(&dir).unwrap();
    assert_eq!(train.x.shape(), [60000, 784]);
    assert_eq!(train.y.shape(), [60000, 1]);
    assert_eq!(test.x.shape(), [10000, 784]);
    assert_eq!(test.y.shape(), [10000, 1]);
    assert_eq!(&train.y.ids().unwrap()[..5], [5, 0, 4, 1, 9]);
    assert_eq!(&test.y.ids().unwrap()[..5], [7, 2, 1, 0, 4]);
    let count = |y: &[i32]| {
        let mut c = [0usize; 10];
        for &v in y {
            c[v as usize] += 1;
        }
        c
    };
    assert_eq!(
        count(train.y.ids().unwrap()),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        count(test.y.ids().unwrap()),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let (lo, hi) = train
        .x
        .data()
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert_eq!((lo, hi), (0.0, 1.0));
    // the first training image (a 5): row 14 of the 28×28 grid has ink
    assert!(train.x.row(0)[14 * 28..15 * 28].iter().any(|&v| v > 0.5));
}
