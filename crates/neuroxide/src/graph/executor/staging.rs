//! The staging set of double-buffered input: a second set of device buffers that the next
//! batch is uploaded into (`Backend::upload_staged`) while the current step computes, copied
//! into the input and target buffers at the start of the next step.

use super::targets::{batch_shape, target_layout};
use super::Executor;
use crate::backend::BufId;
use crate::dtype::HostData;
use crate::error::{Error, Result};
use crate::graph::node::Node;
use crate::ops::copy::{copy_many, COPY_MANY_MAX};

impl Executor {
    /// Makes the staging set hold `rows` rows of every model input (node indices `inputs`) and
    /// every target (for `outputs`), each in the dtype and layout of the buffer it is copied
    /// into (i32 for ids and class labels). Allocates only when it grows or a dtype changes, so
    /// steady-state prefetching allocates nothing.
    pub fn ensure_staging(
        &mut self,
        nodes: &[Node],
        inputs: &[usize],
        outputs: &[usize],
        rows: usize,
    ) -> Result<()> {
        let count = inputs.len() + outputs.len();
        let target_dtype = self.target_dtype();
        let same_dtypes = self.staging.len() == count
            && self.staging[inputs.len()..]
                .iter()
                .all(|&b| self.backend.buf_dtype(b) == Some(target_dtype));
        if same_dtypes && rows <= self.staging_rows {
            return Ok(());
        }
        for b in self.staging.drain(..) {
            self.backend.free(b)?;
        }
        let rows = rows.max(self.capacity);
        for &n in inputs {
            let b = self
                .backend
                .alloc_typed(nodes[n].dtype, &batch_shape(rows, nodes[n].shape.dims()))?;
            self.staging.push(b);
        }
        for &n in outputs {
            let (dtype, shape) = target_layout(self.target_kind, rows, &nodes[n].shape);
            let b = self.backend.alloc_typed(dtype, &shape)?;
            self.staging.push(b);
        }
        self.staged_lens = vec![0; count];
        self.staging_rows = rows;
        Ok(())
    }

    /// Queues the asynchronous upload of `values` into staging buffer `i` (see
    /// [`Backend::upload_staged`]).
    pub fn stage(&mut self, i: usize, values: HostData<'_>) -> Result<()> {
        let b = *self
            .staging
            .get(i)
            .ok_or_else(|| Error::invalid(format!("no staging buffer {i}")))?;
        self.backend.upload_staged(b, values)?;
        self.staged_lens[i] = values.len();
        Ok(())
    }

    /// Moves the staged batch of `rows` rows into the input buffers of `inputs` (node indices)
    /// and the target buffers — or, for a sharded step (`sharded`), into the batch set the
    /// step copies its shards out of — on the compute stream.
    ///
    /// Order: `wait_staged` (the compute stream waits for the copies; the host does not), one
    /// device-to-device `copy_2d` per buffer, then `release_staged`, so the next prefetch may
    /// overwrite the staging set as soon as these copies have run, while the rest of the step
    /// is still computing. The step reads only the input and target buffers, which is why its
    /// arithmetic, and so every bit of its results, is that of the synchronous path.
    pub fn take_staged(&mut self, inputs: &[usize], rows: usize, sharded: bool) -> Result<()> {
        self.backend.wait_staged()?;
        let n_in = inputs.len();
        // One launch for every staged buffer (the copies are contiguous: rows × width).
        let mut pairs = [(BufId(0), BufId(0), 0usize); COPY_MANY_MAX];
        let count = self.staging.len();
        for i in 0..count {
            let (src, len) = (self.staging[i], self.staged_lens[i]);
            let width = len / rows.max(1);
            let dst = if sharded {
                self.set_batch_width(i, width);
                self.batch_set_buffer(i, rows)?
            } else {
                match i.checked_sub(n_in) {
                    None => self.out[inputs[i]],
                    Some(o) => self.targets[o],
                }
            };
            let n = rows * width;
            if count <= COPY_MANY_MAX {
                pairs[i] = (src, dst, n);
            } else {
                copy_many(&mut *self.backend, &[(src, dst, n)])?;
            }
        }
        if count <= COPY_MANY_MAX {
            copy_many(&mut *self.backend, &pairs[..count])?;
        }
        self.backend.release_staged()?;
        self.pending = None;
        Ok(())
    }
}
