//! `manifest.json`: the size and SHA-256 of every file of a model directory, written last into
//! the directory. The per-tensor checksums inside the safetensors files cover only the weights;
//! the manifest also covers the architecture, the preprocessing (normaliser, class names) and the
//! optimizer state, and its presence marks a save that finished. A directory without it, or
//! whose files do not match it, was half-written (a crash of an older, file-by-file save) or
//! edited by hand, and is refused with a message saying so.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The manifest's file name inside a model directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Value of the `format` field.
const FORMAT: &str = "neuroxide-manifest";

/// Size and checksum of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub bytes: u64,
    pub sha256: String,
}

/// The whole manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub files: BTreeMap<String, FileEntry>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The manifest of `files` (name, bytes), serialised.
pub fn manifest_of(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let m = Manifest {
        format: FORMAT.to_string(),
        version: 1,
        files: files
            .iter()
            .map(|(n, b)| {
                (
                    n.clone(),
                    FileEntry {
                        bytes: b.len() as u64,
                        sha256: sha256_hex(b),
                    },
                )
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&m)
        .map_err(|e| Error::Format(format!("cannot serialise the manifest: {e}")))
}

fn err(dir: &Path, message: impl std::fmt::Display) -> Error {
    Error::Format(format!("{}: {message}", dir.display()))
}

/// Parses the bytes of `dir/manifest.json`.
pub fn parse_manifest(bytes: &[u8], dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let m: Manifest =
        serde_json::from_slice(bytes).map_err(|e| err(&path, format!("corrupt manifest: {e}")))?;
    if m.format != FORMAT || m.version != 1 {
        return Err(err(
            &path,
            format!(
                "format '{}' version {}, expected '{FORMAT}' version 1",
                m.format, m.version
            ),
        ));
    }
    Ok(m)
}

/// The message for a model directory that lacks `missing` and has no manifest: a save that
/// did not finish.
pub fn incomplete(dir: &Path, missing: &str) -> Error {
    err(
        dir,
        format!(
            "incomplete model directory: {missing} is missing and there is no {MANIFEST_FILE} \
             — a save into it was interrupted (or the files were copied in part); save the \
             model again"
        ),
    )
}

/// Checks the files read from `dir` (name, bytes) against its manifest: a directory without
/// one is an unfinished save; a listed file that was not read, a file not listed, or a size or
/// checksum that differs is named.
pub fn verify(dir: &Path, manifest: Option<&Manifest>, read: &[(&str, &[u8])]) -> Result<()> {
    let Some(m) = manifest else {
        return Err(err(
            dir,
            format!(
                "no {MANIFEST_FILE}: the save that wrote this directory did not finish (or an \
                 older Neuroxide wrote it), so its files may not belong together; save the \
                 model again"
            ),
        ));
    };
    for (name, bytes) in read {
        let Some(entry) = m.files.get(*name) else {
            return Err(err(
                dir,
                format!("{name} is not listed in {MANIFEST_FILE}: it does not belong to this save"),
            ));
        };
        if entry.bytes != bytes.len() as u64 {
            return Err(err(
                dir,
                format!(
                    "{name} has {} bytes, {MANIFEST_FILE} says {}: the file was cut short or \
                     replaced after saving",
                    bytes.len(),
                    entry.bytes
                ),
            ));
        }
        if sha256_hex(bytes) != entry.sha256 {
            return Err(err(
                dir,
                format!("{name}: checksum differs from {MANIFEST_FILE}: the file was modified after saving"),
            ));
        }
    }
    if let Some(name) = m.files.keys().find(|k| !read.iter().any(|(n, _)| n == k)) {
        return Err(err(
            dir,
            format!("{name} is listed in {MANIFEST_FILE} but missing from the directory"),
        ));
    }
    Ok(())
}
