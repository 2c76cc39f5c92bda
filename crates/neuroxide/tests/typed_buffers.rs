//! Typed device buffers (issue 8, item 2): every buffer records its dtype and shape; uploads,
//! downloads and kernel operands are checked against the dtype (errors name the buffer and
//! both dtypes); i32 values round-trip bit for bit on the CPU and on CUDA; token ids go from a
//! dataset through the loader into an Embedding as i32; the input dtype survives save/load and
//! an old `model.json` without it reads as f32.

#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::backend::cpu::CpuBackend;
use neuroxide::backend::cuda::CudaBackend;
use neuroxide::data::{DataLoader, Dataset};
use neuroxide::graph::LayerApply;
use neuroxide::io::architecture::Architecture;
use neuroxide::layers::{Dense, Embedding, Flatten};
use neuroxide::ops::copy::copy_many;
use neuroxide::ops::elementwise;
use neuroxide::train::{FitOptions, Verbosity};
use neuroxide::{optim, Backend, DType, Graph, HostData, HostDataMut, Loss, Model, Tensor};

/// Values that catch any trip through f32: above 2^24 (not representable), negative, extremes.
const IDS: [i32; 7] = [0, -1, 16_777_217, i32::MAX, i32::MIN, 123_456_789, -42];

fn round_trip(be: &mut dyn Backend) {
    let b = be.alloc_typed(DType::I32, &[IDS.len()]).unwrap();
    assert_eq!(be.buf_dtype(b), Some(DType::I32));
    assert_eq!(be.buf_shape(b), Some(vec![IDS.len()]));
    assert_eq!(be.buf_len(b), IDS.len());
    be.upload_values(b, 0, HostData::I32(&IDS)).unwrap();
    let mut back = [7i32; 7];
    be.download_values(b, 0, HostDataMut::I32(&mut back))
        .unwrap();
    assert_eq!(back, IDS);
    // An offset upload and a partial download.
    be.upload_values(b, 5, HostData::I32(&[9, 10])).unwrap();
    let mut tail = [0i32; 3];
    be.download_values(b, 4, HostDataMut::I32(&mut tail))
        .unwrap();
    assert_eq!(tail, [i32::MIN, 9, 10]);
    // A device copy of an i32 buffer (the staging path) keeps every bit.
    let c = be.alloc_typed(DType::I32, &[IDS.len()]).unwrap();
    copy_many(be, &[(b, c, IDS.len())]).unwrap();
    let mut copied = [0i32; 7];
    be.download_values(c, 0, HostDataMut::I32(&mut copied))
        .unwrap();
    assert_eq!(copied, [0, -1, 16_777_217, i32::MAX, i32::MIN, 9, 10]);
    // bf16 buffers: allocation and transfer (fast mode's storage).
    let h = be.alloc_typed(DType::BF16, &[2, 2]).unwrap();
    assert_eq!(be.buf_shape(h), Some(vec![2, 2]));
    // bf16 bit patterns of 1.5, -0.0, a NaN payload and the largest finite value.
    let v = [0x3fc0u16, 0x8000, 0x7fc1, 0x7f7f];
    be.upload_values(h, 0, HostData::BF16(&v)).unwrap();
    let mut w = [0u16; 4];
    be.download_values(h, 0, HostDataMut::BF16(&mut w)).unwrap();
    assert_eq!(w, v);
}

fn mismatches(be: &mut dyn Backend, name: &str) {
    let ids = be.alloc_typed(DType::I32, &[4]).unwrap();
    let floats = be.alloc(4).unwrap();
    let e = be.upload(ids, 0, &[1.0; 4]).unwrap_err().to_string();
    let want = format!("{name} upload: buffer {} holds i32 values, got f32", ids.0);
    assert!(e.contains(&want) && e.contains("dtype mismatch"), "{e}");
    let e = be
        .upload_values(floats, 0, HostData::I32(&[1; 4]))
        .unwrap_err()
        .to_string();
    let want = format!(
        "{name} upload: buffer {} holds f32 values, got i32",
        floats.0
    );
    assert!(e.contains(&want), "{e}");
    let e = be.download(ids, 0, &mut [0.0; 4]).unwrap_err().to_string();
    assert!(
        e.contains("download") && e.contains("holds i32 values, got f32"),
        "{e}"
    );
    // A kernel that reads floats refuses an id buffer.
    let e = elementwise::fill(be, ids, 4, 1.0).unwrap_err().to_string();
    assert!(
        e.contains("fill") && e.contains("holds i32 values, got f32"),
        "{e}"
    );
    // A copy between buffers of different dtypes is refused too.
    let e = copy_many(be, &[(floats, ids, 4)]).unwrap_err().to_string();
    assert!(e.contains("holds i32 values, got f32"), "{e}");
}

#[test]
fn i32_round_trip_on_cpu() {
    round_trip(&mut CpuBackend::new(2));
}

#[test]
fn dtype_mismatches_are_errors_naming_buffer_and_dtypes_on_cpu() {
    mismatches(&mut CpuBackend::new(1), "cpu");
}

#[test]
fn i32_round_trip_and_mismatches_on_cuda() {
    let mut be = match CudaBackend::new(0) {
        Ok(b) => b,
        Err(e) => return require_cuda::skip(e),
    };
    round_trip(&mut be);
    mismatches(&mut be, "cuda");
    // Staged (pinned, copy-stream) uploads carry i32 bytes unchanged.
    let b = be.alloc_typed(DType::I32, &[IDS.len()]).unwrap();
    be.upload_staged(b, HostData::I32(&IDS)).unwrap();
    be.wait_staged().unwrap();
    let mut back = [0i32; 7];
    be.download_values(b, 0, HostDataMut::I32(&mut back))
        .unwrap();
    assert_eq!(back, IDS);
}

/// Sequences of 4 token ids over a vocabulary of 5; the label is the first token's id.
fn token_dataset(n: usize) -> Dataset {
    let ids: Vec<i32> = (0..n * 4).map(|k| ((k * 7 + k / 3) % 5) as i32).collect();
    let labels: Vec<i32> = (0..n).map(|r| ids[r * 4]).collect();
    Dataset::new(
        Tensor::from_i32([n, 4], ids).unwrap(),
        Tensor::from_i32([n, 1], labels).unwrap(),
    )
    .unwrap()
}

fn token_model() -> (Model, Graph) {
    let g = Graph::new();
    let tokens = g.input_ids([4]);
    let e = Embedding::new(5, 3).apply(&tokens);
    let logits = Dense::new(5).apply(&Flatten::new().apply(&e));
    let mut m = Model::with_seed(&[&tokens], &[&logits], 3).unwrap();
    m.compile(optim::adam(0.05), Loss::cross_entropy()).unwrap();
    (m, g)
}

#[test]
fn embedding_trains_on_i32_ids_from_a_dataset() {
    let data = token_dataset(40);
    // The loader keeps the i32 columns i32.
    let loader = DataLoader::new(&data, 16).unwrap().shuffle(1);
    let b = loader.batches(0).next().unwrap();
    assert_eq!((b.x.dtype(), b.y.dtype()), (DType::I32, DType::I32));
    let (mut m, _) = token_model();
    assert_eq!(m.input_dtypes(), [DType::I32]);
    let h = m
        .fit(
            &data.x,
            &data.y,
            FitOptions::new()
                .epochs(30)
                .batch_size(8)
                .verbose(Verbosity::Silent),
        )
        .unwrap();
    let losses = h.metric("loss");
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    let acc = m.evaluate(&data.x, &data.y, 8).unwrap().accuracy.unwrap();
    assert_eq!(acc, 1.0, "the label is a token of the input");
    // Prefetched steps stage the i32 ids and labels: the same bits as synchronous steps.
    let (mut a, _) = token_model();
    let (mut p, _) = token_model();
    let (x, y) = (
        data.x.select_rows(&[0, 1, 2, 3]).unwrap(),
        data.y.select_rows(&[0, 1, 2, 3]).unwrap(),
    );
    for _ in 0..3 {
        a.train_step(&[&x], &[&y]).unwrap();
        p.prefetch(&[&x], &[&y]).unwrap();
        p.train_step_prefetched().unwrap();
        assert_eq!(
            a.last_loss().unwrap().to_bits(),
            p.last_loss().unwrap().to_bits()
        );
    }
}

#[test]
fn graph_and_batch_dtype_errors_name_the_layer_and_both_dtypes() {
    let g = Graph::new();
    let floats = g.input([4]);
    let y = Embedding::new(5, 3).apply_named("tok", &floats);
    let e = Model::new(&[&floats], &[&y]).err().unwrap().to_string();
    assert!(
        e.contains("tok")
            && e.contains("must be i32")
            && e.contains("is f32")
            && e.contains("input_ids"),
        "{e}"
    );
    let g = Graph::new();
    let ids = g.input_ids([4]);
    let y = Dense::new(2).apply_named("dense", &ids);
    let e = Model::new(&[&ids], &[&y]).err().unwrap().to_string();
    assert!(
        e.contains("dense") && e.contains("must be f32") && e.contains("is i32"),
        "{e}"
    );
    // Batches: f32 ids and f32 labels are refused, not converted.
    let (mut m, _) = token_model();
    let data = token_dataset(4);
    let e = m
        .train_on_batch(&data.x.to_f32(), &data.y)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("input 0") && e.contains("takes i32") && e.contains("got a f32"),
        "{e}"
    );
    let e = m
        .train_on_batch(&data.x, &data.y.to_f32())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("target 0") && e.contains("takes i32") && e.contains("got a f32"),
        "{e}"
    );
    // The explicit conversion is exact and checked.
    assert_eq!(data.y.to_f32().to_i32().unwrap(), data.y);
}

#[test]
fn input_dtype_survives_save_and_load_and_old_files_read_as_f32() {
    let (mut m, _) = token_model();
    let data = token_dataset(8);
    m.train_on_batch(&data.x, &data.y).unwrap();
    let dir = std::env::temp_dir().join(format!("nx_typed_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    m.save(&dir).unwrap();
    let json = std::fs::read_to_string(dir.join("model.json")).unwrap();
    assert!(json.contains("\"dtype\": \"i32\""), "{json}");
    let mut back = Model::load(&dir).unwrap();
    assert_eq!(back.input_dtypes(), [DType::I32]);
    let bits = |t: Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(back.predict(&data.x).unwrap()),
        bits(m.predict(&data.x).unwrap())
    );
    let _ = std::fs::remove_dir_all(&dir);
    // A file written before inputs had dtypes: Input configs are null → f32.
    let mut arch = Architecture::of(&Sequential4::model());
    for n in &mut arch.nodes {
        if n.kind == "Input" {
            n.config = serde_json::Value::Null;
        }
    }
    let rebuilt = arch.build().unwrap();
    assert_eq!(rebuilt.input_dtypes(), [DType::F32]);
    // An unknown dtype is a format error naming the node.
    let mut bad = Architecture::of(&Sequential4::model());
    bad.nodes[0].config = serde_json::json!({"dtype": "f64"});
    let e = bad.build().err().unwrap().to_string();
    assert!(e.contains(&bad.nodes[0].name) && e.contains("f64"), "{e}");
}

/// A small f32 model for the old-file case.
struct Sequential4;

impl Sequential4 {
    fn model() -> Model {
        neuroxide::Sequential::new([4])
            .add(Dense::new(2))
            .build(1)
            .unwrap()
    }
}
