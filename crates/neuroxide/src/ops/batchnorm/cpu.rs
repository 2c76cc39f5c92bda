//! The CPU kernels of BatchNorm (orders in `mod.rs`): per-channel reductions one channel per
//! task through the shared chunked primitive, elementwise passes over rows of one plane.

use super::super::reduce::chunked;
use super::Geometry;
use crate::backend::cpu::pool::{par_rows, SharedMut, ThreadPool};

impl Geometry {
    /// Index of term `k` (in `0..m`) of channel `c`'s reduction: sample `k / plane`, pixel
    /// `k % plane`.
    #[inline(always)]
    fn at(&self, k: usize, c: usize) -> usize {
        ((k / self.plane) * self.channels + c) * self.plane + k % self.plane
    }
}

/// Batch statistics, saved `mean`/`rstd`, and the running statistics' update.
#[allow(clippy::too_many_arguments)]
pub(super) fn stats(
    pool: &ThreadPool,
    g: Geometry,
    x: &[f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    eps: f32,
    momentum: f32,
) {
    let m = g.terms();
    let mf = m as f32;
    let outs = [mean, rstd, running_mean, running_var].map(SharedMut::new);
    pool.run(g.channels, &|c| {
        let sum = chunked(m, |acc, k| acc + x[g.at(k, c)]);
        let mu = sum / mf;
        let squares = chunked(m, |acc, k| {
            let d = x[g.at(k, c)] - mu;
            d.mul_add(d, acc)
        });
        let var = squares / mf;
        // SAFETY: task `c` alone touches index `c` of each output.
        let [mean, rstd, rm, rv] = outs.each_ref().map(|o| unsafe { &mut o.slice(c, 1)[0] });
        *mean = mu;
        *rstd = 1.0 / (var + eps).sqrt();
        *rm = (1.0 - momentum) * *rm + momentum * mu;
        *rv = (1.0 - momentum) * *rv + momentum * (squares / (mf - 1.0));
    });
}

/// `y = ((x - mean) * s) * gamma + beta` (or `(x - mean) * s` without affine), `s` the saved
/// `rstd` or `1 / sqrt(var + eps)` from the running variance.
#[allow(clippy::too_many_arguments)]
pub(super) fn normalize(
    pool: &ThreadPool,
    g: Geometry,
    x: &[f32],
    mean: &[f32],
    stat: &[f32],
    affine: Option<(&[f32], &[f32])>,
    y: &mut [f32],
    from_var: Option<f32>,
) {
    let plane = g.plane;
    par_rows(pool, y, g.batch * g.channels, plane, &|r0, block| {
        for (j, yr) in block.chunks_mut(plane).enumerate() {
            let row = r0 + j;
            let c = row % g.channels;
            let s = match from_var {
                Some(eps) => 1.0 / (stat[c] + eps).sqrt(),
                None => stat[c],
            };
            let xr = &x[row * plane..(row + 1) * plane];
            let mu = mean[c];
            match affine {
                Some((gamma, beta)) => {
                    let (gc, bc) = (gamma[c], beta[c]);
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        *o = ((v - mu) * s) * gc + bc;
                    }
                }
                None => {
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        *o = (v - mu) * s;
                    }
                }
            }
        }
    });
}

/// Per channel: `sum_dy = Σ dy`, `sum_dy_xhat = Σ fma(dy, xhat, acc)`, chunked.
#[allow(clippy::too_many_arguments)]
pub(super) fn grad_sums(
    pool: &ThreadPool,
    g: Geometry,
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    rstd: &[f32],
    sum_dy: &mut [f32],
    sum_dy_xhat: &mut [f32],
) {
    let m = g.terms();
    let outs = [sum_dy, sum_dy_xhat].map(SharedMut::new);
    pool.run(g.channels, &|c| {
        let (mu, s) = (mean[c], rstd[c]);
        let a = chunked(m, |acc, k| acc + dy[g.at(k, c)]);
        let b = chunked(m, |acc, k| {
            let i = g.at(k, c);
            dy[i].mul_add((x[i] - mu) * s, acc)
        });
        // SAFETY: task `c` alone touches index `c` of each output.
        let [sa, sb] = outs.each_ref().map(|o| unsafe { &mut o.slice(c, 1)[0] });
        *sa = a;
        *sb = b;
    });
}

/// `dx = ((dy - sum_dy / m) - xhat * (sum_dy_xhat / m)) * scale`, `scale = rstd * gamma`
/// (`rstd` without affine).
#[allow(clippy::too_many_arguments)]
pub(super) fn dx(
    pool: &ThreadPool,
    g: Geometry,
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: Option<&[f32]>,
    sum_dy: &[f32],
    sum_dy_xhat: &[f32],
    dx: &mut [f32],
) {
    let (plane, mf) = (g.plane, g.terms() as f32);
    par_rows(pool, dx, g.batch * g.channels, plane, &|r0, block| {
        for (j, out) in block.chunks_mut(plane).enumerate() {
            let row = r0 + j;
            let c = row % g.channels;
            let (mu, s) = (mean[c], rstd[c]);
            let scale = gamma.map_or(s, |gm| s * gm[c]);
            let (mdy, mdyx) = (sum_dy[c] / mf, sum_dy_xhat[c] / mf);
            let (xr, dyr) = (
                &x[row * plane..(row + 1) * plane],
                &dy[row * plane..(row + 1) * plane],
            );
            for ((o, &v), &d) in out.iter_mut().zip(xr).zip(dyr) {
                let xhat = (v - mu) * s;
                *o = ((d - mdy) - xhat * mdyx) * scale;
            }
        }
    });
}
