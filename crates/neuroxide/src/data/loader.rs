//! Mini-batches over a [`Dataset`], optionally shuffled per epoch with a seeded Philox
//! permutation (the epoch number is the Philox stream, see [`crate::data::shuffle`]).
//!
//! Two ways to use it:
//! - the training loop calls [`DataLoader::epoch_order`] (or [`DataLoader::fill_epoch_order`]
//!   to reuse a buffer) once per epoch, then [`DataLoader::fill_batch`] into preallocated
//!   buffers, so a training step allocates nothing;
//! - prediction and evaluation iterate [`DataLoader::batches`], which allocates one
//!   [`Batch`] per step.

use crate::data::dataset::Dataset;
use crate::data::shuffle::shuffle;
use crate::error::{Error, Result};
use crate::tensor::{HostDataMut, Tensor};

/// Batches over a borrowed dataset.
#[derive(Clone, Debug)]
pub struct DataLoader<'a> {
    dataset: &'a Dataset,
    batch_size: usize,
    shuffle_seed: Option<u64>,
    drop_last: bool,
}

/// One batch: inputs `[rows, ...]` and targets `[rows, ...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub x: Tensor,
    pub y: Tensor,
}

impl<'a> DataLoader<'a> {
    /// A loader with batches of `batch_size` rows, in dataset order, keeping the last partial
    /// batch. `batch_size` must be at least 1.
    pub fn new(dataset: &'a Dataset, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::invalid("batch size must be at least 1, got 0"));
        }
        Ok(DataLoader {
            dataset,
            batch_size,
            shuffle_seed: None,
            drop_last: false,
        })
    }

    /// Shuffle every epoch: epoch `e` visits rows in the order `shuffle_indices(len, seed, e)`.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.shuffle_seed = Some(seed);
        self
    }

    /// Drop the last batch when it has fewer than `batch_size` rows.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The dataset being batched.
    pub fn dataset(&self) -> &'a Dataset {
        self.dataset
    }

    /// Rows per full batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Values per input row (`x_out` of [`Self::fill_batch`] needs `batch_size` times this).
    pub fn x_row_len(&self) -> usize {
        self.dataset.x.row_len()
    }

    /// Values per target row.
    pub fn y_row_len(&self) -> usize {
        self.dataset.y.row_len()
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// Rows in batch `batch_index` (0 when out of range).
    pub fn batch_rows(&self, batch_index: usize) -> usize {
        if batch_index >= self.num_batches() {
            return 0;
        }
        let start = batch_index * self.batch_size;
        self.batch_size.min(self.dataset.len() - start)
    }

    /// The row order of epoch `epoch`: the identity without shuffling, else the seeded
    /// permutation with stream `epoch`.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut order = Vec::new();
        self.fill_epoch_order(epoch, &mut order);
        order
    }

    /// Like [`Self::epoch_order`], reusing `order`'s allocation.
    pub fn fill_epoch_order(&self, epoch: u64, order: &mut Vec<usize>) {
        order.clear();
        order.extend(0..self.dataset.len());
        if let Some(seed) = self.shuffle_seed {
            shuffle(order, seed, epoch);
        }
    }

    /// Copies batch `batch_index` of an epoch whose row order is `order` into `x_out` and
    /// `y_out` (row-major, the first `rows * row_len` values are written) and returns the number
    /// of rows. Each destination must have its column's dtype (i32 ids and labels stay i32).
    /// Allocates nothing.
    pub fn fill_batch<'x, 'y>(
        &self,
        order: &[usize],
        batch_index: usize,
        x_out: impl Into<HostDataMut<'x>>,
        y_out: impl Into<HostDataMut<'y>>,
    ) -> Result<usize> {
        let (mut x_out, mut y_out) = (x_out.into(), y_out.into());
        let n = self.dataset.len();
        if order.len() != n {
            return Err(Error::invalid(format!(
                "epoch order has {} entries, the dataset has {n} rows",
                order.len()
            )));
        }
        if batch_index >= self.num_batches() {
            return Err(Error::invalid(format!(
                "batch index {batch_index} out of range: the loader has {} batches",
                self.num_batches()
            )));
        }
        let rows = self.batch_rows(batch_index);
        let start = batch_index * self.batch_size;
        let picked = &order[start..start + rows];
        if let Some(&bad) = picked.iter().find(|&&i| i >= n) {
            return Err(Error::invalid(format!(
                "epoch order holds row {bad}, the dataset has {n} rows"
            )));
        }
        let (xl, yl) = (self.x_row_len(), self.y_row_len());
        if x_out.len() < rows * xl || y_out.len() < rows * yl {
            return Err(Error::invalid(format!(
                "batch buffers too small for {rows} rows: x needs {} values (has {}), y needs {} \
                 values (has {})",
                rows * xl,
                x_out.len(),
                rows * yl,
                y_out.len()
            )));
        }
        self.dataset.x.copy_rows_into(picked, &mut x_out)?;
        self.dataset.y.copy_rows_into(picked, &mut y_out)?;
        Ok(rows)
    }

    /// An allocating iterator over the batches of epoch `epoch`.
    pub fn batches(&self, epoch: u64) -> Batches<'_, 'a> {
        Batches {
            loader: self,
            order: self.epoch_order(epoch),
            next: 0,
        }
    }
}

/// The rows `picked` (checked by the caller) of `src` as a new tensor of its dtype.
fn batch_tensor(src: &Tensor, picked: &[usize]) -> Tensor {
    let mut shape = src.shape().to_vec();
    shape[0] = picked.len();
    let mut t = Tensor::zeros_of(src.dtype(), shape);
    // Same dtype by construction: the copy cannot fail.
    let _ = src.copy_rows_into(picked, &mut t.values_mut());
    t
}

/// Iterator returned by [`DataLoader::batches`].
#[derive(Debug)]
pub struct Batches<'l, 'a> {
    loader: &'l DataLoader<'a>,
    order: Vec<usize>,
    next: usize,
}

impl Iterator for Batches<'_, '_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let rows = self.loader.batch_rows(self.next);
        if rows == 0 {
            return None;
        }
        let start = self.next * self.loader.batch_size;
        let picked = &self.order[start..start + rows];
        self.next += 1;
        let ds = self.loader.dataset;
        Some(Batch {
            x: batch_tensor(&ds.x, picked),
            y: batch_tensor(&ds.y, picked),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.loader.num_batches().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches<'_, '_> {}
