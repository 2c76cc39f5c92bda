//! The per-batch buffers of a model: node outputs, node gradients, fan-out edge gradients,
//! layer workspaces and targets, each with its lifetime over one step, packed into backend
//! buffers by `lifetimes.rs` (shared where lifetimes do not overlap, unless reuse is off).

use super::lifetimes::{self, BufferNeed, Lifetime, Schedule};
use super::targets::{batch_shape, target_layout};
use super::{EdgeGrad, Executor};
use crate::dtype::{DType, HostData};
use crate::error::Result;
use crate::graph::node::Node;

/// [`EdgeGrad`] by need index, before the buffers exist.
#[derive(Clone, Copy)]
enum EdgeNeed {
    None,
    Direct(usize),
    Accumulate { edge: usize, into: usize },
}

/// How the executor plans its per-batch buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReuseOptions {
    /// Buffers whose lifetimes do not overlap share one backend buffer (see `lifetimes.rs`).
    pub buffer_reuse: bool,
    /// Test hook: every shared buffer is filled with NaN before each step, so a kernel that
    /// read a shared buffer before writing it would show in the results.
    pub poison_shared: bool,
}

impl Default for ReuseOptions {
    fn default() -> Self {
        ReuseOptions {
            buffer_reuse: lifetimes::reuse_from_env(),
            poison_shared: false,
        }
    }
}

impl Executor {
    /// (Re)plans every per-batch buffer for `capacity` rows.
    pub fn plan_activations(
        &mut self,
        nodes: &[Node],
        outputs: &[usize],
        capacity: usize,
    ) -> Result<()> {
        self.forget_recordings();
        for b in self.activation_bufs.drain(..) {
            self.backend.free(b)?;
        }
        self.shared_bufs.clear();
        let schedule = Schedule { nodes: nodes.len() };
        let mut needs: Vec<BufferNeed> = Vec::new();
        let mut need = |dtype: DType, shape: Vec<usize>, lifetime: Lifetime| {
            needs.push(BufferNeed {
                dtype,
                shape,
                lifetime,
            });
            needs.len() - 1
        };
        let mut is_output = vec![false; nodes.len()];
        for &o in outputs {
            is_output[o] = true;
        }
        let mut out = Vec::with_capacity(nodes.len());
        let mut grad = Vec::with_capacity(nodes.len());
        let mut workspace = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            // A node's output: its dtype (i32 for an id input) and shape `[capacity, ...]`.
            let shape = batch_shape(capacity, node.shape.dims());
            let lifetime = match node.layer {
                Some(_) if !is_output[i] => Lifetime::Live {
                    first: schedule.forward(i),
                    last: schedule.backward(i),
                },
                _ => Lifetime::Private,
            };
            out.push(need(node.dtype, shape.clone(), lifetime));
            // Private until its first writer is known (below).
            grad.push(
                node.layer
                    .as_ref()
                    .map(|_| need(DType::F32, shape, Lifetime::Private)),
            );
            // Per-sample workspaces ([capacity, per_sample]), then the fixed-size ones.
            let ws = match &node.layer {
                Some(l) => l
                    .workspace(&node.input_shapes, &node.shape)
                    .into_iter()
                    .map(|per_sample| vec![capacity, per_sample])
                    .chain(
                        l.fixed_workspace(&node.input_shapes)
                            .into_iter()
                            .map(|n| vec![n]),
                    )
                    .map(|dims| need(DType::F32, dims, Lifetime::Private))
                    .collect(),
                None => Vec::new(),
            };
            workspace.push(ws);
        }
        // Gradient routing, in the order contributions are made (see the executor's module
        // doc): the first contribution is the gradient's first write.
        let mut first_write: Vec<Option<usize>> = vec![None; nodes.len()];
        for &o in outputs {
            first_write[o] = Some(schedule.loss());
        }
        let mut edges: Vec<Vec<EdgeNeed>> = nodes.iter().map(|_| Vec::new()).collect();
        for (i, node) in nodes.iter().enumerate().rev() {
            let now = schedule.backward(i);
            for &src in &node.inputs {
                let e = match grad[src] {
                    None => EdgeNeed::None,
                    Some(g) if first_write[src].is_none() => {
                        first_write[src] = Some(now);
                        EdgeNeed::Direct(g)
                    }
                    Some(g) => EdgeNeed::Accumulate {
                        edge: need(
                            DType::F32,
                            batch_shape(capacity, nodes[src].shape.dims()),
                            Lifetime::Live {
                                first: now,
                                last: now,
                            },
                        ),
                        into: g,
                    },
                };
                edges[i].push(e);
            }
        }
        let target_kind = self.target_kind;
        let targets: Vec<usize> = outputs
            .iter()
            .map(|&o| {
                let (dtype, shape) = target_layout(target_kind, capacity, &nodes[o].shape);
                need(dtype, shape, Lifetime::Private)
            })
            .collect();

        // A gradient nobody writes stays private: its reader relies on the zero fill.
        for (i, g) in grad.iter().enumerate() {
            if let (Some(g), Some(first)) = (*g, first_write[i]) {
                needs[g].lifetime = Lifetime::Live {
                    first,
                    last: schedule.backward(i),
                };
            }
        }

        let packing = lifetimes::pack(&needs, self.reuse.buffer_reuse);
        let mut slot_bufs = Vec::with_capacity(packing.slots.len());
        for slot in &packing.slots {
            let b = self.backend.alloc_typed(slot.dtype, &slot.shape)?;
            self.activation_bufs.push(b);
            if slot.shared {
                self.shared_bufs.push(b);
            }
            slot_bufs.push(b);
        }
        let buf = |n: usize| slot_bufs[packing.slot_of[n]];
        let in_workspace: Vec<bool> = {
            let mut w = vec![false; needs.len()];
            for &n in workspace.iter().flatten() {
                w[n] = true;
            }
            w
        };
        self.activations_unshared = needs
            .iter()
            .zip(&in_workspace)
            .filter(|(_, &w)| !w)
            .map(|(n, _)| (n.shape.iter().product::<usize>() * n.dtype.size_bytes()) as u64)
            .sum();
        self.edges = edges
            .iter()
            .map(|es| {
                es.iter()
                    .map(|e| match *e {
                        EdgeNeed::None => EdgeGrad::None,
                        EdgeNeed::Direct(g) => EdgeGrad::Direct(buf(g)),
                        EdgeNeed::Accumulate { edge, into } => EdgeGrad::Accumulate {
                            edge: buf(edge),
                            into: buf(into),
                        },
                    })
                    .collect()
            })
            .collect();
        self.edge_grad_bufs = self
            .edges
            .iter()
            .map(|es| {
                es.iter()
                    .map(|e| match *e {
                        EdgeGrad::None => None,
                        EdgeGrad::Direct(g) => Some(g),
                        EdgeGrad::Accumulate { edge, .. } => Some(edge),
                    })
                    .collect()
            })
            .collect();
        self.out = out.into_iter().map(buf).collect();
        self.grad = grad.into_iter().map(|g| g.map(buf)).collect();
        self.workspace = workspace
            .into_iter()
            .map(|ws| ws.into_iter().map(buf).collect())
            .collect();
        self.targets = targets.into_iter().map(buf).collect();
        self.in_bufs = nodes
            .iter()
            .map(|n| n.inputs.iter().map(|&s| self.out[s]).collect())
            .collect();
        self.capacity = capacity;
        Ok(())
    }

    /// With the poisoning test hook on, fills every shared buffer with NaN (i32::MIN for ids)
    /// so that a read before the step's first write would reach the results.
    pub(super) fn poison_shared_buffers(&mut self) -> Result<()> {
        if !self.reuse.poison_shared {
            return Ok(());
        }
        for &b in &self.shared_bufs {
            let n = self.backend.buf_len(b);
            match self.backend.buf_dtype(b) {
                Some(DType::I32) => {
                    let ids = vec![i32::MIN; n];
                    self.backend.upload_values(b, 0, HostData::I32(&ids))?;
                }
                Some(DType::BF16) => {
                    let nan = vec![0x7FC0u16; n];
                    self.backend.upload_values(b, 0, HostData::BF16(&nan))?;
                }
                _ => self.backend.upload(b, 0, &vec![f32::NAN; n])?,
            }
        }
        Ok(())
    }
}
