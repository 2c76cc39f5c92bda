//! The skip rule of every CUDA test (PARITY.md "How parity is proven"): without a usable GPU a
//! test prints `skipped: <reason>` and passes, unless `NEUROXIDE_REQUIRE_CUDA=1` is set (the GPU
//! test runner sets it), where a skip is a failure: evidence from a GPU machine can never be an
//! empty pass.

/// Reports a CUDA test that cannot run: prints why, or panics under `NEUROXIDE_REQUIRE_CUDA=1`.
pub fn skip(reason: impl std::fmt::Display) {
    if std::env::var("NEUROXIDE_REQUIRE_CUDA").is_ok_and(|v| v == "1") {
        panic!("NEUROXIDE_REQUIRE_CUDA=1 but the CUDA test cannot run: {reason}");
    }
    println!("skipped: {reason}");
}

/// GPU 0 when the driver, the GPU and NVRTC are usable; otherwise [`skip`]s and returns `None`.
#[allow(dead_code)] // not every test that includes this file asks for a device
pub fn gpu() -> Option<neuroxide::Device> {
    match neuroxide::backend::cuda::probe(0) {
        Ok(_) => Some(neuroxide::Device::cuda(0)),
        Err(e) => {
            skip(format!("no usable CUDA device: {e}"));
            None
        }
    }
}
