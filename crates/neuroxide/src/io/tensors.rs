//! Named f32 tensors in the safetensors format, with a SHA-256 of every tensor's bytes in the
//! file's metadata (`sha256/<name>`), so that a flipped byte is reported with the tensor it hit
//! instead of silently changing a weight. Files are written to a temporary name and renamed, so a
//! crash never leaves a half-written checkpoint under the real name.

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
    mut metadata: HashMap<String, String>,
) -> Result<()> {
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
    let data = safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| format_err(path, format!("cannot serialise: {e}")))?;
    write_atomically(path, &data)
}

/// Writes `data` to `path` through a temporary file in the same directory.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, data).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
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
    check_layout(path, &bytes)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| format_err(path, format!("not a valid safetensors file: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
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

/// Checks the 8-byte header length, the JSON header and that every tensor's byte range lies
/// inside the file, naming the tensor that is cut off.
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
