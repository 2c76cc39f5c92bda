//! `ops::seqpool`: mean (chunked over positions) and first-position pooling, forward and
//! backward, CPU vs CUDA bit for bit on sequence lengths around the chunk size.

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::ops::reduce::CHUNK;
use neuroxide::ops::seqpool::{seqpool_backward, seqpool_forward, SeqPool, SeqPoolMode};
use parity_pair::{edge_values, rng, Pair};

#[test]
fn seqpool_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("seqpool_cpu_vs_cuda");
    let edges = edge_values();
    for (batch, seq, dim) in [
        (1, 1, 1),
        (3, CHUNK - 1, 5),
        (2, CHUNK, 7),
        (2, CHUNK + 1, 33),
        (32, 64, 128),
    ] {
        for mode in [SeqPoolMode::Mean, SeqPoolMode::First] {
            let mut xv = r.vec(batch * seq * dim, -3.0, 3.0);
            for k in (0..xv.len()).step_by(11) {
                xv[k] = edges[k % edges.len()];
            }
            let a = SeqPool {
                mode,
                batch,
                seq,
                dim,
            };
            let x = p.buf(&xv);
            let out = p.out(batch * dim);
            p.run(|be| seqpool_forward(be, &a, x, out));
            p.check(
                &format!("seqpool {mode:?} forward {batch}x{seq}x{dim}"),
                out,
            );
            let dout = p.buf(&r.vec(batch * dim, -1.0, 1.0));
            let dx = p.out(batch * seq * dim);
            p.run(|be| seqpool_backward(be, &a, dout, dx));
            p.check(
                &format!("seqpool {mode:?} backward {batch}x{seq}x{dim}"),
                dx,
            );
        }
    }
    p.finish("seqpool_cpu_vs_cuda");
}
