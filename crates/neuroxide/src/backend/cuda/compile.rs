//! Kernel sources and their run-time compilation by NVRTC.
//!
//! Each kernel family is one `.cu` file in its op folder (`ops/<op>/<op>.cu`, registered in
//! `ops::CUDA_FAMILIES`), embedded with `include_str!`. NVRTC has no include path to those
//! files, so the full translation unit is assembled by concatenation: the header generated from
//! the Rust definitions (`header.rs`: codes, step-block layout, every shared constant by its
//! bit pattern), `math.cuh` (Neuroxide's exact transcendental functions and Philox, mirrored
//! line for line from `math.rs` / `philox.rs`), `common.cuh`, `ops/elementwise/activation.cuh`,
//! `ops/reduce/chunked.cuh`, then the family's source.
//!
//! Options (PARITY.md rules 1, 3, 4): `--fmad=false` (no contraction beyond the written
//! `fmaf`), `--ftz=false` (denormals kept), `--prec-div=true`, `--prec-sqrt=true`; never fast
//! math. The target is the card's own architecture (`sm_XY`, machine code) when NVRTC knows
//! it, else the newest virtual architecture NVRTC supports below it (PTX, JIT-compiled by the
//! driver).

use cudarc::nvrtc::sys as nv;
use std::ffi::{c_char, c_int, CStr, CString};

/// One kernel family: one `.cu` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Family {
    /// The file name, used in error messages and as NVRTC's program name.
    pub file: &'static str,
    source: &'static str,
}

impl Family {
    /// A family from its file name and source text (an op folder's `.cu` file, embedded with
    /// `include_str!`).
    pub const fn new(file: &'static str, source: &'static str) -> Family {
        Family { file, source }
    }
}

macro_rules! family {
    ($ident:ident, $file:literal) => {
        #[doc = concat!("`kernels/", $file, "`.")]
        pub const $ident: Family = Family {
            file: $file,
            source: include_str!(concat!("kernels/", $file)),
        };
    };
}
family!(MATH_EVAL, "math_eval.cu");

/// Every family (the compile test builds them all).
pub const FAMILIES: [Family; 1] = [MATH_EVAL];

const MATH_CUH: &str = include_str!("kernels/math.cuh");
const COMMON_CUH: &str = include_str!("kernels/common.cuh");
/// The activation formulas, shared by the elementwise and matmul families (and conv).
const ACTIVATION_CUH: &str = include_str!("../../ops/elementwise/activation.cuh");
/// The chunked reduction order of PARITY rule 2a, the device twin of `ops::reduce::chunked`.
const CHUNKED_CUH: &str = include_str!("../../ops/reduce/chunked.cuh");

/// The complete translation unit NVRTC compiles for `family`.
pub fn full_source(family: Family) -> String {
    let mut s = super::header::generated();
    for (name, text) in [
        ("math.cuh", MATH_CUH),
        ("common.cuh", COMMON_CUH),
        ("ops/elementwise/activation.cuh", ACTIVATION_CUH),
        ("ops/reduce/chunked.cuh", CHUNKED_CUH),
        (family.file, family.source),
    ] {
        s.push_str(&format!("\n// ---- {name} ----\n"));
        s.push_str(text);
    }
    s
}

/// A compiled module image: a cubin (`sm_XY`) or NUL-terminated PTX (`compute_XY`).
pub struct Image {
    pub bytes: Vec<u8>,
    /// The `--gpu-architecture` value used.
    pub arch: String,
    /// NVRTC's log (warnings; register usage when `NEUROXIDE_NVRTC_VERBOSE` is set).
    pub log: String,
}

fn nvrtc_error(r: nv::nvrtcResult) -> String {
    // SAFETY: nvrtcGetErrorString returns a static NUL-terminated string.
    unsafe {
        let p = nv::nvrtcGetErrorString(r);
        if p.is_null() {
            format!("{r:?}")
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

fn check(r: nv::nvrtcResult, what: &str) -> Result<(), String> {
    if r == nv::nvrtcResult::NVRTC_SUCCESS {
        Ok(())
    } else {
        Err(format!("{what}: {}", nvrtc_error(r)))
    }
}

/// Whether the NVRTC library can be loaded.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { nv::is_culib_present() }
}

/// The real architectures (`major*10 + minor`) this NVRTC can emit machine code for.
pub fn supported_archs() -> Result<Vec<i32>, String> {
    let mut n: c_int = 0;
    // SAFETY: plain out-parameter calls into NVRTC.
    unsafe {
        check(
            nv::nvrtcGetNumSupportedArchs(&mut n),
            "nvrtcGetNumSupportedArchs",
        )?;
        let mut v = vec![0 as c_int; n.max(0) as usize];
        check(
            nv::nvrtcGetSupportedArchs(v.as_mut_ptr()),
            "nvrtcGetSupportedArchs",
        )?;
        Ok(v)
    }
}

/// The `--gpu-architecture` for a card of compute capability `cc`: its own `sm_XY` when NVRTC
/// supports it, else the newest supported virtual architecture below it.
pub fn arch_for(cc: (i32, i32)) -> Result<String, String> {
    let want = cc.0 * 10 + cc.1;
    let archs = supported_archs()?;
    if archs.contains(&want) {
        return Ok(format!("sm_{want}"));
    }
    match archs.iter().copied().filter(|&a| a <= want).max() {
        Some(a) => Ok(format!("compute_{a}")),
        None => Err(format!(
            "NVRTC supports none of the architectures up to sm_{want} (it knows {archs:?})"
        )),
    }
}

/// Compiles `family` for `arch` (e.g. `sm_90`). On failure the error names the file and holds
/// NVRTC's log.
pub fn compile(family: Family, arch: &str) -> Result<Image, String> {
    compile_source(family.file, &full_source(family), arch)
}

/// Compiles one complete translation unit named `file` (used in messages) for `arch`.
pub fn compile_source(file: &str, source: &str, arch: &str) -> Result<Image, String> {
    let src = CString::new(source).map_err(|_| format!("{file}: source contains a NUL byte"))?;
    let name = CString::new(file).map_err(|_| format!("{file}: bad file name"))?;
    let mut opts = vec![
        format!("--gpu-architecture={arch}"),
        "--fmad=false".into(),
        "--ftz=false".into(),
        "--prec-div=true".into(),
        "--prec-sqrt=true".into(),
        "--std=c++17".into(),
    ];
    if std::env::var_os("NEUROXIDE_NVRTC_VERBOSE").is_some() {
        opts.push("--ptxas-options=-v".into());
    }
    let c_opts: Vec<CString> = opts
        .iter()
        .map(|o| CString::new(o.as_str()).map_err(|_| "bad option".to_string()))
        .collect::<Result<_, _>>()?;
    let ptrs: Vec<*const c_char> = c_opts.iter().map(|o| o.as_ptr()).collect();
    let mut prog: nv::nvrtcProgram = std::ptr::null_mut();
    // SAFETY: `src`, `name` and the options outlive the program, which is destroyed below.
    unsafe {
        check(
            nv::nvrtcCreateProgram(
                &mut prog,
                src.as_ptr(),
                name.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            ),
            &format!("{file}: nvrtcCreateProgram"),
        )?;
        let compiled = nv::nvrtcCompileProgram(prog, ptrs.len() as c_int, ptrs.as_ptr());
        let log = program_log(prog);
        let result = if compiled != nv::nvrtcResult::NVRTC_SUCCESS {
            Err(format!(
                "NVRTC failed to compile kernels/{file} for {arch} ({}), options {opts:?}:\n{log}",
                nvrtc_error(compiled)
            ))
        } else if arch.starts_with("sm_") {
            image(prog, nv::nvrtcGetCUBINSize, nv::nvrtcGetCUBIN, false)
                .map_err(|e| format!("{file}: {e}"))
        } else {
            image(prog, nv::nvrtcGetPTXSize, nv::nvrtcGetPTX, true)
                .map_err(|e| format!("{file}: {e}"))
        };
        nv::nvrtcDestroyProgram(&mut prog);
        result.map(|bytes| Image {
            bytes,
            arch: arch.to_string(),
            log,
        })
    }
}

type SizeFn = unsafe fn(nv::nvrtcProgram, *mut usize) -> nv::nvrtcResult;
type GetFn = unsafe fn(nv::nvrtcProgram, *mut c_char) -> nv::nvrtcResult;

/// # Safety
/// `prog` must be a compiled NVRTC program.
unsafe fn image(
    prog: nv::nvrtcProgram,
    size: SizeFn,
    get: GetFn,
    nul_terminated: bool,
) -> Result<Vec<u8>, String> {
    let mut n = 0usize;
    check(size(prog, &mut n), "image size")?;
    let mut buf = vec![0u8; n + usize::from(nul_terminated)];
    check(get(prog, buf.as_mut_ptr().cast()), "image")?;
    Ok(buf)
}

/// # Safety
/// `prog` must be a live NVRTC program.
unsafe fn program_log(prog: nv::nvrtcProgram) -> String {
    let mut n = 0usize;
    if nv::nvrtcGetProgramLogSize(prog, &mut n) != nv::nvrtcResult::NVRTC_SUCCESS || n == 0 {
        return String::new();
    }
    let mut buf = vec![0u8; n];
    if nv::nvrtcGetProgramLog(prog, buf.as_mut_ptr().cast()) != nv::nvrtcResult::NVRTC_SUCCESS {
        return String::new();
    }
    String::from_utf8_lossy(&buf)
        .trim_end_matches('\0')
        .trim()
        .to_string()
}
