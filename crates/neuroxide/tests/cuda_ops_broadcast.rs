//! `ops::broadcast` on the CPU against CUDA, bit for bit: add and multiply under broadcasting
//! and both backward reductions (chunked over up to thousands of terms), on odd shapes, with
//! signed zeros, denormals, underflowing products and huge magnitudes among the values.
//! Without a GPU the test says "skipped" (a failure under `NEUROXIDE_REQUIRE_CUDA=1`).

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::ops::broadcast::{broadcast, broadcast_backward, Broadcast, BroadcastOp};
use parity_pair::{edge_values, rng, Pair, Rng};

fn inputs(r: &mut Rng, n: usize) -> Vec<f32> {
    let edges = edge_values();
    (0..n)
        .map(|_| match r.below(6) {
            0 => edges[r.below(edges.len())],
            1 => r.range(-1e-22, 1e-22),
            _ => r.range(-2.0, 2.0),
        })
        .collect()
}

#[test]
fn broadcast_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("broadcast_cpu_vs_cuda");
    let cases: [(&[usize], &[usize]); 7] = [
        (&[5, 7], &[7]),
        (&[1000, 3], &[1, 3]),
        (&[3, 1, 5], &[4, 1]),
        (&[2, 3, 4, 5], &[2, 3, 4, 5]),
        (&[1], &[2, 300, 3]),
        (&[2, 1, 300, 1], &[1, 3, 1, 2]),
        (&[4, 700, 1], &[1, 1, 2]),
    ];
    for (sa, sb) in cases {
        for op in [BroadcastOp::Add, BroadcastOp::Mul] {
            let (na, nb) = (sa.iter().product(), sb.iter().product());
            let (a, b) = (p.buf(&inputs(&mut r, na)), p.buf(&inputs(&mut r, nb)));
            let f = Broadcast::new(a, sa, b, sb, a, op).unwrap();
            let n = f.out_dims.numel();
            let y = p.out(n);
            let f = Broadcast { y, ..f };
            p.run(|be| broadcast(be, &f));
            let name = format!("{sa:?} {sb:?} {op:?}");
            p.check(&format!("{name}: y"), y);
            let dy = p.buf(&inputs(&mut r, n));
            let (da, db) = (p.out(na), p.out(nb));
            p.run(|be| broadcast_backward(be, &f.grad_a(dy, da)));
            p.check(&format!("{name}: da"), da);
            p.run(|be| broadcast_backward(be, &f.grad_b(dy, db)));
            p.check(&format!("{name}: db"), db);
        }
    }
    p.finish("broadcast_cpu_vs_cuda");
}
