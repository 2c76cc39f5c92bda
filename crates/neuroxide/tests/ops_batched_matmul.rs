//! `ops::batched_matmul` on the CPU: bit for bit against a naive restatement of its order, against
//! the exact `ops::matmul` entry by entry (the same per-element order), close to a float64
//! reference, identical on 1 and 2 threads, and with clear errors on bad operands.

mod common;

use common::Rng;
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::batched_matmul::{batched_matmul, BatchedMatmul};
use neuroxide::ops::matmul::{matmul, Matmul};
use neuroxide::{Activation, Backend, BufId};

/// One problem: sizes, transposes, strides (0 = broadcast), bias stride, activation.
#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    at: bool,
    bt: bool,
    sa: Option<usize>,
    sb: Option<usize>,
    bias: Option<usize>,
    act: Activation,
}

fn cases() -> Vec<Case> {
    let c = |batch, m, n, k, at, bt| Case {
        batch,
        m,
        n,
        k,
        at,
        bt,
        sa: None,
        sb: None,
        bias: None,
        act: Activation::Linear,
    };
    vec![
        c(3, 5, 7, 9, false, false),
        Case {
            bias: Some(0),
            act: Activation::Relu,
            ..c(4, 17, 33, 65, false, true)
        },
        Case {
            sa: Some(0),
            bias: Some(19),
            act: Activation::GeluTanh,
            ..c(5, 18, 19, 20, true, false)
        },
        Case {
            sb: Some(0),
            act: Activation::Tanh,
            ..c(2, 31, 1, 47, true, true)
        },
        c(2, 1, 70, 3, false, false),
        c(3, 4, 6, 0, false, true),
        Case {
            bias: Some(0),
            act: Activation::Silu,
            ..c(6, 9, 40, 130, false, false)
        },
    ]
}

struct Built {
    args: BatchedMatmul,
    x: Vec<f32>,
    y: Vec<f32>,
    bias: Vec<f32>,
}

fn build(be: &mut CpuBackend, case: Case, r: &mut Rng) -> Built {
    let (m, n, k) = (case.m, case.n, case.k);
    let sa = case.sa.unwrap_or(m * k);
    let sb = case.sb.unwrap_or(k * n);
    let span = |s: usize, e: usize| (case.batch - 1) * s + e;
    let x = r.vec(span(sa, m * k), -2.0, 2.0);
    let y = r.vec(span(sb, k * n), -2.0, 2.0);
    let bias = case.bias.map_or(vec![], |s| r.vec(span(s, n), -1.0, 1.0));
    let up = |be: &mut CpuBackend, v: &[f32]| -> BufId {
        let id = be.alloc(v.len().max(1)).unwrap();
        be.upload(id, 0, v).unwrap();
        id
    };
    let (xa, yb) = (up(be, &x), up(be, &y));
    let bias_id = case.bias.map(|_| up(be, &bias));
    let c = be.alloc(case.batch * m * n).unwrap();
    let pre = be.alloc(case.batch * m * n).unwrap();
    Built {
        args: BatchedMatmul {
            batch: case.batch,
            m,
            n,
            k,
            a: xa,
            a_trans: case.at,
            a_stride: sa,
            b: yb,
            b_trans: case.bt,
            b_stride: sb,
            c,
            bias: bias_id,
            bias_stride: case.bias.unwrap_or(0),
            pre_act: Some(pre),
            act: case.act,
        },
        x,
        y,
        bias,
    }
}

fn get(be: &mut CpuBackend, id: BufId) -> Vec<f32> {
    let mut v = vec![0.0; be.buf_len(id)];
    be.download(id, 0, &mut v).unwrap();
    v
}

fn operand(
    v: &[f32],
    base: usize,
    trans: bool,
    rows: usize,
    cols: usize,
    r: usize,
    c: usize,
) -> f32 {
    if trans {
        v[base + c * rows + r]
    } else {
        v[base + r * cols + c]
    }
}

#[test]
fn follows_the_documented_order_bit_for_bit() {
    let mut r = Rng::new(81);
    for case in cases() {
        let mut be = CpuBackend::new(2);
        let b = build(&mut be, case, &mut r);
        batched_matmul(&mut be, &b.args).unwrap();
        let (c, pre) = (
            get(&mut be, b.args.c),
            get(&mut be, b.args.pre_act.unwrap()),
        );
        let (m, n, k) = (case.m, case.n, case.k);
        for e in 0..case.batch {
            for i in 0..m {
                for j in 0..n {
                    let mut acc = 0.0f32;
                    let mut wide = 0.0f64;
                    for p in 0..k {
                        let av = operand(&b.x, e * b.args.a_stride, case.at, m, k, i, p);
                        let bv = operand(&b.y, e * b.args.b_stride, case.bt, k, n, p, j);
                        acc = av.mul_add(bv, acc);
                        wide += av as f64 * bv as f64;
                    }
                    let z = match case.bias {
                        Some(s) => acc + b.bias[e * s + j],
                        None => acc,
                    };
                    let o = (e * m + i) * n + j;
                    assert_eq!(pre[o].to_bits(), z.to_bits(), "{case:?}: pre ({e},{i},{j})");
                    let want = neuroxide::ops::elementwise::activation::forward(case.act, z);
                    assert_eq!(c[o].to_bits(), want.to_bits(), "{case:?}: c ({e},{i},{j})");
                    let tol = 1e-5 * (1.0 + k as f64 * 4.0);
                    assert!(
                        (acc as f64 - wide).abs() <= tol,
                        "{case:?}: {acc} vs f64 {wide}"
                    );
                }
            }
        }
    }
}

#[test]
fn each_entry_matches_the_exact_matmul() {
    let mut r = Rng::new(82);
    for case in cases().into_iter().filter(|c| c.k > 0) {
        let mut be = CpuBackend::new(2);
        let b = build(&mut be, case, &mut r);
        batched_matmul(&mut be, &b.args).unwrap();
        let c = get(&mut be, b.args.c);
        let (m, n, k) = (case.m, case.n, case.k);
        for e in 0..case.batch {
            let ea = be.alloc(m * k).unwrap();
            let ab = e * b.args.a_stride;
            be.upload(ea, 0, &b.x[ab..ab + m * k]).unwrap();
            let eb = be.alloc(k * n).unwrap();
            let bb = e * b.args.b_stride;
            be.upload(eb, 0, &b.y[bb..bb + k * n]).unwrap();
            let bias = case.bias.map(|s| {
                let id = be.alloc(n).unwrap();
                be.upload(id, 0, &b.bias[e * s..e * s + n]).unwrap();
                id
            });
            let out = be.alloc(m * n).unwrap();
            let mm = Matmul {
                m,
                n,
                k,
                a: ea,
                a_trans: case.at,
                b: eb,
                b_trans: case.bt,
                c: out,
                bias,
                pre_act: None,
                act: case.act,
            };
            matmul(&mut be, &mm).unwrap();
            let want = get(&mut be, out);
            for (q, (&g, &w)) in c[e * m * n..(e + 1) * m * n].iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), w.to_bits(), "{case:?}: entry {e} element {q}");
            }
        }
    }
}

#[test]
fn one_and_two_threads_agree() {
    let case = Case {
        batch: 3,
        m: 70,
        n: 90,
        k: 33,
        at: false,
        bt: true,
        sa: None,
        sb: Some(0),
        bias: Some(0),
        act: Activation::Relu,
    };
    let run = |threads| {
        let mut be = CpuBackend::new(threads);
        let b = build(&mut be, case, &mut Rng::new(83));
        batched_matmul(&mut be, &b.args).unwrap();
        (
            get(&mut be, b.args.c),
            get(&mut be, b.args.pre_act.unwrap()),
        )
    };
    let (one, two) = (run(1), run(2));
    assert!(one.0.iter().any(|&v| v != 0.0));
    for (a, b) in one.0.iter().chain(&one.1).zip(two.0.iter().chain(&two.1)) {
        assert_eq!(a.to_bits(), b.to_bits());
    }
}

#[test]
fn operands_too_small_are_refused() {
    let mut be = CpuBackend::new(1);
    let mut b = build(&mut be, cases()[0], &mut Rng::new(84));
    b.args.a_stride += 1;
    let err = batched_matmul(&mut be, &b.args).unwrap_err().to_string();
    assert!(
        err.contains("batched_matmul") && err.contains("needs"),
        "{err}"
    );
    b.args.a_stride -= 1;
    b.args.pre_act = Some(b.args.a);
    let err = batched_matmul(&mut be, &b.args).unwrap_err().to_string();
    assert!(err.contains("aliases"), "{err}");
}
