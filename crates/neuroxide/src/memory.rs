//! Size checks before allocating. A layer size from a flag (`--hidden 200000,200000`) or from a
//! model file can ask for more memory than the machine has; allocating it anyway ends in
//! "capacity overflow" panics, an allocator abort or the kernel's out-of-memory killer — no
//! message, lost work. Every size that comes from the user is multiplied out with overflow
//! checks and compared with the memory the host has available (`MemAvailable` in
//! `/proc/meminfo`) before anything is allocated, and the error names the size and where it
//! came from. (A device allocation that fails later is a backend error naming the bytes and the
//! device's free memory, never a crash.)

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// A cap below the host's available memory set by [`set_limit`]; 0 means none.
static LIMIT: AtomicU64 = AtomicU64::new(0);

/// Caps what the checks allow at `bytes` (0 removes the cap): for a process that shares the
/// machine, and for the fuzz tests, which must stay small whatever sizes they invent.
pub fn set_limit(bytes: u64) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// Bytes of one f32.
const F32: u64 = 4;

/// Copies of the parameters training keeps besides the weights: gradients and up to two
/// optimizer slots (Adam's m and v).
const TRAINING_COPIES: u64 = 4;

/// Bytes the host can still allocate: `MemAvailable` of `/proc/meminfo`; `None` where that
/// file does not exist (the check is then skipped).
pub fn available_host_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `bytes` in the largest fitting binary unit, e.g. `149.0 GiB`.
pub fn human(bytes: u64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// The product of `factors`, or an error naming `what` when it overflows 64 bits.
pub fn checked_product(factors: &[u64], what: &str) -> Result<u64> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(f))
        .ok_or_else(|| Error::invalid(format!("{what}: the size {factors:?} overflows 64 bits")))
}

/// Memory needed to train a model with `params` parameters: the weights, their gradients and
/// the optimizer state.
pub fn training_bytes(params: u64, what: &str) -> Result<u64> {
    checked_product(&[params, F32, TRAINING_COPIES], what)
}

/// Errors when `bytes` exceed the host's available memory; `what` says what needs them and
/// where the size came from.
pub fn check_host(bytes: u64, what: &str) -> Result<()> {
    let limit = LIMIT.load(Ordering::Relaxed);
    if limit > 0 && bytes > limit {
        return Err(Error::invalid(format!(
            "{what} needs {} ({bytes} bytes), above the limit of {} set with \
             neuroxide::memory::set_limit",
            human(bytes),
            human(limit)
        )));
    }
    check_against(bytes, available_host_bytes(), what)
}

/// [`check_host`] with the available memory given (testable).
pub fn check_against(bytes: u64, available: Option<u64>, what: &str) -> Result<()> {
    match available {
        Some(avail) if bytes > avail => Err(Error::invalid(format!(
            "{what} needs {} ({bytes} bytes), but this machine has {} available \
             (MemAvailable in /proc/meminfo); make it smaller",
            human(bytes),
            human(avail)
        ))),
        _ => Ok(()),
    }
}

/// Parameters of a stack of dense layers `inputs → hidden… → outputs` (weights and biases),
/// overflow-checked; `what` names the source of the sizes in the error.
pub fn dense_stack_params(
    inputs: usize,
    hidden: &[usize],
    outputs: usize,
    what: &str,
) -> Result<u64> {
    let mut total = 0u64;
    let mut prev = inputs as u64;
    for &h in hidden.iter().chain(std::iter::once(&outputs)) {
        let h = h as u64;
        let layer = prev
            .checked_add(1)
            .and_then(|p| p.checked_mul(h))
            .and_then(|p| total.checked_add(p));
        total = layer.ok_or_else(|| {
            Error::invalid(format!("{what}: the parameter count overflows 64 bits"))
        })?;
        prev = h;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_named_and_overflow_is_an_error() {
        assert_eq!(human(3 << 30), "3.0 GiB");
        assert_eq!(human(12), "12 bytes");
        let p = dense_stack_params(4, &[200_000, 200_000], 3, "--hidden").unwrap();
        assert_eq!(p, 5 * 200_000 + 200_001 * 200_000 + 200_001 * 3);
        let e = check_against(training_bytes(p, "x").unwrap(), Some(8 << 30), "the MLP")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "the MLP needs 596.1 GiB (640028800048 bytes), but this machine has 8.0 GiB \
             available (MemAvailable in /proc/meminfo); make it smaller"
        );
        assert!(dense_stack_params(usize::MAX, &[usize::MAX], 1, "--hidden").is_err());
        assert!(available_host_bytes().is_some_and(|b| b > 0));
    }
}
