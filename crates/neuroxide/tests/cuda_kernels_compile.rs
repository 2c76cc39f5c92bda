//! Every CUDA kernel family compiles with NVRTC for Hopper (sm_90) and Ampere (sm_80) under the
//! exact-mode options. Needs only libnvrtc (no GPU); without it the test prints why it skipped.

#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::backend::cuda::compile;

#[test]
fn every_kernel_family_compiles_with_nvrtc() {
    if !compile::nvrtc_present() {
        require_cuda::skip("libnvrtc.so could not be loaded");
        return;
    }
    let archs = compile::supported_archs().expect("NVRTC lists its architectures");
    for arch in ["sm_90", "sm_80"] {
        let want: i32 = arch[3..].parse().unwrap();
        if !archs.contains(&want) {
            println!("{arch}: not supported by this NVRTC ({archs:?}), skipped");
            continue;
        }
        for &fam in compile::FAMILIES
            .iter()
            .chain(neuroxide::ops::CUDA_FAMILIES)
        {
            let image = compile::compile(fam, arch).unwrap_or_else(|e| panic!("{e}"));
            assert!(image.bytes.len() > 1000, "{}: tiny image", fam.file);
            if !image.log.is_empty() {
                println!("{} ({arch}):\n{}", fam.file, image.log);
            }
        }
    }
}

#[test]
fn kernel_family_names_are_unique() {
    // The module cache is keyed by the family's file name: two families with one name would
    // load one module for both (the second family's kernels then "do not exist").
    let mut names: Vec<&str> = compile::FAMILIES
        .iter()
        .chain(neuroxide::ops::CUDA_FAMILIES)
        .map(|f| f.file)
        .collect();
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count, "duplicate CUDA family names: {names:?}");
}

#[test]
fn a_compile_error_names_the_file_and_shows_the_log() {
    if !compile::nvrtc_present() {
        require_cuda::skip("libnvrtc.so could not be loaded");
        return;
    }
    let err = compile::compile_source(
        "broken.cu",
        "extern \"C\" __global__ void k() { undefined_fn(); }",
        "sm_80",
    )
    .err()
    .expect("the source must not compile");
    assert!(err.contains("broken.cu"), "{err}");
    assert!(err.contains("undefined_fn"), "{err}");
}
