//! The caching allocator's size classes and free lists.
//!
//! Device allocations (`cuMemAlloc`) are slow and synchronise the device, so freed blocks are
//! kept in free lists keyed by a size class and handed out again. Classes: powers of two from
//! 512 bytes up to 1 MiB, then multiples of 1/16 of the enclosing power of two (at most 6.25 %
//! waste). A backend keeps its own free list (blocks freed on its stream are reusable on that
//! stream at once: stream order protects them); when a backend is dropped it synchronises its
//! stream and hands every block to its GPU's shared pool, where any backend may take them.

use std::collections::HashMap;

/// A device block: its address and size class in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub ptr: u64,
    pub bytes: usize,
}

/// The size class (bytes actually allocated) for a request of `bytes`.
pub fn size_class(bytes: usize) -> usize {
    const MIN: usize = 512;
    const SMALL: usize = 1 << 20;
    let bytes = bytes.max(1);
    if bytes <= MIN {
        return MIN;
    }
    let p = bytes.next_power_of_two();
    if p <= SMALL {
        return p;
    }
    let step = p / 32;
    bytes.div_ceil(step) * step
}

/// Free blocks by size class.
#[derive(Default)]
pub struct FreePool {
    lists: HashMap<usize, Vec<u64>>,
    /// Total bytes held in the lists.
    pub bytes: usize,
}

impl FreePool {
    /// Takes a free block of exactly `class` bytes, if any.
    pub fn take(&mut self, class: usize) -> Option<Block> {
        let ptr = self.lists.get_mut(&class)?.pop()?;
        self.bytes -= class;
        Some(Block { ptr, bytes: class })
    }
    /// Returns a block to the pool.
    pub fn put(&mut self, b: Block) {
        self.lists.entry(b.bytes).or_default().push(b.ptr);
        self.bytes += b.bytes;
    }
    /// Removes every block (to release them to the driver).
    pub fn drain(&mut self) -> Vec<Block> {
        self.bytes = 0;
        self.lists
            .drain()
            .flat_map(|(bytes, v)| v.into_iter().map(move |ptr| Block { ptr, bytes }))
            .collect()
    }
    /// Moves every block of `other` into this pool.
    pub fn absorb(&mut self, other: &mut FreePool) {
        for b in other.drain() {
            self.put(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_cover_requests_with_bounded_waste() {
        assert_eq!(size_class(0), 512);
        assert_eq!(size_class(4), 512);
        assert_eq!(size_class(513), 1024);
        assert_eq!(size_class(1 << 20), 1 << 20);
        assert_eq!(size_class((1 << 20) + 1), (1 << 20) + (1 << 16));
        for bytes in [1usize, 700, 5000, 1 << 21, 3_000_001, 123_456_789] {
            let c = size_class(bytes);
            assert!(c >= bytes);
            if bytes > 1 << 20 {
                assert!((c - bytes) * 16 <= bytes, "{bytes} -> {c}");
            }
            assert_eq!(size_class(c), c, "a class maps to itself");
        }
    }

    #[test]
    fn pool_reuses_exact_classes() {
        let mut p = FreePool::default();
        p.put(Block { ptr: 1, bytes: 512 });
        p.put(Block {
            ptr: 2,
            bytes: 1024,
        });
        assert_eq!(p.bytes, 1536);
        assert_eq!(
            p.take(1024),
            Some(Block {
                ptr: 2,
                bytes: 1024
            })
        );
        assert_eq!(p.take(1024), None);
        let mut q = FreePool::default();
        q.absorb(&mut p);
        assert_eq!((p.bytes, q.bytes), (0, 512));
        assert_eq!(q.drain().len(), 1);
    }
}
