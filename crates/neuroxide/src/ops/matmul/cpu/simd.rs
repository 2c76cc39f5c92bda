//! The handful of vector operations the micro-kernel needs, for each x86 instruction set.
//!
//! Why a trait: the micro-kernel is written once (`kernel.rs`) and instantiated per instruction
//! set inside a `#[target_feature]` function, so the AVX-512 path (which this project's build
//! machine cannot run) is the very same code as the tested AVX2 path, differing only in these
//! one-line wrappers. Every method is `#[inline(always)]` so that it is compiled with the
//! features of the function it is inlined into.
//!
//! Exactness: `fma` is the fused IEEE multiply-add (one rounding), `add` the IEEE add; both give
//! the same bits per lane as `f32::mul_add` and `+` on scalars. Lanes never interact.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// A SIMD register of `LANES` f32 values and the operations the micro-kernel uses on it.
///
/// # Safety
/// Every method may only be called where the CPU supports the instruction set of the
/// implementing type (checked at run time by the dispatcher); pointers must be valid for
/// `LANES` values (unaligned is fine).
pub(super) trait Simd {
    /// Number of f32 lanes in one register.
    const LANES: usize;
    /// The register type.
    type V: Copy;
    /// All lanes `+0.0`.
    unsafe fn zero() -> Self::V;
    /// All lanes `*p`.
    unsafe fn splat(p: *const f32) -> Self::V;
    /// Lanes `p[0..LANES]`.
    unsafe fn load(p: *const f32) -> Self::V;
    /// Writes the lanes to `p[0..LANES]`.
    unsafe fn store(p: *mut f32, v: Self::V);
    /// Per lane `fma(a, b, c)` = `a·b + c` with one rounding.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Per lane `a + b`.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// Per lane `if x > 0 { x } else { +0.0 }` (NaN gives +0.0), exactly like the scalar ReLU
    /// of `activation::forward`.
    unsafe fn relu(x: Self::V) -> Self::V;
}

/// AVX2 + FMA: 8 lanes in a `ymm` register.
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    const LANES: usize = 8;
    type V = __m256;
    #[inline(always)]
    unsafe fn zero() -> __m256 {
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(p: *const f32) -> __m256 {
        unsafe { _mm256_broadcast_ss(&*p) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn relu(x: __m256) -> __m256 {
        // Ordered greater-than: false for NaN, so NaN and x <= 0 become +0.0.
        unsafe { _mm256_and_ps(x, _mm256_cmp_ps::<_CMP_GT_OQ>(x, _mm256_setzero_ps())) }
    }
}

/// AVX-512F: 16 lanes in a `zmm` register.
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx512;

// The AVX-512 intrinsics are stable since Rust 1.89; the workspace's declared MSRV (1.85) is
// older than the toolchain the project builds with (1.95).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
impl Simd for Avx512 {
    const LANES: usize = 16;
    type V = __m512;
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(p: *const f32) -> __m512 {
        unsafe { _mm512_set1_ps(*p) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn relu(x: __m512) -> __m512 {
        // Ordered greater-than: false for NaN, so NaN and x <= 0 become +0.0.
        unsafe { _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, _mm512_setzero_ps()), x) }
    }
}
