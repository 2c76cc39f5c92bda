//! IDX files (the MNIST format), raw or gzip-compressed.
//!
//! Layout: a big-endian u32 magic `0x0000TTDD` — two zero bytes, the element type `TT`
//! (only `0x08`, unsigned byte, is supported) and the number of dimensions `DD` — then `DD`
//! big-endian u32 sizes, then the elements in row-major order. MNIST images are `0x00000803`
//! (`[n, 28, 28]`), labels `0x00000801` (`[n]`). A gzip file is recognised by its first two
//! bytes `1f 8b`, not by its name.

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Sizes of the dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The elements, row-major; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

fn data_err(path: &Path, message: String) -> Error {
    Error::Data {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message,
    }
}

/// Reads a whole file, decompressing it when it starts with the gzip magic `1f 8b`.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decompress_if_gzip(raw, path)
}

/// `raw` decompressed when it starts with the gzip magic, else unchanged; `path` only names the
/// file in errors.
pub fn decompress_if_gzip(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| data_err(path, format!("corrupt or truncated gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX file of unsigned bytes (raw or gzip).
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    parse_idx(&read_maybe_gzip(path)?, path)
}

/// Parses decompressed IDX bytes; `path` only names the file in error messages. The element
/// count must match the header exactly (a short file is truncated, a long one is not IDX).
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    parse_idx_expecting(bytes, path, None)
}

/// What an IDX array of `ndims` dimensions is in MNIST terms, for messages.
fn idx_kind(ndims: usize) -> &'static str {
    match ndims {
        1 => " (MNIST labels, magic 0x00000801)",
        3 => " (MNIST images, magic 0x00000803)",
        _ => "",
    }
}

/// [`parse_idx`] for a file that must have `expected_dims` dimensions: a file of the other
/// kind (labels given for images, or the reverse) is named as such, before its sizes are
/// compared (an images file read as labels would otherwise report "trailing bytes").
pub fn parse_idx_expecting(
    bytes: &[u8],
    path: &Path,
    expected_dims: Option<usize>,
) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(data_err(
            path,
            format!(
                "not an IDX file: {} bytes, too short for the 4-byte magic number",
                bytes.len()
            ),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 || bytes[3] == 0 {
        return Err(data_err(
            path,
            format!(
                "not an IDX file: magic number 0x{magic:08X}, expected 0x000008DD (unsigned \
                 bytes, DD dimensions), e.g. 0x00000803 for images or 0x00000801 for labels"
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(data_err(
            path,
            format!(
                "unsupported IDX element type 0x{:02X} (magic 0x{magic:08X}); only unsigned \
                 bytes (0x08) are supported",
                bytes[2]
            ),
        ));
    }
    let ndims = usize::from(bytes[3]);
    if let Some(want) = expected_dims.filter(|&w| w != ndims) {
        return Err(data_err(
            path,
            format!(
                "the magic number 0x{magic:08X} declares a {ndims}-dimensional array{}, but a \
                 {want}-dimensional one{} is expected here{}",
                idx_kind(ndims),
                idx_kind(want),
                if idx_kind(ndims).is_empty() {
                    ""
                } else {
                    ": are the images and labels files swapped?"
                }
            ),
        ));
    }
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(data_err(
            path,
            format!(
                "truncated IDX header: {ndims} dimensions need {header_len} header bytes, the \
                 file has {}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| data_err(path, format!("IDX dimensions {dims:?} overflow")))?;
    let body = bytes.len() - header_len;
    if body < count {
        return Err(data_err(
            path,
            format!(
                "truncated IDX file: dimensions {dims:?} need {count} data bytes after the \
                 {header_len}-byte header, found {body}"
            ),
        ));
    }
    if body > count {
        return Err(data_err(
            path,
            format!(
                "IDX file has {} unexpected trailing bytes: dimensions {dims:?} need {count} data \
                 bytes after the {header_len}-byte header, found {body}",
                body - count
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header_len..].to_vec(),
    })
}
