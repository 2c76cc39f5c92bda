//! Optimizer updates, one parameter tensor at a time (formulas on `OptimizerStep`).
//!
//! Each optimizer is a plain loop over slices with the variant chosen *outside* the loop, so the
//! compiler vectorises it; on x86-64 with AVX2 the same loop is compiled 8 lanes wide
//! (`vsqrtps`/`vdivps` are the correctly rounded IEEE operations, and Rust never contracts a
//! multiply and an add into an fma, so the bits equal the scalar formula's).

use super::OptimizerStep;
use crate::backend::cpu::pool::{par_rows, SharedMut, ThreadPool};
use crate::backend::OptimizerKind;

/// Per-task view: the parameter block and the matching gradient and state blocks.
struct Block<'a> {
    w: &'a mut [f32],
    g: &'a [f32],
    s0: &'a mut [f32],
    s1: &'a mut [f32],
}

/// Applies one update to `w` using gradient `g` and the state slices.
pub fn step(
    pool: &ThreadPool,
    s: &OptimizerStep,
    w: &mut [f32],
    g: &[f32],
    s0: Option<&mut [f32]>,
    s1: Option<&mut [f32]>,
) {
    let n = w.len();
    let s0 = s0.map(SharedMut::new);
    let s1 = s1.map(SharedMut::new);
    par_rows(pool, w, n, 1, &|i0, ws| {
        let len = ws.len();
        // SAFETY: every task owns the index range i0..i0+len of each state buffer.
        let b = Block {
            g: &g[i0..i0 + len],
            s0: s0.map_or(&mut [][..], |b| unsafe { b.slice(i0, len) }),
            s1: s1.map_or(&mut [][..], |b| unsafe { b.slice(i0, len) }),
            w: ws,
        };
        dispatch(s, b);
    });
}

fn dispatch(s: &OptimizerStep, b: Block) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { update_avx2(s, b) };
        return;
    }
    update(s, b);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn update_avx2(s: &OptimizerStep, b: Block) {
    update(s, b);
}

#[inline(always)]
fn update(s: &OptimizerStep, b: Block) {
    let Block { w, g, s0, s1 } = b;
    let sc = s.scalars;
    match s.kind {
        OptimizerKind::Sgd {
            lr,
            momentum,
            nesterov,
            weight_decay,
        } => {
            if momentum == 0.0 {
                for (w, &g) in w.iter_mut().zip(g) {
                    let g = if weight_decay != 0.0 {
                        g + weight_decay * *w
                    } else {
                        g
                    };
                    *w -= lr * g;
                }
            } else {
                for ((w, &g), b) in w.iter_mut().zip(g).zip(s0.iter_mut()) {
                    let g = if weight_decay != 0.0 {
                        g + weight_decay * *w
                    } else {
                        g
                    };
                    *b = momentum * *b + g;
                    let g = if nesterov { g + momentum * *b } else { *b };
                    *w -= lr * g;
                }
            }
        }
        OptimizerKind::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            ..
        } => {
            let (step_size, bc2_sqrt, decay, c1, c2) = (sc[0], sc[1], sc[2], sc[3], sc[4]);
            let l2 = if decoupled { 0.0 } else { weight_decay };
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(s0.iter_mut()).zip(s1.iter_mut()) {
                let mut wv = *w;
                let mut g = g;
                if decoupled {
                    wv *= decay;
                } else if l2 != 0.0 {
                    g += l2 * wv;
                }
                *m = beta1 * *m + c1 * g;
                *v = beta2 * *v + c2 * (g * g);
                let den = v.sqrt() / bc2_sqrt + eps;
                *w = wv - step_size * (*m / den);
            }
        }
        OptimizerKind::RmsProp {
            lr,
            alpha,
            eps,
            momentum,
            weight_decay,
        } => {
            let c = sc[0];
            for (i, (w, &g)) in w.iter_mut().zip(g).enumerate() {
                let g = if weight_decay != 0.0 {
                    g + weight_decay * *w
                } else {
                    g
                };
                let v = &mut s0[i];
                *v = alpha * *v + c * (g * g);
                let den = v.sqrt() + eps;
                if momentum != 0.0 {
                    let b = &mut s1[i];
                    *b = momentum * *b + g / den;
                    *w -= lr * *b;
                } else {
                    *w -= lr * (g / den);
                }
            }
        }
    }
}
