//! Per-process, per-GPU state shared by every [`super::CudaBackend`] on that GPU: the CUDA
//! context, the card's properties, the module cache (each kernel family compiled once per
//! process) and the pool of device blocks left by dropped backends.
//!
//! cudarc loads libcuda / libnvrtc at run time and *panics* when a library or symbol is missing,
//! so [`device`] first checks that the libraries can be loaded, then creates the context inside
//! `catch_unwind` as a last resort: a machine without CUDA gets an `Error::Backend`, never a
//! panic.

use super::alloc::FreePool;
use super::compile::{self, Family};
use crate::error::{Error, Result};
use cudarc::driver::{result as cu, sys, CudaContext};
use std::collections::HashMap;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// A loaded module; modules live as long as the process (they are tiny and the cache is keyed
/// by family, so there is at most one per family and GPU).
struct Module(sys::CUmodule);
// SAFETY: a CUmodule handle may be used from any thread once its context is current.
unsafe impl Send for Module {}

/// A kernel handle.
#[derive(Clone, Copy)]
pub struct Func(pub sys::CUfunction);
// SAFETY: a CUfunction handle may be used from any thread once its context is current.
unsafe impl Send for Func {}

/// One GPU's shared state.
pub struct DeviceShared {
    pub ctx: Arc<CudaContext>,
    pub ordinal: usize,
    pub name: String,
    pub cc: (i32, i32),
    pub sm_count: u32,
    modules: Mutex<HashMap<&'static str, Module>>,
    /// NVRTC logs of the compiled families (file → log).
    logs: Mutex<HashMap<&'static str, String>>,
    /// Blocks of dropped backends, already synchronised: reusable on any stream.
    pub pool: Mutex<FreePool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f`, turning a panic (cudarc's reaction to a missing library or symbol) into an error.
pub fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::backend(format!("cuda: {what} failed: {msg}")))
        }
    }
}

/// Maps a driver error to `Error::Backend` naming what was attempted.
pub fn drv<T>(what: impl std::fmt::Display, r: Result<T, cu::DriverError>) -> Result<T> {
    r.map_err(|e| Error::backend(format!("cuda {what}: {e}")))
}

/// Checks that the driver and NVRTC libraries can be loaded.
pub fn check_libraries() -> Result<()> {
    // SAFETY: only tries to dlopen the library.
    if !unsafe { sys::is_culib_present() } {
        return Err(Error::backend(
            "no CUDA driver: libcuda.so could not be loaded (no NVIDIA driver installed?)",
        ));
    }
    if !compile::nvrtc_present() {
        return Err(Error::backend(
            "NVRTC (libnvrtc.so) could not be loaded: install the CUDA toolkit's NVRTC or add \
             its lib directory to LD_LIBRARY_PATH",
        ));
    }
    Ok(())
}

static DEVICES: OnceLock<Mutex<HashMap<usize, Arc<DeviceShared>>>> = OnceLock::new();

/// The shared state of GPU `ordinal`, created on first use.
pub fn device(ordinal: usize) -> Result<Arc<DeviceShared>> {
    check_libraries()?;
    let map = DEVICES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = lock(map);
    if let Some(d) = map.get(&ordinal) {
        return Ok(d.clone());
    }
    let d = guarded("initialising the CUDA driver", || open(ordinal))?;
    map.insert(ordinal, d.clone());
    Ok(d)
}

fn open(ordinal: usize) -> Result<Arc<DeviceShared>> {
    drv("cuInit", cu::init())?;
    let count = drv("cuDeviceGetCount", cu::device::get_count())?;
    if count <= 0 {
        return Err(Error::backend("the CUDA driver reports no GPU"));
    }
    if ordinal >= count as usize {
        return Err(Error::backend(format!(
            "cuda:{ordinal} does not exist: the driver reports {count} GPU(s)"
        )));
    }
    let ctx = drv(
        format!("creating a context on cuda:{ordinal}"),
        CudaContext::new(ordinal),
    )?;
    let name = drv("cuDeviceGetName", ctx.name())?;
    let cc = drv("compute capability", ctx.compute_capability())?;
    let sm_count = drv(
        "multiprocessor count",
        ctx.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
    )?;
    Ok(Arc::new(DeviceShared {
        ctx,
        ordinal,
        name,
        cc,
        sm_count: sm_count.max(1) as u32,
        modules: Mutex::new(HashMap::new()),
        logs: Mutex::new(HashMap::new()),
        pool: Mutex::new(FreePool::default()),
    }))
}

impl DeviceShared {
    /// The kernel `name` of `family`, compiling and loading the family on first use (once per
    /// process; other threads wait for it).
    pub fn function(&self, family: Family, name: &str) -> Result<Func> {
        drv("binding the context", self.ctx.bind_to_thread())?;
        let mut modules = lock(&self.modules);
        if !modules.contains_key(family.file) {
            let arch = compile::arch_for(self.cc).map_err(Error::backend)?;
            let image = guarded("running NVRTC", || {
                compile::compile(family, &arch).map_err(Error::backend)
            })?;
            // SAFETY: `image.bytes` is a complete cubin or NUL-terminated PTX.
            let module = drv(
                format!("loading kernels/{} ({})", family.file, image.arch),
                unsafe { cu::module::load_data(image.bytes.as_ptr().cast()) },
            )?;
            lock(&self.logs).insert(family.file, image.log);
            modules.insert(family.file, Module(module));
        }
        let module = &modules[family.file];
        let cname = CString::new(name).map_err(|_| Error::backend("bad kernel name"))?;
        // SAFETY: the module is loaded and never unloaded.
        let f = drv(
            format!("kernel {name} in kernels/{}", family.file),
            unsafe { cu::module::get_function(module.0, cname) },
        )?;
        Ok(Func(f))
    }

    /// NVRTC's log for a compiled family (empty when it printed nothing).
    pub fn compile_log(&self, family: Family) -> Option<String> {
        lock(&self.logs).get(family.file).cloned()
    }
}
