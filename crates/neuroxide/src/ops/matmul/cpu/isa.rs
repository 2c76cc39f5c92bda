//! Which instruction set the matmul runs on, detected at run time and overridable for tests.
//!
//! Every instruction set gives the same bits (same products, same order, one fused multiply-add
//! per product); they differ only in speed. `NEUROXIDE_ISA=scalar|avx2|avx512` forces one for
//! the whole process (an unknown or unsupported value is ignored: the best supported set is used);
//! tests call `matmul_with` to compare all sets the CPU supports.

use std::sync::OnceLock;

/// A code path of the exact matmul.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Portable loops with `f32::mul_add` (software fma where the CPU has none).
    Scalar,
    /// AVX2 + FMA, 8 lanes, 6 × 16 register tile.
    Avx2,
    /// AVX-512F, 16 lanes, 12 × 32 register tile.
    Avx512,
}

impl Isa {
    /// All code paths, supported or not.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// Lower-case name, as accepted by `NEUROXIDE_ISA`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses `scalar`, `avx2` or `avx512`.
    pub fn parse(s: &str) -> Option<Isa> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name() == s.trim().to_ascii_lowercase())
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest path this CPU supports.
    pub fn detected() -> Isa {
        [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .find(|i| i.is_available())
            .unwrap_or(Isa::Scalar)
    }

    /// The path `matmul` uses: `NEUROXIDE_ISA` when set to a supported path, else
    /// [`Isa::detected`]. Decided once per process.
    pub fn selected() -> Isa {
        static SELECTED: OnceLock<Isa> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            std::env::var("NEUROXIDE_ISA")
                .ok()
                .and_then(|v| Isa::parse(&v))
                .filter(|i| i.is_available())
                .unwrap_or_else(Isa::detected)
        })
    }

    /// Whether the CPU kernels may run their AVX2 + FMA builds: the same operations, so the
    /// same bits (PARITY rule 3), but `mul_add` (inside exp, log, tanh, erf and the norms)
    /// becomes one instruction instead of a call to the software `fmaf` (measured: GELU-tanh
    /// was ~40% of a transformer step before its loop had an FMA build).
    pub fn fma_selected() -> bool {
        Isa::selected() != Isa::Scalar
    }
}
