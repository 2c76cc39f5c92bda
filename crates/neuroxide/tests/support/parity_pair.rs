//! The CPU-vs-CUDA parity harness shared by the CUDA test binaries (include with
//! `#[path = "support/parity_pair.rs"] mod parity_pair;` beside `support/require_cuda.rs`).
//!
//! A [`Pair`] runs the same `Backend` calls (or ops) on `CpuBackend::new(2)` and on a
//! `CudaBackend`, and compares buffers with `to_bits()`: pass = 0 differing elements. NaNs
//! compare equal whatever their payload. Inputs come from [`rng`] (seed printed; replay one with
//! `NEUROXIDE_TEST_SEED`); [`edge_values`] gives the signed zeros, denormals and underflowing
//! magnitudes PARITY rule 2b asks every parity test to include.
#![allow(dead_code)]

use crate::require_cuda;
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::backend::cuda::CudaBackend;
use neuroxide::backend::{Backend, BufId};
use neuroxide::parity::ulp_distance;

/// Values that catch order and padding mistakes: ±0, denormals, tiny products that underflow,
/// huge magnitudes.
pub fn edge_values() -> Vec<f32> {
    vec![
        0.0,
        -0.0,
        1e-40,
        -1e-40,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-30,
        -1e-30,
        3e38,
        -3e38,
        1e20,
        -1e20,
        1.0,
        -1.0,
    ]
}

pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.range(lo, hi)).collect()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub fn rng(test: &str) -> Rng {
    let seed = std::env::var("NEUROXIDE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("{test}: seed {seed}");
    Rng(seed)
}

pub fn gpu() -> Option<CudaBackend> {
    match CudaBackend::new(0) {
        Ok(b) => Some(b),
        Err(e) => {
            require_cuda::skip(e);
            None
        }
    }
}

/// Count of elements whose bits differ (any NaN equals any NaN: NaN payloads are not part of
/// the contract), and the largest ulp distance (`validate::parity::ulp_distance`).
pub fn diff(cpu: &[f32], gpu: &[f32]) -> (usize, u64, Option<usize>) {
    let mut count = 0;
    let mut max_ulp = 0;
    let mut first = None;
    for (i, (&a, &b)) in cpu.iter().zip(gpu).enumerate() {
        if a.to_bits() != b.to_bits() && !(a.is_nan() && b.is_nan()) {
            count += 1;
            max_ulp = max_ulp.max(ulp_distance(a, b));
            first.get_or_insert(i);
        }
    }
    (count, max_ulp, first)
}

pub fn assert_same(what: &str, cpu: &[f32], gpu: &[f32]) {
    if let Err(e) = same(what, cpu, gpu) {
        panic!("{e}");
    }
}

/// `Err` with the mismatch report (count, max ulp, first differing element).
pub fn same(what: &str, cpu: &[f32], gpu: &[f32]) -> Result<(), String> {
    assert_eq!(cpu.len(), gpu.len());
    let (count, max_ulp, first) = diff(cpu, gpu);
    if count > 0 {
        let i = first.unwrap_or(0);
        return Err(format!(
            "{what}: {count} of {} elements differ, max {max_ulp} ulp; first at {i}: cpu {:e} \
             ({:#010x}) vs cuda {:e} ({:#010x})",
            cpu.len(),
            cpu[i],
            cpu[i].to_bits(),
            gpu[i],
            gpu[i].to_bits()
        ));
    }
    Ok(())
}

/// The same calls on both backends; buffer ids agree because both number allocations 0, 1, …
pub struct Pair {
    pub cpu: CpuBackend,
    pub gpu: CudaBackend,
    pub passed: usize,
    pub failures: Vec<String>,
}

impl Pair {
    pub fn new() -> Option<Pair> {
        Some(Pair {
            cpu: CpuBackend::new(2),
            gpu: gpu()?,
            passed: 0,
            failures: Vec::new(),
        })
    }
    pub fn buf(&mut self, data: &[f32]) -> BufId {
        let a = self.cpu.alloc(data.len()).unwrap();
        let b = self.gpu.alloc(data.len()).unwrap();
        assert_eq!(a, b);
        self.cpu.upload(a, 0, data).unwrap();
        self.gpu.upload(b, 0, data).unwrap();
        a
    }
    pub fn zeros(&mut self, n: usize) -> BufId {
        self.buf(&vec![0.0; n])
    }
    /// A buffer pre-filled with a poison value, so unwritten outputs show.
    pub fn out(&mut self, n: usize) -> BufId {
        self.buf(&vec![f32::from_bits(0x7fa5_a5a5); n])
    }
    pub fn run(&mut self, f: impl Fn(&mut dyn Backend) -> neuroxide::Result<()>) {
        f(&mut self.cpu).unwrap();
        f(&mut self.gpu).unwrap();
    }
    pub fn get(&mut self, id: BufId) -> (Vec<f32>, Vec<f32>) {
        let n = self.cpu.buf_len(id);
        assert_eq!(n, self.gpu.buf_len(id));
        let mut a = vec![0.0; n];
        let mut b = vec![0.0; n];
        self.cpu.download(id, 0, &mut a).unwrap();
        self.gpu.download(id, 0, &mut b).unwrap();
        (a, b)
    }
    /// Compares a buffer; a mismatch is recorded (and printed) so one run reports every case.
    pub fn check(&mut self, what: &str, id: BufId) {
        let (a, b) = self.get(id);
        match same(what, &a, &b) {
            Ok(()) => self.passed += 1,
            Err(e) => {
                println!("MISMATCH {e}");
                self.failures.push(e);
            }
        }
    }
    /// Panics with every recorded mismatch.
    pub fn finish(self, test: &str) {
        println!(
            "{test}: {} comparisons bit-identical, {} differ",
            self.passed,
            self.failures.len()
        );
        assert!(self.failures.is_empty(), "{}", self.failures.join("\n"));
    }
}
