//! Element types of tensors and device buffers, and typed views of host values for transfers.
//!
//! Why typed: token ids and class labels are integers. Carried as f32 they are exact only below
//! 2^24 and every kernel has to re-check that a float is integral; carried as `i32` from the data
//! layer to the kernels (`const int*` on CUDA) they are what they mean, and a buffer that holds
//! ids can never be handed to a kernel that reads floats (every operand check compares dtypes).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Element types. Exact mode computes in `F32`; `I32` holds token ids and class labels;
/// `BF16` is reserved for fast mode (buffers can be allocated and transferred, no kernel reads
/// them yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DType {
    #[default]
    F32,
    I32,
    BF16,
}

impl DType {
    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::BF16 => 2,
        }
    }
    /// Lower-case name (`f32`, `i32`, `bf16`), as written in error messages and `model.json`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I32 => "i32",
            DType::BF16 => "bf16",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Host values of one dtype, borrowed for an upload.
#[derive(Clone, Copy, Debug)]
pub enum HostData<'a> {
    F32(&'a [f32]),
    I32(&'a [i32]),
    /// bf16 values as their bit patterns (no bf16 arithmetic on the host).
    BF16(&'a [u16]),
}

/// Host memory of one dtype, borrowed for a download.
#[derive(Debug)]
pub enum HostDataMut<'a> {
    F32(&'a mut [f32]),
    I32(&'a mut [i32]),
    BF16(&'a mut [u16]),
}

impl<'a> From<&'a mut [f32]> for HostDataMut<'a> {
    fn from(v: &'a mut [f32]) -> Self {
        HostDataMut::F32(v)
    }
}

impl<'a> From<&'a mut [i32]> for HostDataMut<'a> {
    fn from(v: &'a mut [i32]) -> Self {
        HostDataMut::I32(v)
    }
}

impl<'a> From<&'a mut Vec<f32>> for HostDataMut<'a> {
    fn from(v: &'a mut Vec<f32>) -> Self {
        HostDataMut::F32(v)
    }
}

impl<'a> From<&'a mut Vec<i32>> for HostDataMut<'a> {
    fn from(v: &'a mut Vec<i32>) -> Self {
        HostDataMut::I32(v)
    }
}

impl<'a> HostData<'a> {
    /// The values `range` (indices into the values, not bytes), same dtype.
    pub fn slice(self, range: std::ops::Range<usize>) -> HostData<'a> {
        match self {
            HostData::F32(v) => HostData::F32(&v[range]),
            HostData::I32(v) => HostData::I32(&v[range]),
            HostData::BF16(v) => HostData::BF16(&v[range]),
        }
    }
    /// The dtype of the values.
    pub fn dtype(&self) -> DType {
        match self {
            HostData::F32(_) => DType::F32,
            HostData::I32(_) => DType::I32,
            HostData::BF16(_) => DType::BF16,
        }
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            HostData::F32(v) => v.len(),
            HostData::I32(v) => v.len(),
            HostData::BF16(v) => v.len(),
        }
    }
    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The values as raw bytes (native endianness), for a device copy.
    pub fn bytes(&self) -> &[u8] {
        let (ptr, len) = match self {
            HostData::F32(v) => (v.as_ptr().cast::<u8>(), std::mem::size_of_val(*v)),
            HostData::I32(v) => (v.as_ptr().cast::<u8>(), std::mem::size_of_val(*v)),
            HostData::BF16(v) => (v.as_ptr().cast::<u8>(), std::mem::size_of_val(*v)),
        };
        // SAFETY: plain-old-data slices viewed as their bytes, same lifetime.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

impl HostDataMut<'_> {
    /// The dtype of the destination.
    pub fn dtype(&self) -> DType {
        match self {
            HostDataMut::F32(_) => DType::F32,
            HostDataMut::I32(_) => DType::I32,
            HostDataMut::BF16(_) => DType::BF16,
        }
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            HostDataMut::F32(v) => v.len(),
            HostDataMut::I32(v) => v.len(),
            HostDataMut::BF16(v) => v.len(),
        }
    }
    /// True when there is no room.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The destination as raw bytes, for a device copy (every bit pattern is a valid value of
    /// each dtype).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let (ptr, len) = match self {
            HostDataMut::F32(v) => (v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(*v)),
            HostDataMut::I32(v) => (v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(*v)),
            HostDataMut::BF16(v) => (v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(*v)),
        };
        // SAFETY: plain-old-data slices viewed as their bytes, same lifetime; any byte pattern
        // is a valid f32, i32 or bf16 bit pattern.
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }
}

/// The error of a transfer or kernel operand whose dtype is not the buffer's: names the
/// operation, the buffer and both dtypes.
pub fn mismatch(what: &str, buf: u32, have: DType, got: DType) -> crate::error::Error {
    crate::error::Error::backend(format!(
        "{what}: buffer {buf} holds {have} values, got {got} (dtype mismatch)"
    ))
}
