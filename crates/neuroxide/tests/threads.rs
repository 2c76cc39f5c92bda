//! Results do not depend on the number of CPU threads (PARITY.md rule 9): every CPU kernel on
//! sizes above the pool's split threshold (~16k values), and an MLP trained for a few steps,
//! compared bit for bit between 1 and 2 threads.

mod common;

use common::Rng;
use neuroxide::backend::cpu::pool::{par_rows, ThreadPool};
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::optimizer;
use neuroxide::ops::optimizer::OptimizerStep;

use neuroxide::graph::{add, LayerApply};
use neuroxide::layers::{Dense, Dropout};
use neuroxide::ops;
use neuroxide::ops::copy::Copy2d;
use neuroxide::ops::dropout::{self, DropoutForward};
use neuroxide::ops::elementwise::{self, ActivationBackward, ActivationForward};
use neuroxide::ops::loss;
use neuroxide::ops::loss::LossArgs;
use neuroxide::ops::matmul::Matmul;
use neuroxide::ops::reduce::{self, ClipByGlobalNorm, CountCorrect};
use neuroxide::ops::reduce::{column_sums, sum_squares, ColumnSums};
use neuroxide::ops::softmax::{self, Softmax, SoftmaxBackward};
use neuroxide::optim::{self, OptimizerKind};
use neuroxide::{
    Activation, Backend, BufId, DType, Device, Graph, HostData, Loss, LossKind, Model, TargetKind,
    Tensor,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Large enough for every elementwise kernel to split (the pool splits at 16 Ki values).
const BIG: usize = 40_000;

/// Named outputs of one kernel run.
type Outputs = Vec<(String, Vec<f32>)>;

/// Runs `f` on a 1-thread and a 2-thread backend and compares every output bit for bit.
fn same_bits(kernel: &str, f: impl Fn(&mut CpuBackend) -> Outputs) {
    let one = f(&mut CpuBackend::new(1));
    let mut be2 = CpuBackend::new(2);
    assert_eq!(be2.pool().threads(), 2);
    let two = f(&mut be2);
    assert_eq!(one.len(), two.len());
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        assert_eq!(a.len(), b.len(), "{kernel}/{name}: lengths");
        assert!(
            a.iter().any(|v| *v != 0.0),
            "{kernel}/{name}: output is all zero, the test checks nothing"
        );
        let diff: Vec<usize> = (0..a.len())
            .filter(|&i| a[i].to_bits() != b[i].to_bits())
            .collect();
        assert!(
            diff.is_empty(),
            "{kernel}/{name}: {} of {} values differ between 1 and 2 threads; first at {}: {} vs {}",
            diff.len(),
            a.len(),
            diff[0],
            a[diff[0]],
            b[diff[0]]
        );
    }
}

fn buf(be: &mut CpuBackend, v: &[f32]) -> BufId {
    let b = be.alloc(v.len()).unwrap();
    be.upload(b, 0, v).unwrap();
    b
}

fn read(be: &mut CpuBackend, b: BufId) -> Vec<f32> {
    let mut v = vec![0.0; be.buf_len(b)];
    be.download(b, 0, &mut v).unwrap();
    v
}

fn data(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    Rng::new(seed).vec(n, lo, hi)
}

const ALL_ACTIVATIONS: [Activation; 11] = [
    Activation::Linear,
    Activation::Relu,
    Activation::LeakyRelu(0.1),
    Activation::Elu(0.9),
    Activation::Selu,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::GeluTanh,
    Activation::GeluErf,
    Activation::Silu,
    Activation::Softplus,
];

#[test]
fn pool_runs_every_task_once_on_both_threads() {
    let pool = ThreadPool::new(2);
    let counts: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
    let ids = Mutex::new(HashSet::new());
    pool.run(64, &|t| {
        counts[t].fetch_add(1, Ordering::SeqCst);
        ids.lock().unwrap().insert(std::thread::current().id());
        std::thread::sleep(std::time::Duration::from_millis(1));
    });
    for (t, c) in counts.iter().enumerate() {
        assert_eq!(c.load(Ordering::SeqCst), 1, "task {t}");
    }
    assert_eq!(ids.lock().unwrap().len(), 2, "both threads must take tasks");
}

#[test]
fn par_rows_splits_large_outputs_into_disjoint_blocks() {
    let pool = ThreadPool::new(2);
    let (rows, row_len) = (1000, 20);
    let mut out = vec![0.0f32; rows * row_len];
    let blocks = AtomicUsize::new(0);
    par_rows(&pool, &mut out, rows, row_len, &|r0, block| {
        blocks.fetch_add(1, Ordering::SeqCst);
        for (i, v) in block.iter_mut().enumerate() {
            *v += (r0 * row_len + i) as f32 + 1.0;
        }
    });
    assert!(
        blocks.load(Ordering::SeqCst) > 1,
        "20 000 values must be split"
    );
    for (i, v) in out.iter().enumerate() {
        assert_eq!(*v, i as f32 + 1.0, "value {i} written exactly once");
    }
}

#[test]
fn matmul_all_layouts() {
    let (m, n, k) = (150, 130, 37);
    for a_trans in [false, true] {
        for b_trans in [false, true] {
            for (act, bias, pre) in [
                (Activation::Linear, false, false),
                (Activation::GeluTanh, true, true),
                (Activation::Relu, true, false),
            ] {
                let name = format!("matmul a_trans={a_trans} b_trans={b_trans} {act:?}");
                same_bits(&name, |be| {
                    let a = buf(be, &data(1, m * k, -1.0, 1.0));
                    let b = buf(be, &data(2, k * n, -1.0, 1.0));
                    let bias_b = buf(be, &data(3, n, -0.5, 0.5));
                    let c = be.alloc(m * n).unwrap();
                    let p = be.alloc(m * n).unwrap();
                    ops::matmul::matmul(
                        be,
                        &Matmul {
                            m,
                            n,
                            k,
                            a,
                            a_trans,
                            b,
                            b_trans,
                            c,
                            bias: bias.then_some(bias_b),
                            pre_act: pre.then_some(p),
                            act,
                        },
                    )
                    .unwrap();
                    let mut out = vec![("c".to_string(), read(be, c))];
                    if pre {
                        out.push(("pre_act".into(), read(be, p)));
                    }
                    out
                });
            }
        }
    }
}

/// A long reduction (k large) with a small output: dW-like shapes.
#[test]
fn matmul_long_reduction() {
    let (m, n, k) = (130, 128, 1000);
    same_bits("matmul k=1000", |be| {
        let a = buf(be, &data(4, k * m, -1.0, 1.0));
        let b = buf(be, &data(5, k * n, -1.0, 1.0));
        let c = be.alloc(m * n).unwrap();
        ops::matmul::matmul(
            be,
            &Matmul {
                m,
                n,
                k,
                a,
                a_trans: true,
                b,
                b_trans: false,
                c,
                bias: None,
                pre_act: None,
                act: Activation::Linear,
            },
        )
        .unwrap();
        vec![("c".into(), read(be, c))]
    });
}

#[test]
fn activations_forward_backward() {
    for act in ALL_ACTIVATIONS {
        same_bits(&format!("activation {act:?}"), |be| {
            let x = buf(be, &data(6, BIG, -6.0, 6.0));
            let dy = buf(be, &data(7, BIG, -1.0, 1.0));
            let y = be.alloc(BIG).unwrap();
            let dx = be.alloc(BIG).unwrap();
            elementwise::activation_forward(be, &ActivationForward { act, x, y, n: BIG }).unwrap();
            elementwise::activation_backward(
                be,
                &ActivationBackward {
                    act,
                    x,
                    y,
                    dy,
                    dx,
                    n: BIG,
                },
            )
            .unwrap();
            vec![("y".into(), read(be, y)), ("dx".into(), read(be, dx))]
        });
    }
}

#[test]
fn softmax_and_log_softmax() {
    let (rows, cols) = (300, 70);
    for log in [false, true] {
        same_bits(&format!("softmax log={log}"), |be| {
            let x = buf(be, &data(8, rows * cols, -5.0, 5.0));
            let dy = buf(be, &data(9, rows * cols, -1.0, 1.0));
            let y = be.alloc(rows * cols).unwrap();
            let dx = be.alloc(rows * cols).unwrap();
            softmax::forward(
                be,
                &Softmax {
                    log,
                    x,
                    y,
                    rows,
                    cols,
                },
            )
            .unwrap();
            softmax::backward(
                be,
                &SoftmaxBackward {
                    log,
                    y,
                    dy,
                    dx,
                    rows,
                    cols,
                },
            )
            .unwrap();
            vec![("y".into(), read(be, y)), ("dx".into(), read(be, dx))]
        });
    }
}

#[test]
fn sum_rows_wide() {
    // The kernel parallelises over columns: 20 000 columns split.
    let (rows, cols) = (7, 20_000);
    same_bits("sum_rows", |be| {
        let x = buf(be, &data(10, rows * cols, -1.0, 1.0));
        let out = be.alloc(cols).unwrap();
        column_sums(be, &ColumnSums { x, out, rows, cols }).unwrap();
        vec![("out".into(), read(be, out))]
    });
}

#[test]
fn sum_rows_tall() {
    let (rows, cols) = (400, 64);
    same_bits("sum_rows tall", |be| {
        let x = buf(be, &data(11, rows * cols, -1.0, 1.0));
        let out = be.alloc(cols).unwrap();
        column_sums(be, &ColumnSums { x, out, rows, cols }).unwrap();
        vec![("out".into(), read(be, out))]
    });
}

#[test]
fn elementwise_add_mul_scale_fill_copy() {
    same_bits("elementwise", |be| {
        let a = buf(be, &data(12, BIG, -2.0, 2.0));
        let b = buf(be, &data(13, BIG, -2.0, 2.0));
        let sum = be.alloc(BIG).unwrap();
        let prod = be.alloc(BIG).unwrap();
        elementwise::add(be, a, b, sum, BIG).unwrap();
        elementwise::mul(be, a, b, prod, BIG).unwrap();
        let acc = buf(be, &data(14, BIG, -2.0, 2.0));
        elementwise::add_assign(be, acc, a, BIG).unwrap();
        elementwise::scale(be, acc, BIG, 0.37).unwrap();
        let filled = be.alloc(BIG).unwrap();
        elementwise::fill(be, filled, BIG, 1.25).unwrap();
        let copied = be.alloc(BIG).unwrap();
        ops::copy::copy_2d(
            be,
            &Copy2d {
                rows: 300,
                cols: 70,
                src: a,
                src_offset: 5,
                src_stride: 100,
                dst: copied,
                dst_offset: 3,
                dst_stride: 90,
            },
        )
        .unwrap();
        vec![
            ("add".into(), read(be, sum)),
            ("mul".into(), read(be, prod)),
            ("add_assign+scale".into(), read(be, acc)),
            ("fill".into(), read(be, filled)),
            ("copy_2d".into(), read(be, copied)),
        ]
    });
}

#[test]
fn dropout_masks() {
    same_bits("dropout_forward", |be| {
        let x = buf(be, &data(15, BIG, -2.0, 2.0));
        let y = be.alloc(BIG).unwrap();
        let mask = be.alloc(BIG).unwrap();
        dropout::forward(
            be,
            &DropoutForward {
                x,
                y,
                mask,
                n: BIG,
                p: 0.25,
                scale: 1.0 / 0.75,
                seed: 1234,
                stream: 5,
                step: 6,
                step_block: None,
            },
        )
        .unwrap();
        vec![("y".into(), read(be, y)), ("mask".into(), read(be, mask))]
    });
}

#[test]
fn losses_and_metrics() {
    let (rows, cols) = (300, 70);
    let cases = [
        (LossKind::Mse, TargetKind::Dense),
        (LossKind::Mae, TargetKind::Dense),
        (LossKind::Huber(0.7), TargetKind::Dense),
        (LossKind::Bce, TargetKind::Dense),
        (LossKind::BceWithLogits, TargetKind::Dense),
        (LossKind::CrossEntropy, TargetKind::Dense),
        (LossKind::CrossEntropy, TargetKind::ClassIndex),
        (LossKind::Nll, TargetKind::Dense),
        (LossKind::Nll, TargetKind::ClassIndex),
        (LossKind::KlDiv, TargetKind::Dense),
    ];
    for (kind, tk) in cases {
        same_bits(&format!("loss {kind:?} {tk:?}"), |be| {
            let (lo, hi) = if kind == LossKind::Bce {
                (0.01, 0.99)
            } else {
                (-3.0, 3.0)
            };
            let pred = buf(be, &data(16, rows * cols, lo, hi));
            let target = match tk {
                TargetKind::Dense => buf(be, &data(17, rows * cols, 0.0, 1.0)),
                TargetKind::ClassIndex => {
                    let mut r = Rng::new(18);
                    let labels: Vec<i32> = (0..rows).map(|_| r.index(cols) as i32).collect();
                    let b = be.alloc_typed(DType::I32, &[rows]).unwrap();
                    be.upload_values(b, 0, HostData::I32(&labels)).unwrap();
                    b
                }
            };
            let grad = be.alloc(rows * cols).unwrap();
            let scalars = be.alloc(4).unwrap();
            loss::loss(
                be,
                &LossArgs {
                    kind,
                    target_kind: tk,
                    rows,
                    cols,
                    pred,
                    target,
                    grad,
                    loss_out: scalars,
                    loss_index: 0,
                    running_index: None,
                },
            )
            .unwrap();
            reduce::accumulate_scalar(be, scalars, 0, scalars, 1).unwrap();
            reduce::accumulate_scalar(be, scalars, 0, scalars, 1).unwrap();
            reduce::count_correct(
                be,
                &CountCorrect {
                    pred,
                    target,
                    target_kind: tk,
                    from_logits: false,
                    rows,
                    cols,
                    out: scalars,
                    out_index: 2,
                },
            )
            .unwrap();
            vec![
                ("grad".into(), read(be, grad)),
                ("loss, sum, correct".into(), read(be, scalars)[..3].to_vec()),
            ]
        });
    }
}

#[test]
fn sum_squares_and_clipping() {
    same_bits("sum_squares + clip_by_global_norm", |be| {
        let g0 = buf(be, &data(19, BIG, -1.0, 1.0));
        let g1 = buf(be, &data(20, 777, -1.0, 1.0));
        let partials = be.alloc(2).unwrap();
        sum_squares(be, g0, BIG, partials, 0).unwrap();
        sum_squares(be, g1, 777, partials, 1).unwrap();
        reduce::clip_by_global_norm(
            be,
            &ClipByGlobalNorm {
                grad: g0,
                n: BIG,
                partials,
                count: 2,
                max_norm: 1.5,
            },
        )
        .unwrap();
        reduce::clip_by_global_norm(
            be,
            &ClipByGlobalNorm {
                grad: g1,
                n: 777,
                partials,
                count: 2,
                max_norm: 1.5,
            },
        )
        .unwrap();
        vec![
            ("partials".into(), read(be, partials)),
            ("g0".into(), read(be, g0)),
            ("g1".into(), read(be, g1)),
        ]
    });
}

#[test]
fn optimizer_steps() {
    let kinds: [OptimizerKind; 6] = [
        optim::sgd(0.1),
        optim::sgd_momentum(0.1, 0.9, true, 0.01),
        optim::adam(0.01),
        optim::adamw(0.01, 0.1),
        optim::rmsprop(0.01),
        OptimizerKind::RmsProp {
            lr: 0.01,
            alpha: 0.9,
            eps: 1e-7,
            momentum: 0.8,
            weight_decay: 0.01,
        },
    ];
    for kind in kinds {
        same_bits(&format!("optimizer {kind:?}"), |be| {
            let w = buf(be, &data(21, BIG, -1.0, 1.0));
            let g = be.alloc(BIG).unwrap();
            let s0 = be.alloc(BIG).unwrap();
            let s1 = be.alloc(BIG).unwrap();
            for t in 1..=3u64 {
                be.upload(g, 0, &data(21 + t, BIG, -1.0, 1.0)).unwrap();
                let step = OptimizerStep::new(kind, t, w, g, [Some(s0), Some(s1)], BIG);
                optimizer::step(be, &step).unwrap();
            }
            let mut out = vec![("w".to_string(), read(be, w))];
            for (i, s) in [s0, s1].into_iter().enumerate().take(kind.state_count()) {
                out.push((format!("state {i}"), read(be, s)));
            }
            out
        });
    }
}

// ---------------------------------------------------------------- a model end to end

/// Residual MLP with dropout, batch 256 × 128 hidden units (32 768 values per activation):
/// `x → Dense(128, relu) → Dropout(0.2) → Dense(128, gelu) → add(·, first) → Dense(10)`.
/// Loss bits per step, named weight bits, prediction bits.
type TrainBits = (Vec<u32>, Vec<(String, Vec<u32>)>, Vec<u32>);

fn train_mlp(threads: usize) -> TrainBits {
    let g = Graph::new();
    let x = g.input([64]);
    let h1 = Dense::new(128).relu().apply(&x);
    let d = Dropout::new(0.2).apply(&h1);
    let h2 = Dense::new(128).activation(Activation::GeluTanh).apply(&d);
    let r = add(&[&h2, &h1]);
    let y = Dense::new(10).apply(&r);
    let mut m = Model::with_seed(&[&x], &[&y], 42).unwrap();
    m.to_device(Device::cpu_threads(threads)).unwrap();
    m.compile(optim::adam(0.01), Loss::cross_entropy()).unwrap();
    m.set_clip_norm(Some(0.5)).unwrap();
    let rows = 256;
    let xs = Tensor::new([rows, 64], data(30, rows * 64, -1.0, 1.0)).unwrap();
    let mut rng = Rng::new(31);
    let labels: Vec<i32> = (0..rows).map(|_| rng.index(10) as i32).collect();
    let ys = Tensor::from_i32([rows, 1], labels).unwrap();
    let mut losses = Vec::new();
    for _ in 0..6 {
        losses.push(m.train_on_batch(&xs, &ys).unwrap().to_bits());
    }
    let weights = m
        .weights()
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.data().iter().map(|v| v.to_bits()).collect()))
        .collect();
    let pred = m
        .predict(&xs)
        .unwrap()
        .data()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    (losses, weights, pred)
}

#[test]
fn mlp_training_is_thread_count_independent() {
    let (l1, w1, p1) = train_mlp(1);
    let (l2, w2, p2) = train_mlp(2);
    let f = |v: &[u32]| v.iter().map(|b| f32::from_bits(*b)).collect::<Vec<_>>();
    assert!(
        f32::from_bits(l1[5]) < f32::from_bits(l1[0]),
        "the model must actually train: losses {:?}",
        f(&l1)
    );
    assert_eq!(l1, l2, "losses: {:?} vs {:?}", f(&l1), f(&l2));
    assert_eq!(w1.len(), w2.len());
    for ((name, a), (_, b)) in w1.iter().zip(&w2) {
        let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert_eq!(differ, 0, "weight {name}: {differ} values differ");
    }
    assert_eq!(p1, p2, "predictions differ");
}
