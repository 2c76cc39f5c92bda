//! CPU vs CUDA parity of the optimizer updates (split from cuda_parity.rs): every optimizer
//! kind over several steps, one tensor per launch and the multi-tensor update (one launch on
//! CUDA) reading its scalars from a per-step block. Skip rules of PARITY.md.

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::backend::{Backend, OptimizerKind, StepBlock};
use neuroxide::ops::optimizer;
use neuroxide::ops::optimizer::OptimizerStep;
use parity_pair::{rng, Pair};

#[test]
fn optimizer_steps_all_kinds() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("optimizer");
    let kinds = [
        OptimizerKind::Sgd {
            lr: 0.1,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        OptimizerKind::Sgd {
            lr: 0.05,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 1e-4,
        },
        OptimizerKind::Sgd {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.0,
        },
        OptimizerKind::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        },
        OptimizerKind::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            decoupled: false,
        },
        OptimizerKind::Adam {
            lr: 3e-4,
            beta1: 0.85,
            beta2: 0.99,
            eps: 1e-7,
            weight_decay: 0.05,
            decoupled: true,
        },
        OptimizerKind::RmsProp {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            weight_decay: 0.0,
        },
        OptimizerKind::RmsProp {
            lr: 1e-2,
            alpha: 0.9,
            eps: 1e-6,
            momentum: 0.8,
            weight_decay: 1e-3,
        },
    ];
    let n = 100_003;
    for kind in kinds {
        let w = p.buf(&r.vec(n, -1.0, 1.0));
        let g = p.zeros(n);
        let s0 = p.zeros(n);
        let s1 = p.zeros(n);
        for t in 1..=4 {
            let gv = r.vec(n, -0.5, 0.5);
            p.cpu.upload(g, 0, &gv).unwrap();
            p.gpu.upload(g, 0, &gv).unwrap();
            let step = OptimizerStep::new(kind, t, w, g, [Some(s0), Some(s1)], n);
            p.run(|be| optimizer::step(be, &step));
        }
        p.check(&format!("{kind:?} weights"), w);
        p.check(&format!("{kind:?} state 0"), s0);
        p.check(&format!("{kind:?} state 1"), s1);
        // The multi-tensor update (one launch on CUDA, one by one on the CPU) of three tensors
        // of odd sizes, reading its scalars from a per-step block with a changing rate.
        let sizes = [1usize, 257, 10_001];
        let tensors: Vec<_> = sizes
            .iter()
            .map(|&m| {
                let bufs = (
                    p.buf(&r.vec(m, -1.0, 1.0)),
                    p.zeros(m),
                    p.zeros(m),
                    p.zeros(m),
                );
                (m, bufs)
            })
            .collect();
        let block = p.zeros(StepBlock::LEN);
        for t in 1..=3u64 {
            let values = StepBlock::values(kind.with_lr(kind.lr() / t as f32), t, 0);
            p.cpu.upload(block, 0, &values).unwrap();
            p.gpu.upload(block, 0, &values).unwrap();
            let steps: Vec<OptimizerStep> = tensors
                .iter()
                .map(|&(m, (w, g, s0, s1))| {
                    let gv = r.vec(m, -0.5, 0.5);
                    p.cpu.upload(g, 0, &gv).unwrap();
                    p.gpu.upload(g, 0, &gv).unwrap();
                    OptimizerStep::new(kind, t, w, g, [Some(s0), Some(s1)], m).with_block(block)
                })
                .collect();
            p.run(|be| optimizer::step_all(be, &steps));
        }
        for (i, &(_, (w, _, s0, s1))) in tensors.iter().enumerate() {
            p.check(&format!("{kind:?} multi-tensor {i} weights"), w);
            p.check(&format!("{kind:?} multi-tensor {i} state 0"), s0);
            p.check(&format!("{kind:?} multi-tensor {i} state 1"), s1);
        }
    }
    p.finish("optimizer_steps_all_kinds");
}
