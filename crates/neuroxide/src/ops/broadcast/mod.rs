//! Broadcast add and multiply of two tensors of up to four axes (numpy's rules: shapes aligned
//! on the right, each axis equal or 1 in one operand), and their backward reductions.
//!
//! Forward, per output value: `y = a + b` or `y = a * b` (one rounding, no fma).
//!
//! Backward (the contract): the gradient of an operand element `e` sums the terms of the output
//! positions it was broadcast to, enumerated in increasing output index, in the chunked order
//! of PARITY rule 2a ([`crate::ops::reduce::chunked`] / `nx_chunk_partial`): for add the term is
//! `dy[o]` (`acc + dy[o]`); for multiply it is the product with the other operand,
//! `acc = fma(dy[o], other[o], acc)`. An operand that is not broadcast gets one term per
//! element (for add, `0.0 + dy[o]`; a `-0` gradient becomes `+0`, as every chunked sum starts at
//! `+0`). CUDA computes one partial per (element, chunk) on its own thread, then one thread per
//! element adds them in chunk order.

use crate::backend::cpu::pool::par_rows;
use crate::backend::cuda::{Family, KArgs};
use crate::backend::{Backend, BufId, Kernels};
use crate::error::{Error, Result};
use crate::ops::dims::{Dims4, MAX_AXES};
use crate::ops::reduce::{chunked, chunks};

/// The CUDA source of this folder.
pub const CUDA: Family = Family::new("ops/broadcast/broadcast.cu", include_str!("broadcast.cu"));

/// The elementwise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BroadcastOp {
    Add,
    Mul,
}

/// `y = a (op) b` with broadcasting.
#[derive(Clone, Copy, Debug)]
pub struct Broadcast {
    pub a: BufId,
    pub a_dims: Dims4,
    pub b: BufId,
    pub b_dims: Dims4,
    pub y: BufId,
    pub out_dims: Dims4,
    pub op: BroadcastOp,
}

impl Broadcast {
    /// Checks numpy's broadcasting rules and pads the shapes to four axes.
    pub fn new(
        a: BufId,
        a_shape: &[usize],
        b: BufId,
        b_shape: &[usize],
        y: BufId,
        op: BroadcastOp,
    ) -> Result<Broadcast> {
        let (ad, bd) = (
            Dims4::new("broadcast", a_shape)?,
            Dims4::new("broadcast", b_shape)?,
        );
        let mut out = [1; MAX_AXES];
        for (o, (&x, &z)) in out.iter_mut().zip(ad.0.iter().zip(&bd.0)) {
            *o = match (x, z) {
                _ if x == z => x,
                (1, _) => z,
                (_, 1) => x,
                _ => {
                    return Err(Error::Shape(format!(
                        "broadcast: shapes {a_shape:?} and {b_shape:?} do not broadcast \
                         (axis of {x} against {z})"
                    )))
                }
            };
        }
        Ok(Broadcast {
            a,
            a_dims: ad,
            b,
            b_dims: bd,
            y,
            out_dims: Dims4(out),
            op,
        })
    }

    /// The backward reduction for operand `a` (`da`) given `dy`.
    pub fn grad_a(&self, dy: BufId, da: BufId) -> BroadcastBackward {
        BroadcastBackward {
            dy,
            out_dims: self.out_dims,
            grad: da,
            grad_dims: self.a_dims,
            other: (self.op == BroadcastOp::Mul).then_some((self.b, self.b_dims)),
        }
    }

    /// The backward reduction for operand `b` (`db`) given `dy`.
    pub fn grad_b(&self, dy: BufId, db: BufId) -> BroadcastBackward {
        BroadcastBackward {
            dy,
            out_dims: self.out_dims,
            grad: db,
            grad_dims: self.b_dims,
            other: (self.op == BroadcastOp::Mul).then_some((self.a, self.a_dims)),
        }
    }
}

/// `grad[e] = Σ dy[o] (× other[o])` over the output positions `o` operand element `e` was
/// broadcast to (see the module doc for the order).
#[derive(Clone, Copy, Debug)]
pub struct BroadcastBackward {
    pub dy: BufId,
    pub out_dims: Dims4,
    pub grad: BufId,
    pub grad_dims: Dims4,
    /// For multiply: the other operand and its shape.
    pub other: Option<(BufId, Dims4)>,
}

impl BroadcastBackward {
    /// The extents of the summed axes (the output's where the operand broadcasts, else 1).
    fn summed(&self) -> Result<Dims4> {
        let mut s = [1; MAX_AXES];
        for (si, (&g, &o)) in s
            .iter_mut()
            .zip(self.grad_dims.0.iter().zip(&self.out_dims.0))
        {
            *si = match (g, o) {
                _ if g == o => 1,
                (1, _) => o,
                _ => {
                    return Err(Error::Shape(format!(
                        "broadcast_backward: operand {:?} does not broadcast to {:?}",
                        self.grad_dims.0, self.out_dims.0
                    )))
                }
            };
        }
        Ok(Dims4(s))
    }
}

/// Runs [`Broadcast`].
pub fn broadcast(backend: &mut dyn Backend, a: &Broadcast) -> Result<()> {
    let n = a.out_dims.numel();
    let ins = [(a.a, a.a_dims.numel()), (a.b, a.b_dims.numel())];
    let outs = [(a.y, n)];
    let mul = a.op == BroadcastOp::Mul;
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([x, z], [y])) = cpu.operands("broadcast", ins, outs)?;
            par_rows(pool, y, n, 1, &|o0, block| {
                for (o, v) in (o0..).zip(block.iter_mut()) {
                    let c = a.out_dims.coords(o);
                    let (p, q) = (
                        x[a.a_dims.broadcast_index(c)],
                        z[a.b_dims.broadcast_index(c)],
                    );
                    *v = if mul { p * q } else { p + q };
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([x, z], [y]) = cuda.operands("broadcast", ins, outs)?;
            let [o0, o1] = a.out_dims.words();
            let [a0, a1] = a.a_dims.words();
            let [b0, b1] = a.b_dims.words();
            let args = KArgs::new().ptr(x).ptr(z).ptr(y).u64(n);
            let args = args.word(o0).word(o1).word(a0).word(a1).word(b0).word(b1);
            cuda.launch_op_1d(CUDA, "nx_broadcast", n, args.i32(i32::from(mul)))
        }
    }
}

/// Runs [`BroadcastBackward`].
pub fn broadcast_backward(backend: &mut dyn Backend, a: &BroadcastBackward) -> Result<()> {
    let summed = a.summed()?;
    let count = summed.numel();
    let n = a.grad_dims.numel();
    let (other, other_dims) = a.other.unwrap_or((a.dy, a.out_dims));
    let mul = a.other.is_some();
    if let Some((_, od)) = a.other {
        if (0..MAX_AXES).any(|i| od.0[i] != 1 && od.0[i] != a.out_dims.0[i]) {
            return Err(Error::Shape(format!(
                "broadcast_backward: the other operand {:?} does not broadcast to {:?}",
                od.0, a.out_dims.0
            )));
        }
    }
    let ins = [
        (a.dy, a.out_dims.numel()),
        (other, if mul { other_dims.numel() } else { 0 }),
    ];
    let outs = [(a.grad, n)];
    match backend.kernels() {
        Kernels::Cpu(cpu) => {
            let (pool, ([dy, z], [g])) = cpu.operands("broadcast_backward", ins, outs)?;
            par_rows(pool, g, n, 1, &|e0, block| {
                for (e, v) in (e0..).zip(block.iter_mut()) {
                    let ce = a.grad_dims.coords(e);
                    let term = |acc: f32, t: usize| {
                        let ct = summed.coords(t);
                        let c = std::array::from_fn(|i| ce[i] + ct[i]);
                        let d = dy[a.out_dims.broadcast_index(c)];
                        if mul {
                            d.mul_add(z[other_dims.broadcast_index(c)], acc)
                        } else {
                            acc + d
                        }
                    };
                    *v = chunked(count, term);
                }
            });
            Ok(())
        }
        Kernels::Cuda(cuda) => {
            let ([dy, z], [g]) = cuda.operands("broadcast_backward", ins, outs)?;
            if n == 0 {
                return Ok(());
            }
            let cpr = chunks(count).max(1);
            let dst = if cpr == 1 {
                g
            } else {
                cuda.op_scratch(n * cpr)?
            };
            let [g0, g1] = a.grad_dims.words();
            let [s0, s1] = summed.words();
            let [z0, z1] = other_dims.words();
            let args = KArgs::new()
                .ptr(dy)
                .ptr(if mul { z } else { 0 })
                .ptr(dst)
                .u64(n)
                .word(g0)
                .word(g1)
                .word(s0)
                .word(s1)
                .word(z0)
                .word(z1);
            cuda.launch_op_1d(CUDA, "nx_broadcast_grad_partials", n * cpr, args)?;
            if cpr > 1 {
                let args = KArgs::new().ptr(dst).ptr(g).u64(n).u64(cpr);
                cuda.launch_op_1d(CUDA, "nx_broadcast_grad_totals", n, args)?;
            }
            Ok(())
        }
    }
}
