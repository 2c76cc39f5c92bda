//! The chunked reduction of PARITY rule 2a (`ops::reduce`): its one Rust definition against a
//! plain restatement of the rule (CPU, always runs), and the CPU op against the CUDA op bit for
//! bit on lengths 1, C−1, C, C+1 and large, with signed zeros, denormals and underflowing
//! products among the inputs.

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::ops::reduce::{
    chunked, column_sums, reduce_axis, sum_squares, AxisReduction, ColumnSums, ReduceAxis, CHUNK,
};
use parity_pair::{edge_values, rng, Pair, Rng};

const LENGTHS: [usize; 7] = [
    1,
    CHUNK - 1,
    CHUNK,
    CHUNK + 1,
    3 * CHUNK + 17,
    70_001,
    1 << 20,
];

/// Random values with the edge cases sprinkled in.
fn inputs(r: &mut Rng, n: usize) -> Vec<f32> {
    let edges = edge_values();
    (0..n)
        .map(|_| match r.below(8) {
            0 => edges[r.below(edges.len())],
            1 => r.range(-1e-20, 1e-20),
            _ => r.range(-10.0, 10.0),
        })
        .collect()
}

#[test]
fn chunked_follows_the_rule() {
    let mut r = rng("chunked_follows_the_rule");
    for n in LENGTHS {
        let x = inputs(&mut r, n);
        let partials: Vec<f32> = x
            .chunks(CHUNK)
            .map(|c| c.iter().fold(0.0f32, |acc, &v| acc + v))
            .collect();
        let want = partials[1..].iter().fold(partials[0], |t, &p| t + p);
        let got = chunked(n, |acc, i| acc + x[i]);
        assert_eq!(got.to_bits(), want.to_bits(), "n = {n}");
        if n <= CHUNK {
            let seq = x.iter().fold(0.0f32, |acc, &v| acc + v);
            assert_eq!(
                got.to_bits(),
                seq.to_bits(),
                "n = {n}: one chunk is the plain sum"
            );
        }
    }
    assert_eq!(chunked(0, |acc, _| acc + 1.0), 0.0);
}

#[test]
fn chunked_sum_of_signed_zeros_keeps_no_minus_zero() {
    // Every partial starts at +0.0, so an all −0 column sums to +0.0 on both backends.
    let x = vec![-0.0f32; 3 * CHUNK];
    assert_eq!(chunked(x.len(), |acc, i| acc + x[i]).to_bits(), 0);
}

#[test]
fn column_sums_and_sum_squares_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("column_sums_and_sum_squares_cpu_vs_cuda");
    for rows in LENGTHS {
        for cols in [1usize, 3, 33] {
            if rows * cols > 4 << 20 {
                continue;
            }
            let x = p.buf(&inputs(&mut r, rows * cols));
            let out = p.out(cols);
            let a = ColumnSums { x, out, rows, cols };
            p.run(|be| column_sums(be, &a));
            p.check(&format!("column_sums {rows}x{cols}"), out);
        }
        let x = p.buf(&inputs(&mut r, rows));
        let out = p.out(3);
        p.run(|be| sum_squares(be, x, rows, out, 1));
        p.check(&format!("sum_squares n={rows}"), out);
    }
    p.finish("column_sums_and_sum_squares_cpu_vs_cuda");
}

/// Sums and means over every axis of 1- to 4-axis shapes: contiguous rows of one chunk, a few
/// chunks and very many chunks (the one-block-per-row total), and axes with values after them.
#[test]
fn reduce_axis_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("reduce_axis_cpu_vs_cuda");
    let shapes: [&[usize]; 8] = [
        &[1],
        &[CHUNK + 1],
        &[3, CHUNK - 1],
        &[2, 3 * CHUNK + 17],
        &[70 * CHUNK + 5],
        &[2, 3, 257, 5],
        &[513, 2, 1, 3],
        &[1, 40, 33, 7],
    ];
    for shape in shapes {
        let numel: usize = shape.iter().product();
        let x = p.buf(&inputs(&mut r, numel));
        for axis in 0..shape.len() {
            for kind in [AxisReduction::Sum, AxisReduction::Mean] {
                let a = ReduceAxis::new(x, x, shape, axis, kind).unwrap();
                let (outer, _, inner) = a.split();
                let out = p.out(outer * inner);
                let a = ReduceAxis { out, ..a };
                p.run(|be| reduce_axis(be, &a));
                p.check(&format!("{shape:?} axis {axis} {kind:?}"), out);
            }
        }
    }
    // One long row: 1 << 22 values, 16384 chunk partials added by one block.
    let n = 1 << 22;
    let x = p.buf(&inputs(&mut r, n));
    let out = p.out(1);
    let a = ReduceAxis::new(x, out, &[n], 0, AxisReduction::Mean).unwrap();
    p.run(|be| reduce_axis(be, &a));
    p.check("one row of 2^22, mean", out);
    let out = p.out(2);
    p.run(|be| sum_squares(be, x, n, out, 1));
    p.check("sum_squares n=2^22", out);
    p.run(|be| sum_squares(be, x, 0, out, 0));
    p.check("sum_squares n=0", out);
    p.finish("reduce_axis_cpu_vs_cuda");
}
