//! `ops::permute` on the CPU: every permutation of 2, 3 and 4 axes against a naive index
//! computation, a permutation followed by its inverse restores the input bit for bit, 1 and 2
//! threads agree, and bad permutations are refused with a clear error.

mod common;

use common::Rng;
use neuroxide::backend::cpu::CpuBackend;
use neuroxide::ops::permute::{permute, Permute};
use neuroxide::{Backend, BufId};

fn permutations(rank: usize) -> Vec<Vec<usize>> {
    if rank == 1 {
        return vec![vec![0]];
    }
    let mut out = Vec::new();
    for p in permutations(rank - 1) {
        for at in 0..rank {
            let mut q = p.clone();
            q.insert(at, rank - 1);
            out.push(q);
        }
    }
    out
}

fn run(threads: usize, shape: &[usize], perm: &[usize], x: &[f32]) -> Vec<f32> {
    let mut be = CpuBackend::new(threads);
    let xb = be.alloc(x.len()).unwrap();
    be.upload(xb, 0, x).unwrap();
    let y = be.alloc(x.len()).unwrap();
    permute(&mut be, &Permute::new(xb, y, shape, perm).unwrap()).unwrap();
    let mut out = vec![0.0; x.len()];
    be.download(y, 0, &mut out).unwrap();
    out
}

#[test]
fn every_permutation_moves_every_value() {
    let mut r = Rng::new(71);
    for shape in [&[3usize, 5][..], &[2, 3, 4][..], &[2, 3, 5, 7][..]] {
        let n: usize = shape.iter().product();
        let mut x = r.vec(n, -2.0, 2.0);
        x[0] = -0.0;
        x[n - 1] = f32::from_bits(0x7fc0_1234); // a NaN payload survives a copy
        let rank = shape.len();
        let strides: Vec<usize> = (0..rank).map(|a| shape[a + 1..].iter().product()).collect();
        for perm in permutations(rank) {
            let y = run(2, shape, &perm, &x);
            let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
            for (o, &v) in y.iter().enumerate() {
                let mut rest = o;
                let mut src = 0;
                for i in (0..rank).rev() {
                    src += (rest % out_shape[i]) * strides[perm[i]];
                    rest /= out_shape[i];
                }
                assert_eq!(v.to_bits(), x[src].to_bits(), "{shape:?} {perm:?} at {o}");
            }
            let mut inverse = vec![0; rank];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            let back = run(1, &out_shape, &inverse, &y);
            assert!(back.iter().zip(&x).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}

#[test]
fn one_and_two_threads_agree() {
    let shape = [4, 30, 20, 17];
    let x = Rng::new(72).vec(shape.iter().product(), -1.0, 1.0);
    let (one, two) = (
        run(1, &shape, &[2, 0, 3, 1], &x),
        run(2, &shape, &[2, 0, 3, 1], &x),
    );
    assert!(one
        .iter()
        .zip(&two)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(one.iter().any(|&v| v != 0.0));
}

#[test]
fn bad_permutations_are_refused() {
    let id = BufId(0);
    for perm in [&[0usize, 0][..], &[0, 2][..], &[0][..]] {
        let err = Permute::new(id, id, &[2, 3], perm).unwrap_err().to_string();
        assert!(err.contains("not a permutation"), "{err}");
    }
    let err = Permute::new(id, id, &[1, 2, 3, 4, 5], &[0, 1, 2, 3, 4]).unwrap_err();
    assert!(err.to_string().contains("5 axes"), "{err}");
}
