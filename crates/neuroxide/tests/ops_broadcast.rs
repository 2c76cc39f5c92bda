//! `ops::broadcast` on the CPU: add and multiply under numpy broadcasting against a naive
//! computation, the backward reductions against rule 2a written out (and a float64 sum),
//! 1 and 2 threads bit-identical, and shapes that do not broadcast refused.

mod common;

use common::Rng;
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::broadcast::{broadcast, broadcast_backward, Broadcast, BroadcastOp};
use neuroxide::ops::reduce::CHUNK;
use neuroxide::{Backend, BufId};

fn up(be: &mut CpuBackend, v: &[f32]) -> BufId {
    let id = be.alloc(v.len()).unwrap();
    be.upload(id, 0, v).unwrap();
    id
}

fn get(be: &mut CpuBackend, id: BufId) -> Vec<f32> {
    let mut v = vec![0.0; be.buf_len(id)];
    be.download(id, 0, &mut v).unwrap();
    v
}

/// Padded 4-axis shape, coordinates and broadcast index, written out independently.
fn pad(s: &[usize]) -> [usize; 4] {
    let mut d = [1; 4];
    d[4 - s.len()..].copy_from_slice(s);
    d
}
fn index(d: [usize; 4], c: [usize; 4]) -> usize {
    (0..4).fold(0, |i, a| i * d[a] + if d[a] == 1 { 0 } else { c[a] })
}
fn coords(d: [usize; 4], mut i: usize) -> [usize; 4] {
    let mut c = [0; 4];
    for a in (0..4).rev() {
        c[a] = i % d[a];
        i /= d[a];
    }
    c
}

const CASES: [(&[usize], &[usize]); 6] = [
    (&[5, 7], &[7]),
    (&[600, 3], &[1, 3]),
    (&[3, 1, 5], &[4, 1]),
    (&[2, 3, 4, 5], &[2, 3, 4, 5]),
    (&[1], &[2, 300, 3]),
    (&[2, 1, 300, 1], &[1, 3, 1, 2]),
];

/// (y, da, db) for one case on `threads` threads.
fn run(threads: usize, sa: &[usize], sb: &[usize], op: BroadcastOp, r: &mut Rng) -> Vec<Vec<f32>> {
    let mut be = CpuBackend::new(threads);
    let (na, nb) = (sa.iter().product(), sb.iter().product());
    let (av, bv) = (r.vec(na, -2.0, 2.0), r.vec(nb, -2.0, 2.0));
    let (a, b) = (up(&mut be, &av), up(&mut be, &bv));
    let f = Broadcast::new(a, sa, b, sb, a, op).unwrap();
    let n = f.out_dims.numel();
    let y = be.alloc(n).unwrap();
    let f = Broadcast { y, ..f };
    broadcast(&mut be, &f).unwrap();
    let dy = up(&mut be, &r.vec(n, -1.0, 1.0));
    let (da, db) = (be.alloc(na).unwrap(), be.alloc(nb).unwrap());
    broadcast_backward(&mut be, &f.grad_a(dy, da)).unwrap();
    broadcast_backward(&mut be, &f.grad_b(dy, db)).unwrap();
    vec![
        av,
        bv,
        get(&mut be, dy),
        get(&mut be, y),
        get(&mut be, da),
        get(&mut be, db),
    ]
}

#[test]
fn forward_and_backward_follow_the_contract() {
    let mut r = Rng::new(61);
    for (sa, sb) in CASES {
        for op in [BroadcastOp::Add, BroadcastOp::Mul] {
            let v = run(2, sa, sb, op, &mut r);
            let (av, bv, dy, y) = (&v[0], &v[1], &v[2], &v[3]);
            let (da, db) = (&v[4], &v[5]);
            let (ad, bd) = (pad(sa), pad(sb));
            let od: [usize; 4] = std::array::from_fn(|i| ad[i].max(bd[i]));
            for (o, &got) in y.iter().enumerate() {
                let c = coords(od, o);
                let (p, q) = (av[index(ad, c)], bv[index(bd, c)]);
                let want = if op == BroadcastOp::Mul { p * q } else { p + q };
                assert_eq!(got.to_bits(), want.to_bits(), "{sa:?} {sb:?} {op:?} y[{o}]");
            }
            for (d, dims, other, odims) in [(da, ad, bv, bd), (db, bd, av, ad)] {
                for (e, &got) in d.iter().enumerate() {
                    // The terms of e in increasing output index, then rule 2a.
                    let terms: Vec<f32> = (0..od.iter().product())
                        .filter(|&o| index(dims, coords(od, o)) == e)
                        .map(|o| (dy[o], other[index(odims, coords(od, o))]))
                        .map(|(g, z)| if op == BroadcastOp::Mul { g * z } else { g })
                        .collect();
                    let fold = |chunk: &[usize]| {
                        chunk.iter().fold(0.0f32, |acc, &t| {
                            let o = (0..od.iter().product())
                                .filter(|&o| index(dims, coords(od, o)) == e)
                                .nth(t)
                                .unwrap();
                            match op {
                                BroadcastOp::Mul => {
                                    dy[o].mul_add(other[index(odims, coords(od, o))], acc)
                                }
                                BroadcastOp::Add => acc + dy[o],
                            }
                        })
                    };
                    let idx: Vec<usize> = (0..terms.len()).collect();
                    let partials: Vec<f32> = idx.chunks(CHUNK).map(fold).collect();
                    let want = partials.iter().skip(1).fold(partials[0], |t, &p| t + p);
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{sa:?} {sb:?} {op:?} grad {e}"
                    );
                    let wide: f64 = terms.iter().map(|&t| t as f64).sum();
                    assert!((got as f64 - wide).abs() < 1e-4 * (1.0 + terms.len() as f64));
                }
            }
        }
    }
}

#[test]
fn one_and_two_threads_agree() {
    for op in [BroadcastOp::Add, BroadcastOp::Mul] {
        let one = run(1, &[40, 1, 500], &[1, 3, 500], op, &mut Rng::new(62));
        let two = run(2, &[40, 1, 500], &[1, 3, 500], op, &mut Rng::new(62));
        for (a, b) in one.iter().zip(&two) {
            assert!(
                a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{op:?}"
            );
        }
    }
}

#[test]
fn shapes_that_do_not_broadcast_are_refused() {
    let id = BufId(0);
    let err = Broadcast::new(id, &[3, 4], id, &[5, 4], id, BroadcastOp::Add).unwrap_err();
    assert!(err.to_string().contains("do not broadcast"), "{err}");
}
