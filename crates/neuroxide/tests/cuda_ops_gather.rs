//! `ops::gather` on the CPU against CUDA, bit for bit: index-select along each axis, and its
//! backward (a chunked gather over up to 1000 indices with repeats, invalid and out-of-range
//! indices), with signed zeros, denormals and huge magnitudes among the values.
//! Without a GPU the test says "skipped" (a failure under `NEUROXIDE_REQUIRE_CUDA=1`).

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::ops::gather::{gather, gather_backward, Gather};
use parity_pair::{edge_values, rng, Pair, Rng};

fn inputs(r: &mut Rng, n: usize) -> Vec<f32> {
    let edges = edge_values();
    (0..n)
        .map(|_| match r.below(5) {
            0 => edges[r.below(edges.len())],
            _ => r.range(-2.0, 2.0),
        })
        .collect()
}

#[test]
fn gather_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("gather_cpu_vs_cuda");
    let cases: [(&[usize], usize, usize); 5] = [
        (&[9], 0, 5),
        (&[7, 5], 0, 13),
        (&[3, 11, 4], 1, 1000),
        (&[2, 3, 17, 5], 2, 300),
        (&[5, 2, 3, 33], 3, 40),
    ];
    for (shape, axis, m) in cases {
        let n = shape[axis];
        let index: Vec<i32> = (0..m)
            .map(|q| match q % 11 {
                3 => -1,
                7 => n as i32,
                9 => i32::MIN,
                _ => r.below(n) as i32,
            })
            .collect();
        let x = p.buf(&inputs(&mut r, shape.iter().product()));
        let ib = p.ids(&index);
        let g = Gather::new(x, shape, axis, ib, m, x).unwrap();
        let y = p.out(g.outer * m * g.inner);
        let g = Gather { y, ..g };
        p.run(|be| gather(be, &g));
        p.check(&format!("{shape:?} axis {axis} m {m}: y"), y);
        let dy = p.buf(&inputs(&mut r, g.outer * m * g.inner));
        let dx = p.out(shape.iter().product());
        let b = Gather { x: dx, y: dy, ..g };
        p.run(|be| gather_backward(be, &b));
        p.check(&format!("{shape:?} axis {axis} m {m}: dx"), dx);
    }
    p.finish("gather_cpu_vs_cuda");
}
