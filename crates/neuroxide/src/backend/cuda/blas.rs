//! cuBLAS SGEMM, the fast-mode reference the exact matmul is benchmarked against.
//! Math mode `CUBLAS_DEFAULT_MATH`: plain FP32, no TF32 tensor cores.

use crate::backend::BufId;
use crate::error::{Error, Result};
use cudarc::cublas::sys as cb;
use cudarc::driver::sys as cu;

/// A cuBLAS handle bound to one stream.
pub struct Blas {
    handle: cb::cublasHandle_t,
}

// SAFETY: the handle is used by one backend at a time (behind `&mut`).
unsafe impl Send for Blas {}

fn check(s: cb::cublasStatus_t, what: &str) -> Result<()> {
    if s == cb::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(Error::backend(format!("cuBLAS {what}: {s:?}")))
    }
}

impl Blas {
    /// A handle on `stream` with the default (non-TF32) math mode.
    pub fn new(stream: cu::CUstream) -> Result<Self> {
        // SAFETY: only tries to dlopen the library.
        if !unsafe { cb::is_culib_present() } {
            return Err(Error::backend("cuBLAS (libcublas.so) could not be loaded"));
        }
        super::context::guarded("creating a cuBLAS handle", || {
            let mut handle: cb::cublasHandle_t = std::ptr::null_mut();
            // SAFETY: plain handle creation and configuration.
            unsafe {
                check(cb::cublasCreate_v2(&mut handle), "cublasCreate")?;
                let blas = Blas { handle };
                check(
                    cb::cublasSetStream_v2(handle, stream as cb::cudaStream_t),
                    "cublasSetStream",
                )?;
                check(
                    cb::cublasSetMathMode(handle, cb::cublasMath_t::CUBLAS_DEFAULT_MATH),
                    "cublasSetMathMode",
                )?;
                Ok(blas)
            }
        })
    }

    /// `C = A·B` for row-major `A` (m×k), `B` (k×n), `C` (m×n), computed as the column-major
    /// product `Cᵀ = Bᵀ·Aᵀ`.
    pub fn sgemm_row_major(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: u64,
        b: u64,
        c: u64,
    ) -> Result<()> {
        let (one, zero) = (1.0f32, 0.0f32);
        let dim = |v: usize| {
            i32::try_from(v).map_err(|_| Error::backend(format!("cuBLAS: dimension {v} too large")))
        };
        let (mi, ni, ki) = (dim(m)?, dim(n)?, dim(k)?);
        // SAFETY: the pointers were checked to hold m*k, k*n and m*n values.
        unsafe {
            check(
                cb::cublasSgemm_v2(
                    self.handle,
                    cb::cublasOperation_t::CUBLAS_OP_N,
                    cb::cublasOperation_t::CUBLAS_OP_N,
                    ni,
                    mi,
                    ki,
                    &one,
                    b as *const f32,
                    ni,
                    a as *const f32,
                    ki,
                    &zero,
                    c as *mut f32,
                    ni,
                ),
                "cublasSgemm",
            )
        }
    }
}

impl Drop for Blas {
    fn drop(&mut self) {
        // SAFETY: the handle was created by `new` and is destroyed once.
        unsafe {
            cb::cublasDestroy_v2(self.handle);
        }
    }
}

impl super::backend::CudaBackend {
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
