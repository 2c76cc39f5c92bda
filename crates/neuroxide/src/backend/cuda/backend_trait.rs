//! The `Backend` trait on [`CudaBackend`]: buffers, transfers, staged input and step
//! recording. Every method checks its arguments as the CPU backend does, then queues work on
//! the backend's stream; only `download` and `synchronize` wait.

use super::backend::{Buf, CudaBackend};
use super::context::drv;
use crate::backend::device::Device;
use crate::backend::{Backend, BackendStats, BufId, StagedSpan};
use crate::dtype::{DType, HostData, HostDataMut};
use crate::error::{Error, Result};
use cudarc::driver::result as cu;

impl CudaBackend {
    /// A live buffer's table entry.
    fn live(&self, buf: BufId) -> Option<&Buf> {
        self.bufs.get(buf.0 as usize).and_then(Option::as_ref)
    }
}

impl Backend for CudaBackend {
    fn kernels(&mut self) -> crate::backend::Kernels<'_> {
        crate::backend::Kernels::Cuda(self)
    }
    fn name(&self) -> String {
        format!("cuda:{} ({})", self.dev.ordinal, self.dev.name)
    }
    fn device(&self) -> Device {
        Device::Cuda(self.dev.ordinal)
    }
    fn alloc_typed(&mut self, dtype: DType, shape: &[usize]) -> Result<BufId> {
        self.not_capturing("allocating a buffer")?;
        self.bind()?;
        let id =
            u32::try_from(self.bufs.len()).map_err(|_| Error::backend("cuda: too many buffers"))?;
        let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let bytes = len.and_then(|n| n.checked_mul(dtype.size_bytes()));
        let (len, bytes) = len.zip(bytes).ok_or_else(|| {
            Error::backend(format!("cuda: a buffer of shape {shape:?} is too large"))
        })?;
        self.order_after_staged()?;
        let block = self.raw_alloc(bytes)?;
        if len > 0 {
            // SAFETY: the block holds at least `bytes` bytes.
            drv("zero-filling a buffer", unsafe {
                cu::memset_d8_async(block.ptr, 0, bytes, self.stream.cu_stream())
            })?;
        }
        self.bufs.push(Some(Buf {
            block,
            len,
            dtype,
            shape: shape.to_vec(),
        }));
        Ok(BufId(id))
    }
    fn free(&mut self, buf: BufId) -> Result<()> {
        self.not_capturing("freeing a buffer")?;
        self.bind()?;
        self.order_after_staged()?;
        let slot = self
            .bufs
            .get_mut(buf.0 as usize)
            .ok_or_else(|| Error::backend(format!("cuda free: unknown buffer {}", buf.0)))?;
        match slot.take() {
            // Stream order: kernels queued before this free finish before any later reuse.
            Some(b) => {
                self.free.put(b.block);
                Ok(())
            }
            None => Err(Error::backend(format!(
                "cuda free: buffer {} was already freed",
                buf.0
            ))),
        }
    }
    fn stats(&self) -> BackendStats {
        self.stats
    }
    fn begin_capture(&mut self) -> Result<bool> {
        self.bind()?;
        self.recorder
            .begin(&self.stream, self.stats.kernel_launches)?;
        Ok(true)
    }
    fn end_capture(&mut self) -> Result<usize> {
        self.bind()?;
        self.recorder
            .end(&self.stream, self.stats.kernel_launches, self.status_cols)
    }
    fn abort_capture(&mut self) {
        self.recorder.abort(&self.stream);
    }
    fn replay(&mut self, id: usize) -> Result<u64> {
        self.not_capturing("replaying a recorded step")?;
        self.bind()?;
        let (launches, status_cols) = self.recorder.replay(id)?;
        if status_cols.is_some() {
            self.status_cols = status_cols;
        }
        self.stats.graph_replays += 1;
        Ok(launches)
    }
    fn clear_captures(&mut self) {
        self.recorder.clear();
    }
    fn buf_len(&self, buf: BufId) -> usize {
        self.live(buf).map_or(0, |b| b.len)
    }
    fn buf_dtype(&self, buf: BufId) -> Option<DType> {
        self.live(buf).map(|b| b.dtype)
    }
    fn buf_shape(&self, buf: BufId) -> Option<Vec<usize>> {
        self.live(buf).map(|b| b.shape.clone())
    }
    fn upload_values(&mut self, dst: BufId, offset: usize, src: HostData<'_>) -> Result<()> {
        self.not_capturing("copying from the host")?;
        self.bind()?;
        let dtype = src.dtype();
        let p = self.buf_typed("upload", dst, offset + src.len(), dtype)?;
        if src.is_empty() {
            return Ok(());
        }
        let at = p + (offset * dtype.size_bytes()) as u64;
        // SAFETY: the destination range was checked. From pageable memory the driver stages
        // the data before returning, so `src` may be reused at once; the copy is stream-ordered.
        drv("upload", unsafe {
            cu::memcpy_htod_async(at, src.bytes(), self.stream.cu_stream())
        })
    }
    fn download_values(
        &mut self,
        src: BufId,
        offset: usize,
        mut dst: HostDataMut<'_>,
    ) -> Result<()> {
        self.not_capturing("copying to the host")?;
        self.bind()?;
        let dtype = dst.dtype();
        let p = self.buf_typed("download", src, offset + dst.len(), dtype)?;
        if !dst.is_empty() {
            let at = p + (offset * dtype.size_bytes()) as u64;
            // SAFETY: the source range was checked; the stream is synchronised below before
            // `dst` is read.
            drv("download", unsafe {
                cu::memcpy_dtoh_async(dst.bytes_mut(), at, self.stream.cu_stream())
            })?;
        }
        self.sync_stream()
    }
    fn constant_tables(&mut self) -> &mut Vec<(String, BufId)> {
        &mut self.constants
    }
    fn synchronize(&mut self) -> Result<()> {
        if let Some(s) = &self.staging {
            // Counted with the compute stream's wait below as one synchronisation.
            s.synchronize()?;
        }
        self.sync_stream()
    }
    fn upload_staged(&mut self, dst: BufId, src: HostData<'_>) -> Result<()> {
        self.bind()?;
        let p = self.buf_typed("upload_staged", dst, src.len(), src.dtype())?;
        if src.is_empty() {
            return Ok(());
        }
        if self.staging.is_none() {
            self.staging = Some(super::staging::Staging::new(&self.dev)?);
        }
        match &mut self.staging {
            Some(s) => s.upload(&self.stream, p, src.bytes(), &mut self.stats),
            None => Err(Error::backend("cuda: staging state missing")),
        }
    }
    fn wait_staged(&mut self) -> Result<()> {
        self.bind()?;
        match &mut self.staging {
            Some(s) => s.wait(&self.stream),
            None => Ok(()),
        }
    }
    fn release_staged(&mut self) -> Result<()> {
        self.bind()?;
        match &mut self.staging {
            Some(s) => s.release(&self.stream),
            None => Ok(()),
        }
    }
    fn staged_timeline_start(&mut self, groups: usize) -> Result<bool> {
        self.bind()?;
        if self.staging.is_none() {
            self.staging = Some(super::staging::Staging::new(&self.dev)?);
        }
        match &mut self.staging {
            Some(s) => s.timeline_start(&self.dev, &self.stream, groups)?,
            None => return Err(Error::backend("cuda: staging state missing")),
        }
        Ok(true)
    }
    fn staged_timeline(&mut self) -> Result<Vec<StagedSpan>> {
        self.bind()?;
        match &self.staging {
            Some(s) => {
                self.stats.syncs += 1;
                s.timeline()
            }
            None => Ok(Vec::new()),
        }
    }
}
