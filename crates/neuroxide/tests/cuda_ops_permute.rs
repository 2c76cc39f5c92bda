//! `ops::permute` on the CPU against CUDA, bit for bit: every permutation of 2, 3 and 4 axes on
//! odd shapes, with signed zeros, denormals, huge magnitudes and a NaN among the values.
//! Without a GPU the test says "skipped" (a failure under `NEUROXIDE_REQUIRE_CUDA=1`).

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::ops::permute::{permute, Permute};
use parity_pair::{edge_values, rng, Pair};

#[test]
fn permute_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("permute_cpu_vs_cuda");
    let edges = edge_values();
    let perms: [&[usize]; 9] = [
        &[0],
        &[1, 0],
        &[2, 0, 1],
        &[1, 2, 0],
        &[0, 2, 1],
        &[3, 2, 1, 0],
        &[0, 2, 1, 3],
        &[1, 3, 0, 2],
        &[2, 3, 0, 1],
    ];
    for perm in perms {
        let shape: Vec<usize> = [7usize, 3, 33, 5][..perm.len()].to_vec();
        let n: usize = shape.iter().product();
        let mut xv: Vec<f32> = (0..n)
            .map(|i| {
                if i % 4 == 0 {
                    edges[i % edges.len()]
                } else {
                    r.range(-2.0, 2.0)
                }
            })
            .collect();
        xv[n / 2] = f32::NAN;
        let x = p.buf(&xv);
        let y = p.out(n);
        let a = Permute::new(x, y, &shape, perm).unwrap();
        p.run(|be| permute(be, &a));
        p.check(&format!("{shape:?} by {perm:?}"), y);
    }
    p.finish("permute_cpu_vs_cuda");
}
