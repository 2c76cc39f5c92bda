//! The exact matmul launch (variant chosen by problem size; every variant has the same bits)
//! and the cuBLAS reference used by the matmul benchmark (`kernels/matmul.cu`).

use super::backend::{act_code, CudaBackend};
use super::compile;
use super::launch::{KArgs, BLOCK};
use crate::backend::{BufId, Matmul};
use crate::error::{Error, Result};

impl CudaBackend {
    pub(super) fn matmul_kernel(&mut self, mm: &Matmul) -> Result<()> {
        self.bind()?;
        let (m, n, k) = (mm.m, mm.n, mm.k);
        let bias_len = if mm.bias.is_some() { n } else { 0 };
        let pre_len = if mm.pre_act.is_some() { m * n } else { 0 };
        let ([pa, pb, pbias], [pc, ppre]) = self.ios(
            "matmul",
            [
                (mm.a, m * k),
                (mm.b, k * n),
                (mm.bias.unwrap_or(mm.a), bias_len),
            ],
            [(mm.c, m * n), (mm.pre_act.unwrap_or(mm.c), pre_len)],
        )?;
        if m == 0 || n == 0 {
            return Ok(());
        }
        let lim = i32::MAX as usize;
        if m > lim || n > lim || k > lim {
            return Err(Error::backend(format!(
                "cuda matmul: {m}x{k} by {k}x{n} exceeds the kernel's 32-bit dimensions"
            )));
        }
        let (act, alpha) = act_code(mm.act);
        let args = KArgs::new()
            .i32(m as i32)
            .i32(n as i32)
            .i32(k as i32)
            .ptr(pa)
            .ptr(pb)
            .ptr(pc)
            .ptr(if mm.bias.is_some() { pbias } else { 0 })
            .ptr(if mm.pre_act.is_some() { ppre } else { 0 })
            .i32(act)
            .f32(alpha);
        // Which variant fills the GPU best (all give the same bits): 128x128 register tiles
        // when there are enough of them, 32x32 tiles when there are at least a few, else one
        // output per thread.
        let big = m.div_ceil(128) * n.div_ceil(128) * 2 >= self.dev.sm_count as usize;
        // (Measured on an H200: with fewer than ~64 tiles of 32x32 the one-output-per-thread
        // kernel's extra blocks hide more memory latency than the register tile saves.)
        let mid = !big && m.div_ceil(32) * n.div_ceil(32) >= 64 && k >= 32;
        let (tile, threads) = match (big, mid) {
            (true, _) => (128, BLOCK),
            (false, true) => (32, 128),
            (false, false) => (16, BLOCK),
        };
        let (gx, gy) = (n.div_ceil(tile), m.div_ceil(tile));
        if gy > 65_535 {
            return Err(Error::backend(format!(
                "cuda matmul: m = {m} rows need {gy} row blocks, more than the grid's 65535"
            )));
        }
        let name = match (big, mid, mm.a_trans, mm.b_trans) {
            (true, _, false, false) => "nx_matmul_nn",
            (true, _, false, true) => "nx_matmul_nt",
            (true, _, true, false) => "nx_matmul_tn",
            (true, _, true, true) => "nx_matmul_tt",
            (false, true, false, false) => "nx_matmul_mid_nn",
            (false, true, false, true) => "nx_matmul_mid_nt",
            (false, true, true, false) => "nx_matmul_mid_tn",
            (false, true, true, true) => "nx_matmul_mid_tt",
            (false, false, false, false) => "nx_matmul_small_nn",
            (false, false, false, true) => "nx_matmul_small_nt",
            (false, false, true, false) => "nx_matmul_small_tn",
            (false, false, true, true) => "nx_matmul_small_tt",
        };
        self.launch(
            compile::MATMUL,
            name,
            (gx as u32, gy as u32, 1),
            threads,
            args,
        )
    }

    /// Fast-mode reference: `C = A·B` (row-major, m×k times k×n) through cuBLAS SGEMM with the
    /// default math mode (no TF32). Not bit-exact; used by the matmul benchmark.
    pub fn cublas_sgemm(
        &mut self,
        m: usize,
        n: usize,
        k: usize,
        a: BufId,
        b: BufId,
        c: BufId,
    ) -> Result<()> {
        self.bind()?;
        let ([pa, pb], [pc]) = self.ios("cublas_sgemm", [(a, m * k), (b, k * n)], [(c, m * n)])?;
        if self.blas.is_none() {
            self.blas = Some(super::blas::Blas::new(self.stream.cu_stream())?);
        }
        match &self.blas {
            Some(blas) => blas.sgemm_row_major(m, n, k, pa, pb, pc),
            None => Err(Error::backend("cuBLAS handle missing")),
        }
    }
}
