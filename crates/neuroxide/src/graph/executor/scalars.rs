//! The small scalar block of an executor: each output's loss, running loss sum and running
//! correct count, read back by the host once per epoch (or per batch on request).

use super::Executor;
use crate::error::Result;

/// A fixed index into `Executor::scalars`.
#[derive(Clone, Copy)]
pub(crate) enum Scalar {
    Loss(usize),
    LossSum(usize),
    Correct(usize),
}

impl Executor {
    pub(super) fn scalar_index(&self, s: Scalar) -> usize {
        let n = self.targets.len();
        match s {
            Scalar::Loss(o) => o,
            Scalar::LossSum(o) => n + o,
            Scalar::Correct(o) => 2 * n + o,
        }
    }

    /// Reads one scalar (synchronises the device).
    pub fn read_scalar(&mut self, s: Scalar) -> Result<f32> {
        let mut v = [0.0f32];
        let i = self.scalar_index(s);
        self.backend.download(self.scalars, i, &mut v)?;
        Ok(v[0])
    }

    /// Zeroes the running loss sums and correct counts.
    pub fn reset_running(&mut self) -> Result<()> {
        let n = self.targets.len();
        let zeros = [0.0f32; 16];
        for chunk_start in (n..3 * n).step_by(16) {
            let len = (3 * n - chunk_start).min(16);
            self.backend
                .upload(self.scalars, chunk_start, &zeros[..len])?;
        }
        Ok(())
    }
}
