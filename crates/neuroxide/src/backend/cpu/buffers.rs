//! The CPU backend's buffer table: every buffer's values, dtype and shape, and the checked
//! borrows kernels run on (sizes, dtypes, outputs distinct from every other operand).

use super::pool::{par_rows, ThreadPool};
use crate::backend::BufId;
use crate::dtype::{mismatch, DType, HostData, HostDataMut};
use crate::error::{Error, Result};

/// A buffer's values, stored in its dtype.
pub(super) enum Storage {
    F32(Vec<f32>),
    I32(Vec<i32>),
    BF16(Vec<u16>),
}

impl Storage {
    fn zeros(dtype: DType, len: usize) -> Storage {
        match dtype {
            DType::F32 => Storage::F32(vec![0.0; len]),
            DType::I32 => Storage::I32(vec![0; len]),
            DType::BF16 => Storage::BF16(vec![0u16; len]),
        }
    }
    fn dtype(&self) -> DType {
        match self {
            Storage::F32(_) => DType::F32,
            Storage::I32(_) => DType::I32,
            Storage::BF16(_) => DType::BF16,
        }
    }
    fn len(&self) -> usize {
        match self {
            Storage::F32(v) => v.len(),
            Storage::I32(v) => v.len(),
            Storage::BF16(v) => v.len(),
        }
    }
    /// The f32 values (empty for another dtype: callers check the dtype first).
    fn f32s(&self) -> &[f32] {
        match self {
            Storage::F32(v) => v,
            _ => &[],
        }
    }
    fn f32s_mut(&mut self) -> &mut [f32] {
        match self {
            Storage::F32(v) => v,
            _ => &mut [],
        }
    }
    fn i32s(&self) -> &[i32] {
        match self {
            Storage::I32(v) => v,
            _ => &[],
        }
    }
}

/// One buffer: values and shape.
pub(super) struct CpuBuf {
    pub(super) data: Storage,
    pub(super) shape: Vec<usize>,
}

/// Borrowed kernel operands: `N` inputs and `M` outputs.
pub type KernelOperands<'a, const N: usize, const M: usize> = ([&'a [f32]; N], [&'a mut [f32]; M]);

/// The buffer table, with checked borrows for kernels.
#[derive(Default)]
pub(super) struct Buffers(Vec<CpuBuf>);

impl Buffers {
    pub fn alloc(&mut self, dtype: DType, shape: &[usize]) -> Result<BufId> {
        let id =
            u32::try_from(self.0.len()).map_err(|_| Error::backend("cpu: too many buffers"))?;
        let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let len = len.ok_or_else(|| {
            Error::backend(format!("cpu: a buffer of shape {shape:?} is too large"))
        })?;
        self.0.push(CpuBuf {
            data: Storage::zeros(dtype, len),
            shape: shape.to_vec(),
        });
        Ok(BufId(id))
    }

    pub fn free(&mut self, id: BufId) -> Result<()> {
        let b = self.get(id)?;
        let dtype = b.data.dtype();
        let b = &mut self.0[id.0 as usize];
        b.data = Storage::zeros(dtype, 0);
        b.shape = vec![0];
        Ok(())
    }

    pub fn get(&self, id: BufId) -> Result<&CpuBuf> {
        self.0
            .get(id.0 as usize)
            .ok_or_else(|| Error::backend(format!("cpu: unknown buffer {}", id.0)))
    }

    pub fn dtype(&self, id: BufId) -> Option<DType> {
        self.0.get(id.0 as usize).map(|b| b.data.dtype())
    }

    pub fn len(&self, id: BufId) -> usize {
        self.0.get(id.0 as usize).map_or(0, |b| b.data.len())
    }

    /// An f32 buffer's values.
    pub fn slice(&self, id: BufId) -> Result<&[f32]> {
        self.check("read", id, 0)?;
        Ok(self.0[id.0 as usize].data.f32s())
    }

    /// Checks that `id` is an f32 buffer of at least `need` values.
    pub fn check(&self, kernel: &str, id: BufId, need: usize) -> Result<()> {
        self.check_typed(kernel, id, need, DType::F32)
    }

    /// Checks that `id` is a `dtype` buffer of at least `need` values.
    pub fn check_typed(&self, kernel: &str, id: BufId, need: usize, dtype: DType) -> Result<()> {
        let b = self.get(id)?;
        if b.data.dtype() != dtype {
            return Err(mismatch(
                &format!("cpu {kernel}"),
                id.0,
                b.data.dtype(),
                dtype,
            ));
        }
        let have = b.data.len();
        if need > have {
            return Err(Error::backend(format!(
                "cpu {kernel}: buffer {} holds {have} values, the kernel needs {need}",
                id.0
            )));
        }
        Ok(())
    }

    /// Copies typed host values into `dst[offset..]`. A large f32 copy (a batch of inputs, every
    /// step) is split over `pool`'s threads: one thread copies at a fraction of the memory
    /// bandwidth, and the other threads would only wait for it.
    pub fn upload(
        &mut self,
        pool: &ThreadPool,
        dst: BufId,
        offset: usize,
        src: HostData<'_>,
    ) -> Result<()> {
        self.check_typed("upload", dst, offset + src.len(), src.dtype())?;
        let end = offset + src.len();
        match (&mut self.0[dst.0 as usize].data, src) {
            (Storage::F32(d), HostData::F32(s)) => {
                par_rows(pool, &mut d[offset..end], s.len(), 1, &|i0, block| {
                    block.copy_from_slice(&s[i0..i0 + block.len()]);
                });
            }
            (Storage::I32(d), HostData::I32(s)) => d[offset..end].copy_from_slice(s),
            (Storage::BF16(d), HostData::BF16(s)) => d[offset..end].copy_from_slice(s),
            _ => {}
        }
        Ok(())
    }

    /// Copies `src[offset..]` into typed host memory.
    pub fn download(&self, src: BufId, offset: usize, mut dst: HostDataMut<'_>) -> Result<()> {
        self.check_typed("download", src, offset + dst.len(), dst.dtype())?;
        let end = offset + dst.len();
        match (&self.0[src.0 as usize].data, &mut dst) {
            (Storage::F32(s), HostDataMut::F32(d)) => d.copy_from_slice(&s[offset..end]),
            (Storage::I32(s), HostDataMut::I32(d)) => d.copy_from_slice(&s[offset..end]),
            (Storage::BF16(s), HostDataMut::BF16(d)) => d.copy_from_slice(&s[offset..end]),
            _ => {}
        }
        Ok(())
    }

    /// Borrows `N` f32 input buffers and `M` f32 output buffers (first `len` values of each).
    /// Outputs must be distinct from each other and from the inputs; an entry of length 0 is
    /// unused and yields an empty slice.
    pub fn ios<const N: usize, const M: usize>(
        &mut self,
        kernel: &str,
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<KernelOperands<'_, N, M>> {
        for &(id, len) in ins.iter().chain(outs.iter()) {
            self.check(kernel, id, len)?;
        }
        for (i, &(o, olen)) in outs.iter().enumerate() {
            let clash = ins.iter().any(|&(id, len)| len > 0 && id == o)
                || outs[i + 1..].iter().any(|&(id, len)| len > 0 && id == o);
            if olen > 0 && clash {
                return Err(Error::backend(format!(
                    "cpu {kernel}: output buffer {} aliases another operand",
                    o.0
                )));
            }
        }
        let base = self.0.as_mut_ptr();
        // SAFETY: indices, dtypes and lengths were checked above, and every non-empty output is
        // distinct from all other operands, so no mutable borrow aliases another borrow.
        // Borrows end with `&mut self`.
        unsafe {
            let ins = ins.map(|(id, len)| &(*base.add(id.0 as usize)).data.f32s()[..len]);
            let outs = outs.map(|(id, len)| {
                if len == 0 {
                    &mut [][..]
                } else {
                    &mut (*base.add(id.0 as usize)).data.f32s_mut()[..len]
                }
            });
            Ok((ins, outs))
        }
    }

    /// Like [`Buffers::ios`] with one more input: an i32 buffer of ids or class labels (its
    /// first `ids.1` values). An f32 buffer there is a dtype error, so ids are never read as
    /// floats; being of another dtype, it cannot alias an output.
    pub fn ios_with_ids<const N: usize, const M: usize>(
        &mut self,
        kernel: &str,
        ids: (BufId, usize),
        ins: [(BufId, usize); N],
        outs: [(BufId, usize); M],
    ) -> Result<(&[i32], KernelOperands<'_, N, M>)> {
        self.check_typed(kernel, ids.0, ids.1, DType::I32)?;
        let base = self.0.as_ptr();
        // SAFETY: checked index; the buffer is i32 while every operand `ios` hands out
        // mutably is f32, so the shared borrow aliases no mutable one.
        let id_values = unsafe { &(*base.add(ids.0 .0 as usize)).data.i32s()[..ids.1] };
        let ops = self.ios(kernel, ins, outs)?;
        Ok((id_values, ops))
    }

    /// Copies spans of `cols` values from `src` to `dst`, one per `(src_start, dst_start)` of
    /// `spans` in order, between buffers of one dtype (any dtype: a copy does no arithmetic;
    /// `ops::copy` owns the span order). `src_need`/`dst_need` are the values touched;
    /// `src == dst` is allowed when the spans do not overlap.
    pub fn copy_spans(
        &mut self,
        kernel: &str,
        (src, src_need): (BufId, usize),
        (dst, dst_need): (BufId, usize),
        cols: usize,
        spans: impl Iterator<Item = (usize, usize)>,
    ) -> Result<()> {
        let dtype = self.get(src)?.data.dtype();
        self.check_typed(kernel, src, src_need, dtype)?;
        self.check_typed(kernel, dst, dst_need, dtype)?;
        fn run<T: Copy>(
            s: Option<&[T]>,
            d: &mut [T],
            cols: usize,
            spans: impl Iterator<Item = (usize, usize)>,
        ) {
            for (so, doff) in spans {
                match s {
                    Some(s) => d[doff..doff + cols].copy_from_slice(&s[so..so + cols]),
                    None => d.copy_within(so..so + cols, doff),
                }
            }
        }
        if src == dst {
            match &mut self.0[src.0 as usize].data {
                Storage::F32(v) => run(None, v, cols, spans),
                Storage::I32(v) => run(None, v, cols, spans),
                Storage::BF16(v) => run(None, v, cols, spans),
            }
            return Ok(());
        }
        let base = self.0.as_mut_ptr();
        // SAFETY: distinct, checked indices.
        let (s, d) = unsafe {
            (
                &(*base.add(src.0 as usize)).data,
                &mut (*base.add(dst.0 as usize)).data,
            )
        };
        match (s, d) {
            (Storage::F32(s), Storage::F32(d)) => run(Some(s), d, cols, spans),
            (Storage::I32(s), Storage::I32(d)) => run(Some(s), d, cols, spans),
            (Storage::BF16(s), Storage::BF16(d)) => run(Some(s), d, cols, spans),
            _ => {}
        }
        Ok(())
    }
}
