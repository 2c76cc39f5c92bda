//! Batch tensors allocated once per `fit`/`evaluate` call and refilled in place every step, so
//! the training loop makes no allocation per step. Row order comes from the data module's
//! [`DataLoader`] (a seeded Philox permutation whose stream is the epoch number), so epoch `e`
//! visits the same rows in the same order whether training started at epoch 0 or resumed at `e`.

use crate::data::{DataLoader, Dataset};
use crate::error::Result;
use crate::tensor::Tensor;

/// A loader plus one `(x, y)` pair for full batches and one for the partial last batch.
pub(crate) struct BatchBuffers<'a> {
    loader: DataLoader<'a>,
    full: (Tensor, Tensor),
    last: Option<(Tensor, Tensor)>,
}

fn batch_tensor(src: &Tensor, rows: usize) -> Tensor {
    let mut shape = src.shape().to_vec();
    shape[0] = rows;
    Tensor::zeros_of(src.dtype(), shape)
}

impl<'a> BatchBuffers<'a> {
    /// Buffers for batches of `batch_size` rows of `data`, shuffled with `shuffle_seed` if given.
    pub fn with_shuffle(
        data: &'a Dataset,
        batch_size: usize,
        drop_last: bool,
        shuffle_seed: Option<u64>,
    ) -> Result<Self> {
        let mut loader = DataLoader::new(data, batch_size)?.drop_last(drop_last);
        if let Some(seed) = shuffle_seed {
            loader = loader.shuffle(seed);
        }
        let bs = batch_size.min(data.len()).max(1);
        let full = (batch_tensor(&data.x, bs), batch_tensor(&data.y, bs));
        let nb = loader.num_batches();
        let last_rows = if nb == 0 {
            bs
        } else {
            loader.batch_rows(nb - 1)
        };
        let last = (last_rows != bs).then(|| {
            (
                batch_tensor(&data.x, last_rows),
                batch_tensor(&data.y, last_rows),
            )
        });
        Ok(BatchBuffers { loader, full, last })
    }
    /// Unshuffled buffers.
    pub fn new(data: &'a Dataset, batch_size: usize, drop_last: bool) -> Result<Self> {
        Self::with_shuffle(data, batch_size, drop_last, None)
    }
    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        self.loader.num_batches()
    }
    /// Rows of batch `b`.
    pub fn rows_of(&self, b: usize) -> usize {
        self.loader.batch_rows(b)
    }
    /// Rows visited per epoch.
    pub fn rows_per_epoch(&self) -> usize {
        (0..self.num_batches()).map(|b| self.rows_of(b)).sum()
    }
    /// Writes epoch `epoch`'s row order into `order` (reusing its allocation).
    pub fn epoch_order(&self, epoch: u64, order: &mut Vec<usize>) {
        self.loader.fill_epoch_order(epoch, order);
    }
    /// Fills batch `b` of the epoch ordered by `order`; returns `(x, y, rows)`.
    pub fn fill(&mut self, order: &[usize], b: usize) -> Result<(&Tensor, &Tensor, usize)> {
        let rows = self.loader.batch_rows(b);
        let (x, y) = match &mut self.last {
            Some(pair) if pair.0.rows() == rows => pair,
            _ => &mut self.full,
        };
        let got = self
            .loader
            .fill_batch(order, b, x.values_mut(), y.values_mut())?;
        Ok((x, y, got))
    }
}
