//! Parameter gradients of shared layers (one layer applied at several nodes, one parameter
//! set; see `graph/shared.rs`).
//!
//! Order: backward visits nodes in reverse topological order. The first application it reaches
//! (the last one applied) writes the parameter gradient directly; every other application
//! writes into its own fixed-size scratch buffers, which are then added in (`add_assign`,
//! `grad = grad + scratch`) right after that node's backward. So
//! `grad = ((g_last + g_last-1) + …) + g_first`, on every backend.

use crate::backend::{Backend, BufId};
use crate::error::Result;
use crate::graph::node::Node;
use crate::ops::elementwise;

/// Where one node's backward writes its parameter gradients.
pub(super) enum ParamGrads {
    /// Straight into the parameter gradient buffers (an unshared layer, or the last
    /// application of a shared one).
    Direct,
    /// Into these scratch buffers (one per parameter), added into the gradient afterwards.
    Accumulate(Vec<BufId>),
}

/// Plans the parameter-gradient route of every node.
pub(super) fn plan(
    backend: &mut dyn Backend,
    nodes: &[Node],
    grads: &[BufId],
) -> Result<Vec<ParamGrads>> {
    let mut routes: Vec<ParamGrads> = nodes.iter().map(|_| ParamGrads::Direct).collect();
    let mut written = vec![false; nodes.len()];
    for (i, node) in nodes.iter().enumerate().rev() {
        if node.params.is_empty() {
            continue;
        }
        let owner = node.shares.unwrap_or(i);
        if written[owner] {
            let bufs = grads[node.params.clone()]
                .iter()
                .map(|&g| backend.alloc(backend.buf_len(g)))
                .collect::<Result<Vec<_>>>()?;
            routes[i] = ParamGrads::Accumulate(bufs);
        }
        written[owner] = true;
    }
    Ok(routes)
}

impl ParamGrads {
    /// The buffers the node's backward writes, given the parameters' gradient buffers.
    pub fn buffers<'a>(&'a self, grads: &'a [BufId]) -> &'a [BufId] {
        match self {
            ParamGrads::Direct => grads,
            ParamGrads::Accumulate(bufs) => bufs,
        }
    }

    /// Adds the scratch gradients into `grads` (after the node's backward).
    pub fn add_into(&self, backend: &mut dyn Backend, grads: &[BufId]) -> Result<()> {
        if let ParamGrads::Accumulate(bufs) = self {
            for (&g, &s) in grads.iter().zip(bufs) {
                let n = backend.buf_len(g);
                elementwise::add_assign(backend, g, s, n)?;
            }
        }
        Ok(())
    }

    /// The scratch buffers (for counting planned bytes).
    pub fn scratch(&self) -> &[BufId] {
        match self {
            ParamGrads::Direct => &[],
            ParamGrads::Accumulate(bufs) => bufs,
        }
    }
}
