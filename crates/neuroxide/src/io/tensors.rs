//! Named f32 tensors in the safetensors format, with a SHA-256 of every tensor's bytes in the
//! file's metadata (`sha256/<name>`), so that a flipped byte is reported with the tensor it hit
//! instead of silently changing a weight. A lone file is written to a temporary name, fsynced and
//! renamed, so a crash never leaves a half-written file under the real name; a model directory
//! is written as a whole (see [`super::atomic_dir`]).

use crate::error::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One tensor to write or one read back: name, shape, values.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn checksum(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn format_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Format(format!("{}: {message}", path.display()))
}

/// Writes `tensors` (little-endian f32) plus `metadata` and the per-tensor checksums.
pub fn write_tensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: HashMap<String, String>,
) -> Result<()> {
    write_atomically(path, &serialize_tensors(path, tensors, metadata)?)
}

/// The bytes [`write_tensors`] writes; `path` only names the file in errors.
pub fn serialize_tensors(
    path: &Path,
    tensors: &[NamedTensor],
    mut metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for (t, b) in tensors.iter().zip(&bytes) {
        metadata.insert(format!("sha256/{}", t.name), checksum(b));
        let view = TensorView::new(Dtype::F32, t.shape.clone(), b)
            .map_err(|e| format_err(path, format!("tensor '{}': {e}", t.name)))?;
        views.push((t.name.clone(), view));
    }
    let bytes = safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| format_err(path, format!("cannot serialise: {e}")))?;
    sorted_header(bytes).map_err(|e| format_err(path, format!("cannot serialise: {e}")))
}

/// The same file with its header's keys (and its metadata's) in sorted order: the safetensors
/// crate writes the metadata map in hash order, which differs from process to process, so
/// the same tensors saved twice would give different bytes. Sorted, a file is a function of
/// its contents (data-parallel and sharded runs compare saved models byte for byte). The
/// header stays padded with spaces to a multiple of 8 bytes, as the format asks; the tensor
/// offsets are relative to the data, so they do not move.
fn sorted_header(bytes: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("no header length")?;
    let n = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|e| e.to_string())?;
    let header = bytes.get(8..8 + n).ok_or("header past the end")?;
    // serde_json's map is a BTreeMap: re-serialising sorts every object's keys.
    let value: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let mut sorted = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    sorted.resize(sorted.len().next_multiple_of(8), b' ');
    if sorted.len() == n {
        // The usual case (the same compact JSON, reordered): rewrite the header in place
        // instead of copying the tensor data into a second buffer.
        let mut bytes = bytes;
        bytes[8..8 + n].copy_from_slice(&sorted);
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(8 + sorted.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(sorted.len() as u64).to_le_bytes());
    out.extend_from_slice(&sorted);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// Writes `data` to `path` through a fsynced temporary file in the same directory, renamed into
/// place; the temporary file is removed when anything fails. An existing path that is not a
/// regular file (`/dev/null`, a pipe) is written directly, never replaced.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return std::fs::write(path, data).map_err(|e| Error::io(path, e));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let written = super::atomic_dir::write_synced(&tmp, data)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A parsed tensor file: tensors by name (sorted) and the metadata without the checksums.
pub struct TensorFile {
    pub tensors: BTreeMap<String, NamedTensor>,
    pub metadata: HashMap<String, String>,
}

/// Reads and checks a tensor file: a readable header, every tensor's bytes present (a
/// truncated file names the first tensor cut off), f32 dtype, and each checksum.
pub fn read_tensors(path: &Path) -> Result<TensorFile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_tensors(&bytes, path)
}

/// [`read_tensors`] on bytes already read; `path` only names the file in errors.
pub fn parse_tensors(bytes: &[u8], path: &Path) -> Result<TensorFile> {
    check_layout(path, bytes)?;
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| format_err(path, format!("not a valid safetensors file: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format_err(path, format!("not a valid safetensors file: {e}")))?;
    let mut metadata = meta.metadata().clone().unwrap_or_default();
    let mut tensors = BTreeMap::new();
    for (name, view) in st.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(format_err(
                path,
                format!("tensor '{name}': dtype {:?}, expected F32", view.dtype()),
            ));
        }
        let sum = metadata.remove(&format!("sha256/{name}")).ok_or_else(|| {
            format_err(
                path,
                format!("tensor '{name}': no sha256 checksum in the metadata"),
            )
        })?;
        if checksum(view.data()) != sum {
            return Err(format_err(
                path,
                format!("tensor '{name}': checksum mismatch, the file is corrupt"),
            ));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.insert(
            name.to_string(),
            NamedTensor {
                name: name.to_string(),
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    if let Some(k) = metadata.keys().find(|k| k.starts_with("sha256/")) {
        return Err(format_err(
            path,
            format!("checksum '{k}' refers to a tensor that is not in the file"),
        ));
    }
    Ok(TensorFile { tensors, metadata })
}

/// Checks the 8-byte header length, the JSON header, every tensor's dtype and byte count against
/// its shape (naming the tensor), and that every tensor's byte range lies inside the file,
/// naming the tensor that is cut off. The `safetensors` crate's own errors name no tensor.
fn check_layout(path: &Path, bytes: &[u8]) -> Result<()> {
    if bytes.len() < 8 {
        return Err(format_err(
            path,
            format!(
                "truncated: {} bytes, a safetensors file starts with an 8-byte header length",
                bytes.len()
            ),
        ));
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[..8]);
    let n = u64::from_le_bytes(len8);
    let avail = (bytes.len() - 8) as u64;
    if n > avail {
        return Err(format_err(
            path,
            format!("truncated or corrupt: the header claims {n} bytes, the file holds {avail} after the length"),
        ));
    }
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n as usize])
        .map_err(|e| format_err(path, format!("corrupt header: {e}")))?;
    let data_len = avail - n;
    if let Some(map) = header.as_object() {
        for (name, entry) in map.iter().filter(|(k, _)| k.as_str() != "__metadata__") {
            check_entry(path, name, entry)?;
        }
        let mut entries: Vec<(&String, u64)> = map
            .iter()
            .filter(|(k, _)| k.as_str() != "__metadata__")
            .filter_map(|(k, v)| {
                let end = v.get("data_offsets")?.get(1)?.as_u64()?;
                Some((k, end))
            })
            .collect();
        entries.sort_by_key(|&(_, end)| end);
        if let Some((name, end)) = entries.into_iter().find(|&(_, end)| end > data_len) {
            return Err(format_err(
                path,
                format!(
                    "truncated: tensor '{name}' ends at data byte {end}, the file holds {data_len} data bytes"
                ),
            ));
        }
    }
    Ok(())
}

/// One header entry: `dtype` is `F32`, `shape` is a list of sizes whose product (overflow
/// checked) times 4 bytes equals the length of `data_offsets`.
fn check_entry(path: &Path, name: &str, entry: &serde_json::Value) -> Result<()> {
    let bad = |m: String| format_err(path, format!("tensor '{name}': {m}"));
    let dtype = entry.get("dtype").and_then(|d| d.as_str());
    match dtype {
        Some("F32") => {}
        Some(d) => return Err(bad(format!("dtype {d}, expected F32"))),
        None => return Err(bad("the header entry has no 'dtype' string".into())),
    }
    let shape: Vec<u64> = entry
        .get("shape")
        .and_then(|s| s.as_array())
        .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect())
        .ok_or_else(|| bad("'shape' is not a list of sizes".into()))?;
    let offsets: Vec<u64> = entry
        .get("data_offsets")
        .and_then(|s| s.as_array())
        .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect())
        .filter(|o: &Vec<u64>| o.len() == 2)
        .ok_or_else(|| bad("'data_offsets' is not a pair of byte offsets".into()))?;
    if offsets[0] > offsets[1] {
        return Err(bad(format!(
            "data_offsets [{}, {}] end before they begin",
            offsets[0], offsets[1]
        )));
    }
    let need = shape
        .iter()
        .try_fold(4u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let have = offsets[1] - offsets[0];
    if need != have {
        return Err(bad(format!(
            "shape {shape:?} of F32 needs {need} bytes, data_offsets [{}, {}] hold {have}",
            offsets[0], offsets[1]
        )));
    }
    Ok(())
}
