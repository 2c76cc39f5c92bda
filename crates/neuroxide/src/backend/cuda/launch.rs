//! Kernel arguments and launch shapes.

use std::ffi::c_void;

/// Kernel arguments, each stored in an 8-byte slot (pointers and 64-bit sizes fill it; 32-bit
/// ints and floats occupy its low bytes, which is where a little-endian load of 4 bytes reads).
pub struct KArgs {
    slots: [u64; 20],
    n: usize,
}

impl Default for KArgs {
    fn default() -> Self {
        KArgs::new()
    }
}

impl KArgs {
    pub fn new() -> Self {
        KArgs {
            slots: [0; 20],
            n: 0,
        }
    }
    fn push(mut self, v: u64) -> Self {
        // 20 slots cover every kernel here (the largest takes 15); a new kernel that needs more
        // fails loudly in tests rather than corrupting memory.
        assert!(self.n < self.slots.len(), "too many kernel arguments");
        self.slots[self.n] = v;
        self.n += 1;
        self
    }
    /// A device pointer (or 0 for `nullptr`).
    pub fn ptr(self, p: u64) -> Self {
        self.push(p)
    }
    /// A raw 64-bit value (`unsigned long long`).
    pub fn word(self, v: u64) -> Self {
        self.push(v)
    }
    /// A 64-bit unsigned size.
    pub fn u64(self, v: usize) -> Self {
        self.push(v as u64)
    }
    pub fn i32(self, v: i32) -> Self {
        self.push(u64::from(v as u32))
    }
    pub fn u32(self, v: u32) -> Self {
        self.push(u64::from(v))
    }
    pub fn f32(self, v: f32) -> Self {
        self.push(u64::from(v.to_bits()))
    }
    /// Pointers to the slots, as `cuLaunchKernel` wants them (no heap allocation), and their
    /// count.
    pub fn params(&mut self) -> ([*mut c_void; 20], usize) {
        let mut p = [std::ptr::null_mut(); 20];
        for (dst, s) in p.iter_mut().zip(self.slots.iter_mut()) {
            *dst = (s as *mut u64).cast::<c_void>();
        }
        (p, self.n)
    }
}

/// Threads per block of the one-dimensional kernels.
pub const BLOCK: u32 = 256;

/// Blocks for a grid-stride kernel over `n` items, at most `cap`.
pub fn blocks_for(n: usize, per_block: usize, cap: u32) -> u32 {
    let b = n.div_ceil(per_block.max(1)).max(1);
    b.min(cap as usize) as u32
}
