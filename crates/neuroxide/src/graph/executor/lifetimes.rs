//! Buffer reuse by lifetime: per-batch buffers that are never in use at the same time share one
//! backend buffer, so a model's activations take what its busiest moment needs, not the sum of
//! every buffer it ever touches.
//!
//! # The schedule
//! A step over `N` nodes runs at `2N + 1` times: node `i`'s forward at `t = i`, every loss at
//! `t = N`, node `i`'s backward at `t = 2N − i` (its fan-out `add_assign`s at the same time).
//! A buffer's lifetime is the closed interval from the time it is first written to the time it
//! is last read:
//! - a layer node's output: `[i, 2N − i]` — written by its forward, read by its consumers'
//!   forwards and backwards (all between) and by its own backward;
//! - a node's gradient: from its first writer (the loss at `N` for a model output, else the
//!   backward of its highest-index consumer, which writes it directly: `EdgeGrad::Direct`) to
//!   its own backward at `2N − i`;
//! - a fan-out edge buffer of consumer `c`: `[2N − c, 2N − c]` (written by `c`'s backward,
//!   added into the source's gradient at once);
//! - private, never shared: model inputs, model outputs and targets (uploaded before the step,
//!   read after it by metrics and `predict`), layer workspaces (some rely on their zero fill at
//!   allocation, e.g. halos), and a gradient nobody writes (its reader relies on the zero fill).
//!
//! # Why sharing is safe
//! Two buffers share only when their intervals are disjoint, so every kernel of the step sees
//! each of its operands through a buffer no other live value occupies (and a kernel's output
//! never aliases one of its inputs: at one time all live buffers are distinct). A shared buffer
//! holds stale values of another occupant when its own lifetime begins; that is sound because
//! each first writer overwrites the whole batch prefix it later reads: every layer's forward
//! writes its whole output, every backward writes its `Direct` input gradients whole (a gather
//! or a copy, never an accumulation; ids and masks get an explicit zero fill), and the loss
//! writes its output's gradient whole. `tests/buffer_reuse.rs` checks it by filling every
//! shared buffer with NaN before each step ([`crate::Model::set_poison_shared_buffers`]): the
//! training stays bit-identical to training without reuse. The schedule repeats per shard of a
//! sharded step, and a forward-only pass (evaluate, predict) writes only node outputs, which
//! never share with each other (all of them are live at the loss time `N`).
//!
//! # Packing
//! Largest first (ties by plan order), first fit: each need goes into the first existing
//! shared buffer of its dtype whose occupants are all disjoint from it in time, else into a new
//! one of its size. The result depends only on the graph and the capacity, so it is the same on
//! every backend, and kernels use prefixes (they take explicit sizes), so a buffer allocated at
//! its largest occupant's size serves every occupant.

use crate::dtype::DType;

/// When a planned buffer is in use during one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lifetime {
    /// Never shares a buffer.
    Private,
    /// In use from `first` to `last`, both included (schedule times, see the module doc).
    Live { first: usize, last: usize },
}

impl Lifetime {
    /// Whether two lifetimes can share one buffer (both live, never at the same time).
    fn disjoint(self, other: Lifetime) -> bool {
        match (self, other) {
            (Lifetime::Live { first: a, last: b }, Lifetime::Live { first: c, last: d }) => {
                b < c || d < a
            }
            _ => false,
        }
    }
}

/// Schedule times of one training step over `nodes` nodes (see the module doc).
#[derive(Clone, Copy, Debug)]
pub(super) struct Schedule {
    pub nodes: usize,
}

impl Schedule {
    /// When node `i`'s forward runs.
    pub fn forward(self, i: usize) -> usize {
        i
    }
    /// When the losses run.
    pub fn loss(self) -> usize {
        self.nodes
    }
    /// When node `i`'s backward runs.
    pub fn backward(self, i: usize) -> usize {
        2 * self.nodes - i
    }
}

/// One buffer the plan needs.
#[derive(Clone, Debug)]
pub(super) struct BufferNeed {
    pub dtype: DType,
    /// `[rows, ...]` where the buffer holds rows.
    pub shape: Vec<usize>,
    pub lifetime: Lifetime,
}

impl BufferNeed {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// One backend buffer of the plan.
#[derive(Clone, Debug)]
pub(super) struct Slot {
    pub dtype: DType,
    /// The shape of its largest occupant.
    pub shape: Vec<usize>,
    /// Whether it came from the shared pool (it may hold stale values of another occupant).
    pub shared: bool,
    occupants: Vec<Lifetime>,
}

/// Which backend buffer serves each need.
#[derive(Clone, Debug)]
pub(super) struct Packing {
    /// `slot_of[need]`: the index into `slots`.
    pub slot_of: Vec<usize>,
    /// Private slots in need order, then shared ones in the order they were opened.
    pub slots: Vec<Slot>,
}

/// Assigns every need a backend buffer; with `reuse` off every need gets one of its own.
pub(super) fn pack(needs: &[BufferNeed], reuse: bool) -> Packing {
    let mut slot_of = vec![usize::MAX; needs.len()];
    let mut slots = Vec::new();
    let private = |n: &BufferNeed| !reuse || n.lifetime == Lifetime::Private;
    for (i, need) in needs.iter().enumerate().filter(|(_, n)| private(n)) {
        slot_of[i] = slots.len();
        slots.push(Slot {
            dtype: need.dtype,
            shape: need.shape.clone(),
            shared: false,
            occupants: vec![need.lifetime],
        });
    }
    let mut order: Vec<usize> = (0..needs.len()).filter(|&i| !private(&needs[i])).collect();
    // Largest first, so each shared buffer is allocated at its first occupant's size.
    order.sort_by_key(|&i| (std::cmp::Reverse(needs[i].len()), i));
    for i in order {
        let need = &needs[i];
        let fits = |s: &Slot| {
            s.shared
                && s.dtype == need.dtype
                && s.occupants.iter().all(|&o| o.disjoint(need.lifetime))
        };
        let slot = match slots.iter().position(fits) {
            Some(s) => s,
            None => {
                slots.push(Slot {
                    dtype: need.dtype,
                    shape: need.shape.clone(),
                    shared: true,
                    occupants: Vec::new(),
                });
                slots.len() - 1
            }
        };
        slots[slot].occupants.push(need.lifetime);
        slot_of[i] = slot;
    }
    Packing { slot_of, slots }
}

/// Whether per-batch buffers are shared unless a model says otherwise: on, except with
/// `NEUROXIDE_BUFFER_REUSE=0` (a debugging switch: every buffer private, as before reuse).
pub(crate) fn reuse_from_env() -> bool {
    std::env::var("NEUROXIDE_BUFFER_REUSE").map_or(true, |v| v != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(len: usize, lifetime: Lifetime) -> BufferNeed {
        BufferNeed {
            dtype: DType::F32,
            shape: vec![len],
            lifetime,
        }
    }

    fn live(first: usize, last: usize) -> Lifetime {
        Lifetime::Live { first, last }
    }

    #[test]
    fn disjoint_lifetimes_share_and_touching_ones_do_not() {
        let needs = [
            need(4, live(0, 2)),
            need(8, live(3, 5)),
            need(2, live(5, 6)),
            need(16, Lifetime::Private),
        ];
        let p = pack(&needs, true);
        // The private one gets slot 0; the 8 (largest shared) opens slot 1, which the 4 joins
        // (disjoint); the 2 touches the 8 at t = 5 (closed intervals), so it opens slot 2.
        assert_eq!(p.slot_of, vec![1, 1, 2, 0]);
        assert_eq!(p.slots[1].shape, vec![8]);
        assert!(p.slots[1].shared && !p.slots[0].shared);
        let off = pack(&needs, false);
        assert_eq!(off.slot_of, vec![0, 1, 2, 3]);
        assert!(off.slots.iter().all(|s| !s.shared));
    }

    #[test]
    fn dtypes_never_mix() {
        let mut ids = need(4, live(0, 1));
        ids.dtype = DType::I32;
        let p = pack(&[need(4, live(2, 3)), ids], true);
        assert_eq!(p.slot_of, vec![0, 1]);
    }
}
