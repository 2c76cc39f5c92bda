//! CPU vs CUDA parity, kernel by kernel (PARITY.md "How parity is proven").
//!
//! Every test draws fresh random inputs (the seed is printed; set `NEUROXIDE_TEST_SEED` to
//! replay one), runs the same `Backend` calls on `CpuBackend::new(2)` and on `CudaBackend`, and
//! compares the outputs with `to_bits()`. Pass = 0 differing elements. NaNs compare equal
//! whatever their payload (x86 propagates an input NaN's payload, CUDA returns the canonical
//! NaN; neither is a numeric difference). Shapes include odd, tile-unaligned and large sizes.
//! Without a usable GPU every test prints `skipped: <reason>` and passes (fails under
//! `NEUROXIDE_REQUIRE_CUDA=1`). Optimizer updates: cuda_optimizer.rs; math, allocator and
//! memory limits: cuda_math_memory.rs.

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;
use neuroxide::ops;
use neuroxide::ops::copy::Copy2d;
use neuroxide::ops::dropout::{self, DropoutForward};
use neuroxide::ops::elementwise::{self, ActivationBackward, ActivationForward};
use neuroxide::ops::loss;
use neuroxide::ops::loss::LossArgs;
use neuroxide::ops::matmul::Matmul;
use neuroxide::ops::reduce::{self, ClipByGlobalNorm, CountCorrect};
use neuroxide::ops::softmax::{self, Softmax, SoftmaxBackward};
use parity_pair::{edge_values, rng, Pair, Rng};

use neuroxide::backend::{Activation, Backend, LossKind, StepBlock, TargetKind};
use neuroxide::ops::reduce::{column_sums, sum_squares, ColumnSums};

const ACTIVATIONS: [Activation; 13] = [
    Activation::Linear,
    Activation::Relu,
    Activation::LeakyRelu(0.1),
    Activation::Elu(1.0),
    Activation::Elu(0.3),
    Activation::Selu,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::GeluTanh,
    Activation::GeluErf,
    Activation::Silu,
    Activation::Softplus,
    Activation::LeakyRelu(0.01),
];

/// Inputs of every class: random normal range, wide range, and the edge cases.
fn activation_inputs(r: &mut Rng, n: usize) -> Vec<f32> {
    let mut v = r.vec(n / 2, -6.0, 6.0);
    v.extend(r.vec(n / 4, -100.0, 100.0));
    v.extend((0..n / 4).map(|_| f32::from_bits(r.next() as u32)));
    v.extend_from_slice(&[
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-40,
        -1e-40,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        20.0,
        20.000002,
        -20.0,
        88.72,
        -87.33,
        -103.97,
        9.0,
        -9.0,
        f32::MAX,
        f32::MIN,
    ]);
    v
}

// ---------------------------------------------------------------- tests

#[test]
fn matmul_signed_zero_sums_and_underflow_rule_2b() {
    // Products that underflow to −0 make an accumulator −0; a zero-padded k-tile term added to
    // it would turn it into +0 (PARITY rule 2b). k values straddle both kernels' tile sizes.
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("matmul_rule_2b");
    let edges = edge_values();
    for &(m, k, n) in &[
        (5, 3, 7),
        (9, 15, 4),
        (130, 9, 129),
        (131, 17, 140),
        (2, 1, 2),
        (257, 45, 260),
        (97, 33, 129),
        // Long k (the k-tile-128 variants), k not a multiple of 128: small and mid kernels.
        (7, 601, 5),
        (200, 523, 300),
        // Enough 128x128 tiles for the large-shape kernels: ragged everywhere, and aligned rows
        // (16-byte loads) with a partial last k-tile.
        (1100, 45, 1030),
        (1024, 52, 1152),
    ] {
        for (a_trans, b_trans) in [(false, false), (true, true), (false, true), (true, false)] {
            // A: tiny negatives, B: tiny positives (every product underflows to −0), with
            // some edge values and ordinary numbers mixed into a third of the rows.
            let a: Vec<f32> = (0..m * k)
                .map(|i| match i % 5 {
                    0 => edges[r.below(edges.len())],
                    _ => -1e-30,
                })
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| {
                    if i % 7 == 0 {
                        r.range(-1.0, 1.0)
                    } else {
                        1e-30
                    }
                })
                .collect();
            let (a, b) = (p.buf(&a), p.buf(&b));
            let c = p.out(m * n);
            let mm = Matmul {
                m,
                n,
                k,
                a,
                a_trans,
                b,
                b_trans,
                c,
                bias: None,
                pre_act: None,
                act: Activation::Linear,
            };
            p.run(|be| ops::matmul::matmul(be, &mm));
            p.check(
                &format!("matmul rule 2b {m}x{k}x{n} ta={a_trans} tb={b_trans}"),
                c,
            );
        }
    }
    p.finish("matmul_signed_zero_sums_and_underflow_rule_2b");
}

#[test]
fn matmul_all_transposes_bias_activations_and_shapes() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("matmul");
    // (m, k, n): tiny, odd, tile-unaligned, the small, mid and 128x128 kernels' paths.
    let shapes = [
        (1, 1, 1),
        (3, 5, 7),
        (17, 33, 65),
        (64, 784, 10),
        (129, 127, 131),
        (512, 784, 256),
        (784, 512, 256),
        (300, 1, 257),
        (1100, 77, 1030),
        (1031, 515, 1283),
        (2048, 256, 2048),
        // Long k with few outputs (k-tiles of 128): small and mid kernels, odd sizes.
        (1, 513, 3),
        (128, 2048, 65),
        (33, 1000, 40),
        (200, 600, 300),
    ];
    let mut case = 0;
    for &(m, k, n) in &shapes {
        for (a_trans, b_trans) in [(false, false), (false, true), (true, false), (true, true)] {
            let act = ACTIVATIONS[case % ACTIVATIONS.len()];
            let with_bias = case % 3 != 1;
            let with_pre = case % 2 == 0;
            case += 1;
            let a = p.buf(&r.vec(m * k, -1.0, 1.0));
            let b = p.buf(&r.vec(k * n, -1.0, 1.0));
            let bias = with_bias.then(|| p.buf(&r.vec(n, -0.5, 0.5)));
            let c = p.out(m * n);
            let pre = with_pre.then(|| p.out(m * n));
            let mm = Matmul {
                m,
                n,
                k,
                a,
                a_trans,
                b,
                b_trans,
                c,
                bias,
                pre_act: pre,
                act,
            };
            p.run(|be| ops::matmul::matmul(be, &mm));
            let what =
                format!("matmul {m}x{k}x{n} ta={a_trans} tb={b_trans} {act:?} bias={with_bias}");
            p.check(&what, c);
            if let Some(pre) = pre {
                p.check(&format!("{what} pre_act"), pre);
            }
        }
    }
    p.finish("matmul_all_transposes_bias_activations_and_shapes");
}

#[test]
fn activations_forward_and_backward() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("activations");
    let xs = activation_inputs(&mut r, 200_001);
    let n = xs.len();
    let x = p.buf(&xs);
    let dy = p.buf(&r.vec(n, -2.0, 2.0));
    let y = p.out(n);
    let dx = p.out(n);
    for act in ACTIVATIONS {
        p.run(|be| elementwise::activation_forward(be, &ActivationForward { act, x, y, n }));
        p.check(&format!("{act:?} forward"), y);
        p.run(|be| {
            elementwise::activation_backward(
                be,
                &ActivationBackward {
                    act,
                    x,
                    y,
                    dy,
                    dx,
                    n,
                },
            )
        });
        p.check(&format!("{act:?} backward"), dx);
    }
    p.finish("activations_forward_and_backward");
}

#[test]
fn softmax_and_log_softmax_forward_and_backward() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("softmax");
    for &(rows, cols) in &[
        (1, 1),
        (7, 3),
        (33, 100),
        (256, 1000),
        (3, 70_001),
        (4097, 31),
    ] {
        let n = rows * cols;
        let mut xs = r.vec(n, -30.0, 30.0);
        xs[r.below(n)] = -0.0;
        let x = p.buf(&xs);
        let dy = p.buf(&r.vec(n, -1.0, 1.0));
        let y = p.out(n);
        let dx = p.out(n);
        for log in [false, true] {
            p.run(|be| {
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
            });
            p.check(&format!("softmax log={log} {rows}x{cols} forward"), y);
            p.run(|be| {
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
            });
            p.check(&format!("softmax log={log} {rows}x{cols} backward"), dx);
        }
    }
    p.finish("softmax_and_log_softmax_forward_and_backward");
}

#[test]
fn column_sums_and_elementwise_kernels() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("elementwise");
    for &(rows, cols) in &[(1, 1), (1000, 37), (3, 100_000), (513, 1025)] {
        let n = rows * cols;
        let x = p.buf(&r.vec(n, -100.0, 100.0));
        let o = p.out(cols);
        let sums = ColumnSums {
            x,
            out: o,
            rows,
            cols,
        };
        p.run(|be| column_sums(be, &sums));
        p.check(&format!("column_sums {rows}x{cols}"), o);
    }
    let n = 1_000_003;
    let a = p.buf(&r.vec(n, -10.0, 10.0));
    let b = p.buf(&r.vec(n, -10.0, 10.0));
    let o = p.out(n);
    p.run(|be| elementwise::add(be, a, b, o, n));
    p.check("add", o);
    p.run(|be| elementwise::mul(be, a, b, o, n));
    p.check("mul", o);
    p.run(|be| elementwise::add_assign(be, o, a, n - 5));
    p.check("add_assign", o);
    p.run(|be| elementwise::scale(be, o, n - 7, 0.3));
    p.check("scale", o);
    p.run(|be| elementwise::fill(be, o, 12_345, -1.25));
    p.check("fill", o);
    // The weight average: edge values (signed zeros, denormals, huge magnitudes) in both
    // operands, an odd length, and factors of a warming-up step and of decay 0.999.
    let mut avg0 = edge_values();
    avg0.extend(r.vec(1001, -3.0, 3.0));
    let mut x0 = r.vec(1001, -3.0, 3.0);
    x0.extend(edge_values().iter().rev());
    let (avg, x) = (p.buf(&avg0), p.buf(&x0));
    let m = avg0.len();
    for keep in [2.0f32 / 11.0, 0.999] {
        let mut block = [0.0f32; StepBlock::LEN];
        StepBlock::set_ema(&mut block, keep);
        let blk = p.buf(&block);
        p.run(|be| elementwise::moving_average(be, avg, x, m, blk));
        p.check(&format!("moving_average keep {keep}"), avg);
    }
    p.run(|be| elementwise::swap(be, avg, x, m - 3));
    p.check("swap (a)", avg);
    p.check("swap (b)", x);
    let c = Copy2d {
        rows: 77,
        cols: 301,
        src: a,
        src_offset: 13,
        src_stride: 1000,
        dst: o,
        dst_offset: 5,
        dst_stride: 400,
    };
    p.run(|be| ops::copy::copy_2d(be, &c));
    p.check("copy_2d", o);
    let same = Copy2d {
        rows: 50,
        cols: 100,
        src: o,
        src_offset: 0,
        src_stride: 300,
        dst: o,
        dst_offset: 200,
        dst_stride: 300,
    };
    p.run(|be| ops::copy::copy_2d(be, &same));
    p.check("copy_2d within one buffer", o);
    // Several contiguous copies in one launch (the staged batch), odd lengths.
    let srcs: Vec<_> = [1usize, 777, 65_537]
        .iter()
        .map(|&m| (p.buf(&r.vec(m, -3.0, 3.0)), p.out(m + 3), m))
        .collect();
    let pairs: Vec<_> = srcs.iter().map(|&(s, d, m)| (s, d, m)).collect();
    p.run(|be| ops::copy::copy_many(be, &pairs));
    for (i, &(_, d, _)) in srcs.iter().enumerate() {
        p.check(&format!("copy_many pair {i}"), d);
    }
    p.finish("column_sums_and_elementwise_kernels");
}

#[test]
fn dropout_masks_match() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("dropout");
    let n = 1_000_003;
    let x = p.buf(&r.vec(n, -1.0, 1.0));
    let y = p.out(n);
    let mask = p.out(n);
    for &prob in &[0.1f32, 0.5, 0.9] {
        let seed = r.next();
        let (stream, step) = (r.next() as u32, r.next() as u32);
        let scale = 1.0 / (1.0 - prob);
        p.run(|be| {
            dropout::forward(
                be,
                &DropoutForward {
                    x,
                    y,
                    mask,
                    n,
                    p: prob,
                    scale,
                    seed,
                    stream,
                    step,
                    step_block: None,
                },
            )
        });
        p.check(&format!("dropout p={prob} mask"), mask);
        p.check(&format!("dropout p={prob} y"), y);
    }
    p.finish("dropout_masks_match");
}

#[test]
fn losses_all_kinds_both_target_kinds() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("loss");
    let kinds = [
        LossKind::Mse,
        LossKind::Mae,
        LossKind::Huber(1.0),
        LossKind::Huber(0.25),
        LossKind::Bce,
        LossKind::BceWithLogits,
        LossKind::CrossEntropy,
        LossKind::Nll,
        LossKind::KlDiv,
    ];
    // Slots 0..4: loss values (poisoned, so an unwritten one shows); 4, 5: running sums.
    let poison = f32::from_bits(0x7fa5_a5a5);
    let loss_out = p.buf(&[poison, poison, poison, poison, 0.0, 0.0]);
    for &(rows, cols) in &[
        (1, 1),
        (64, 10),
        (333, 7),
        (1024, 1000),
        (5, 40_000),
        (4099, 3),
    ] {
        let n = rows * cols;
        let grad = p.out(n);
        for kind in kinds {
            let pred_v = match kind {
                LossKind::Bce => r.vec(n, -0.1, 1.1),
                LossKind::Nll | LossKind::KlDiv => r.vec(n, -8.0, 0.0),
                _ => r.vec(n, -5.0, 5.0),
            };
            let dense_v: Vec<f32> = match kind {
                LossKind::Bce | LossKind::BceWithLogits => (0..n)
                    .map(|_| if r.unit() < 0.5 { 0.0 } else { 1.0 })
                    .collect(),
                LossKind::CrossEntropy | LossKind::Nll | LossKind::KlDiv => {
                    let mut t = r.vec(n, 0.0, 1.0);
                    for row in t.chunks_mut(cols) {
                        let z = r.below(cols);
                        row[z] = 0.0;
                        let s: f32 = row.iter().sum();
                        row.iter_mut().for_each(|v| *v /= s.max(1e-6));
                    }
                    t
                }
                _ => r.vec(n, -5.0, 5.0),
            };
            let pred = p.buf(&pred_v);
            let dense = p.buf(&dense_v);
            let mut targets = vec![(TargetKind::Dense, dense)];
            if matches!(kind, LossKind::CrossEntropy | LossKind::Nll) {
                let labels: Vec<i32> = (0..rows).map(|_| r.below(cols) as i32).collect();
                targets.push((TargetKind::ClassIndex, p.ids(&labels)));
            }
            for (target_kind, target) in targets {
                let idx = r.below(4);
                let args = LossArgs {
                    kind,
                    target_kind,
                    rows,
                    cols,
                    pred,
                    target,
                    grad,
                    loss_out,
                    loss_index: idx,
                    // Half the cases also add the value to a running sum in slot 4 or 5.
                    running_index: idx.is_multiple_of(2).then_some(4 + r.below(2)),
                };
                p.run(|be| loss::loss(be, &args));
                let what = format!("loss {kind:?} {target_kind:?} {rows}x{cols}");
                p.check(&format!("{what} grad"), grad);
                p.check(&format!("{what} value"), loss_out);
            }
        }
    }
    p.finish("losses_all_kinds_both_target_kinds");
}

#[test]
fn invalid_class_index_is_an_error_on_both_backends() {
    let Some(mut p) = Pair::new() else { return };
    let (rows, cols) = (8, 5);
    let pred = p.buf(&vec![0.5; rows * cols]);
    let labels = p.ids(&[0, 1, 2, 7, 4, 0, 1, -1]);
    let grad = p.out(rows * cols);
    let out = p.out(1);
    let args = LossArgs {
        kind: LossKind::CrossEntropy,
        target_kind: TargetKind::ClassIndex,
        rows,
        cols,
        pred,
        target: labels,
        grad,
        loss_out: out,
        loss_index: 0,
        running_index: None,
    };
    let cpu_err = loss::loss(&mut p.cpu, &args).unwrap_err().to_string();
    loss::loss(&mut p.gpu, &args).unwrap(); // queued; the error surfaces at the next synchronisation
    let gpu_err = p.gpu.synchronize().unwrap_err().to_string();
    println!("cpu: {cpu_err}\ncuda: {gpu_err}");
    assert!(cpu_err.contains("row 3 is 7"), "{cpu_err}");
    assert!(gpu_err.contains("row 3 is 7"), "{gpu_err}");
    // The error is reported once; the backend stays usable.
    p.gpu.synchronize().unwrap();
    p.finish("invalid_class_index_is_an_error_on_both_backends");
}

#[test]
fn count_correct_accumulate_sum_squares_and_clipping() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("reduce");
    let out = p.zeros(8);
    for &(rows, cols) in &[(1, 1), (100, 1), (1000, 10), (77, 3)] {
        let n = rows * cols;
        // Quantised values make ties (first maximum wins) frequent.
        let pred = p.buf(
            &(0..n)
                .map(|_| (r.below(4) as f32) * 0.25)
                .collect::<Vec<_>>(),
        );
        let dense = p.buf(
            &(0..n)
                .map(|_| (r.below(3) as f32) * 0.5)
                .collect::<Vec<_>>(),
        );
        // i32 labels, `cols` (out of range: never counted) and -1 included.
        let labels = p.ids(
            &(0..rows)
                .map(|k| match k % 53 {
                    7 => -1,
                    _ => r.below(cols + 1) as i32,
                })
                .collect::<Vec<_>>(),
        );
        for from_logits in [false, true] {
            p.run(|be| {
                reduce::count_correct(
                    be,
                    &CountCorrect {
                        pred,
                        target: dense,
                        target_kind: TargetKind::Dense,
                        from_logits,
                        rows,
                        cols,
                        out,
                        out_index: 1,
                    },
                )
            });
            p.run(|be| {
                reduce::count_correct(
                    be,
                    &CountCorrect {
                        pred,
                        target: labels,
                        target_kind: TargetKind::ClassIndex,
                        from_logits,
                        rows,
                        cols,
                        out,
                        out_index: 2,
                    },
                )
            });
        }
        p.check(&format!("count_correct {rows}x{cols}"), out);
    }
    p.run(|be| reduce::accumulate_scalar(be, out, 1, out, 3));
    p.run(|be| reduce::accumulate_scalar(be, out, 2, out, 3));
    p.check("accumulate_scalar", out);

    let partials = p.zeros(3);
    for (t, &n) in [1usize, 3_000_017, 4099].iter().enumerate() {
        let g = p.buf(&r.vec(n, -0.01, 0.01));
        p.run(|be| sum_squares(be, g, n, partials, t));
    }
    p.check("sum_squares", partials);
    let n = 300_001;
    for max_norm in [1e-3f32, 1e6] {
        let g = p.buf(&r.vec(n, -1.0, 1.0));
        p.run(|be| {
            reduce::clip_by_global_norm(
                be,
                &ClipByGlobalNorm {
                    grad: g,
                    n,
                    partials,
                    count: 3,
                    max_norm,
                },
            )
        });
        p.check(&format!("clip_by_global_norm max_norm={max_norm}"), g);
    }
    p.finish("count_correct_accumulate_sum_squares_and_clipping");
}
