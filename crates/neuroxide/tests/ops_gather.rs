//! `ops::gather` on the CPU: index-select along every axis against a naive copy, the backward
//! against rule 2a written out (repeated indices, unnamed rows, invalid indices skipped), 1 and
//! 2 threads bit-identical.

mod common;

use common::Rng;
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::dtype::{DType, HostData};
use neuroxide::ops::gather::{gather, gather_backward, Gather};
use neuroxide::ops::reduce::CHUNK;
use neuroxide::{Backend, BufId};

fn up(be: &mut CpuBackend, v: &[f32]) -> BufId {
    let id = be.alloc(v.len().max(1)).unwrap();
    be.upload(id, 0, v).unwrap();
    id
}

fn up_ids(be: &mut CpuBackend, v: &[i32]) -> BufId {
    let id = be.alloc_typed(DType::I32, &[v.len().max(1)]).unwrap();
    be.upload_values(id, 0, HostData::I32(v)).unwrap();
    id
}

fn get(be: &mut CpuBackend, id: BufId) -> Vec<f32> {
    let mut v = vec![0.0; be.buf_len(id)];
    be.download(id, 0, &mut v).unwrap();
    v
}

/// (x, y, dy, dx) for one case.
fn run(threads: usize, shape: &[usize], axis: usize, index: &[i32], r: &mut Rng) -> Vec<Vec<f32>> {
    let mut be = CpuBackend::new(threads);
    let xv = r.vec(shape.iter().product(), -2.0, 2.0);
    let (x, ib) = (up(&mut be, &xv), up_ids(&mut be, index));
    let g = Gather::new(x, shape, axis, ib, index.len(), x).unwrap();
    let y = be.alloc(g.outer * g.m * g.inner).unwrap();
    let g = Gather { y, ..g };
    gather(&mut be, &g).unwrap();
    let dyv = r.vec(g.outer * g.m * g.inner, -1.0, 1.0);
    let dy = up(&mut be, &dyv);
    let dx = be.alloc(xv.len()).unwrap();
    gather_backward(&mut be, &Gather { x: dx, y: dy, ..g }).unwrap();
    vec![xv, get(&mut be, y), dyv, get(&mut be, dx)]
}

#[test]
fn forward_and_backward_follow_the_contract() {
    let mut r = Rng::new(51);
    let long: Vec<i32> = (0..700).map(|i| [2, 0, 5, 2, -1, 99][i % 6]).collect();
    let cases: [(&[usize], usize, Vec<i32>); 4] = [
        (&[6, 4], 0, vec![3, 0, 3, 5, 9, i32::MIN]),
        (&[2, 6, 3], 1, long.clone()),
        (&[3, 2, 6], 2, vec![5, 1, 1]),
        (&[2, 3, 6, 2], 2, long),
    ];
    for (shape, axis, index) in cases {
        let v = run(2, shape, axis, &index, &mut r);
        let (x, y, dy, dx) = (&v[0], &v[1], &v[2], &v[3]);
        let (outer, n): (usize, usize) = (shape[..axis].iter().product(), shape[axis]);
        let inner: usize = shape[axis + 1..].iter().product();
        let m = index.len();
        let row = |id: i32| usize::try_from(id).ok().filter(|&v| v < n);
        for o in 0..outer {
            for (q, &id) in index.iter().enumerate() {
                for j in 0..inner {
                    let got = y[(o * m + q) * inner + j];
                    let want = row(id).map_or(0.0, |v| x[(o * n + v) * inner + j]);
                    assert_eq!(got.to_bits(), want.to_bits(), "{shape:?} axis {axis} y");
                }
            }
            for want_row in 0..n {
                for j in 0..inner {
                    let partials: Vec<f32> = (0..m)
                        .collect::<Vec<_>>()
                        .chunks(CHUNK)
                        .map(|c| {
                            c.iter()
                                .filter(|&&q| row(index[q]) == Some(want_row))
                                .fold(0.0f32, |acc, &q| acc + dy[(o * m + q) * inner + j])
                        })
                        .collect();
                    let want = partials.iter().skip(1).fold(partials[0], |t, &p| t + p);
                    let got = dx[(o * n + want_row) * inner + j];
                    assert_eq!(got.to_bits(), want.to_bits(), "{shape:?} axis {axis} dx");
                }
            }
        }
    }
}

#[test]
fn one_and_two_threads_agree() {
    let index: Vec<i32> = (0..300).map(|i| (i * 7) % 50).collect();
    let one = run(1, &[4, 50, 90], 1, &index, &mut Rng::new(52));
    let two = run(2, &[4, 50, 90], 1, &index, &mut Rng::new(52));
    for (a, b) in one.iter().zip(&two) {
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
    assert!(one[3].iter().any(|&v| v != 0.0));
}
