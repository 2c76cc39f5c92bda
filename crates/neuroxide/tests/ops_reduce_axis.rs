//! `ops::reduce::reduce_axis` (sum and mean over any axis of up to four) and the parallel
//! chunked sum of squares on the CPU: bit for bit against a plain restatement of rule 2a, close
//! to a float64 reference, identical on 1 and 2 threads, clear errors on bad shapes.

mod common;

use common::Rng;
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::reduce::{
    chunked, chunked_parallel, reduce_axis, sum_squares, AxisReduction, ReduceAxis, CHUNK,
};
use neuroxide::{Backend, BufId};

fn upload(be: &mut CpuBackend, v: &[f32]) -> BufId {
    let id = be.alloc(v.len()).unwrap();
    be.upload(id, 0, v).unwrap();
    id
}

fn get(be: &mut CpuBackend, id: BufId) -> Vec<f32> {
    let mut v = vec![0.0; be.buf_len(id)];
    be.download(id, 0, &mut v).unwrap();
    v
}

/// Rule 2a written out: chunks of 256 from 0.0, then the partials in order from the first.
fn rule_2a(terms: &[f32]) -> f32 {
    let partials: Vec<f32> = terms
        .chunks(CHUNK)
        .map(|c| c.iter().fold(0.0f32, |acc, &v| acc + v))
        .collect();
    partials.iter().skip(1).fold(partials[0], |t, &p| t + p)
}

const SHAPES: [&[usize]; 6] = [
    &[1000],
    &[7, 600],
    &[600, 5],
    &[3, 300, 4],
    &[2, 3, 257, 5],
    &[5, 1, 2, 513],
];

fn run(threads: usize, shape: &[usize], axis: usize, kind: AxisReduction, x: &[f32]) -> Vec<f32> {
    let mut be = CpuBackend::new(threads);
    let xb = upload(&mut be, x);
    let a = ReduceAxis::new(xb, xb, shape, axis, kind).unwrap();
    let (outer, _, inner) = a.split();
    let out = be.alloc(outer * inner).unwrap();
    reduce_axis(&mut be, &ReduceAxis { out, ..a }).unwrap();
    get(&mut be, out)
}

#[test]
fn every_axis_follows_rule_2a() {
    let mut r = Rng::new(91);
    for shape in SHAPES {
        let numel: usize = shape.iter().product();
        let x = r.vec(numel, -3.0, 3.0);
        for axis in 0..shape.len() {
            let n = shape[axis];
            let outer: usize = shape[..axis].iter().product();
            let inner: usize = shape[axis + 1..].iter().product();
            let sum = run(2, shape, axis, AxisReduction::Sum, &x);
            let mean = run(2, shape, axis, AxisReduction::Mean, &x);
            for o in 0..outer {
                for j in 0..inner {
                    let terms: Vec<f32> = (0..n).map(|i| x[(o * n + i) * inner + j]).collect();
                    let want = rule_2a(&terms);
                    let q = o * inner + j;
                    let ctx = format!("{shape:?} axis {axis} output {q}");
                    assert_eq!(sum[q].to_bits(), want.to_bits(), "{ctx}: sum");
                    assert_eq!(
                        mean[q].to_bits(),
                        (want / n as f32).to_bits(),
                        "{ctx}: mean"
                    );
                    let wide: f64 = terms.iter().map(|&v| v as f64).sum();
                    assert!((sum[q] as f64 - wide).abs() < 1e-5 * n as f64, "{ctx}");
                }
            }
        }
    }
}

#[test]
fn one_and_two_threads_agree() {
    let mut r = Rng::new(92);
    for (shape, axis) in [
        (&[40_000usize][..], 0),
        (&[70, 600][..], 1),
        (&[300, 2, 70][..], 0),
    ] {
        let x = r.vec(shape.iter().product(), -1.0, 1.0);
        for kind in [AxisReduction::Sum, AxisReduction::Mean] {
            let (one, two) = (run(1, shape, axis, kind, &x), run(2, shape, axis, kind, &x));
            assert!(one.iter().any(|&v| v != 0.0));
            for (a, b) in one.iter().zip(&two) {
                assert_eq!(a.to_bits(), b.to_bits(), "{shape:?} axis {axis} {kind:?}");
            }
        }
    }
}

#[test]
fn parallel_chunked_sum_of_squares_is_the_chunked_order() {
    let mut r = Rng::new(93);
    for n in [
        1,
        CHUNK - 1,
        CHUNK,
        64 * CHUNK + 3,
        1024 * CHUNK,
        2500 * CHUNK + 7,
    ] {
        let x = r.vec(n, -2.0, 2.0);
        let want = chunked(n, |acc, i| x[i].mul_add(x[i], acc));
        for threads in [1, 2] {
            let be = CpuBackend::new(threads);
            let got = chunked_parallel(be.pool(), n, &|acc, i| x[i].mul_add(x[i], acc));
            assert_eq!(got.to_bits(), want.to_bits(), "n = {n}, {threads} threads");
            let mut be = CpuBackend::new(threads);
            let xb = upload(&mut be, &x);
            let out = be.alloc(2).unwrap();
            sum_squares(&mut be, xb, n, out, 1).unwrap();
            assert_eq!(
                get(&mut be, out)[1].to_bits(),
                want.to_bits(),
                "sum_squares n = {n}"
            );
        }
    }
}

#[test]
fn bad_shapes_are_refused() {
    let id = BufId(0);
    let err = ReduceAxis::new(id, id, &[2, 3, 4, 5, 6], 0, AxisReduction::Sum).unwrap_err();
    assert!(err.to_string().contains("5 axes"), "{err}");
    let err = ReduceAxis::new(id, id, &[2, 3], 2, AxisReduction::Sum).unwrap_err();
    assert!(err.to_string().contains("axis 2"), "{err}");
    let mut be = CpuBackend::new(1);
    let x = upload(&mut be, &[1.0; 6]);
    let out = be.alloc(2).unwrap();
    let a = ReduceAxis::new(x, out, &[2, 0, 3], 1, AxisReduction::Mean).unwrap();
    let err = reduce_axis(&mut be, &a).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let a = ReduceAxis::new(x, out, &[2, 4], 1, AxisReduction::Sum).unwrap();
    let err = reduce_axis(&mut be, &a).unwrap_err();
    assert!(err.to_string().contains("reduce_axis"), "{err}");
}
