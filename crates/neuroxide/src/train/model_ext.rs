//! `model.fit(…)`, `model.evaluate(…)`: the training workflow as methods on [`Model`].

use super::evaluate::{evaluate, Evaluation};
use super::fit::{fit, fit_dataset, FitOptions};
use super::history::History;
use super::metrics::Metric;
use crate::data::Dataset;
use crate::error::Result;
use crate::graph::Model;
use crate::tensor::Tensor;

impl Model {
    /// Trains on `(x, y)`; see [`crate::train::fit_dataset`].
    pub fn fit(&mut self, x: &Tensor, y: &Tensor, options: FitOptions) -> Result<History> {
        fit(self, x, y, options)
    }
    /// Trains on a dataset without copying it (unless a validation split is asked for).
    pub fn fit_dataset(&mut self, data: &Dataset, options: FitOptions) -> Result<History> {
        fit_dataset(self, data, options)
    }
    /// Loss (and device-counted accuracy for classification losses) on `(x, y)`.
    pub fn evaluate(&mut self, x: &Tensor, y: &Tensor, batch_size: usize) -> Result<Evaluation> {
        self.evaluate_with(x, y, batch_size, &[])
    }
    /// Loss plus the given host metrics on `(x, y)`.
    pub fn evaluate_with(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        batch_size: usize,
        metrics: &[Metric],
    ) -> Result<Evaluation> {
        let data = Dataset::new(x.clone(), y.clone())?;
        evaluate(self, &data, batch_size, metrics)
    }
}
