//! `ops::batched_matmul` on the CPU against CUDA, bit for bit: every transpose pair, broadcast
//! operands (stride 0), per-entry and shared biases, the pre-activation copy, several
//! activations, odd sizes around the kernel's 64×64 tile and 16-wide k-tile (k = 0, 1, 15, 17),
//! and inputs with signed zeros, denormals, underflowing products and huge magnitudes.
//! Without a GPU the test says "skipped" (a failure under `NEUROXIDE_REQUIRE_CUDA=1`).

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::ops::batched_matmul::{batched_matmul, BatchedMatmul};
use neuroxide::Activation;
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

/// (batch, m, n, k, broadcast a, broadcast b, bias stride, activation)
type Shape = (
    usize,
    usize,
    usize,
    usize,
    bool,
    bool,
    Option<usize>,
    Activation,
);

#[test]
fn batched_matmul_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("batched_matmul_cpu_vs_cuda");
    let shapes: [Shape; 8] = [
        (3, 5, 7, 9, false, false, None, Activation::Linear),
        (4, 65, 63, 17, false, false, Some(0), Activation::Relu),
        (2, 64, 64, 16, true, false, Some(64), Activation::GeluTanh),
        (7, 1, 129, 15, false, true, None, Activation::Sigmoid),
        (
            3,
            130,
            3,
            1,
            false,
            false,
            Some(3),
            Activation::LeakyRelu(0.1),
        ),
        (2, 33, 31, 0, false, false, Some(0), Activation::Silu),
        (70, 12, 12, 64, false, false, None, Activation::Tanh),
        (2, 200, 150, 100, true, true, Some(0), Activation::GeluErf),
    ];
    for (batch, m, n, k, bcast_a, bcast_b, bias_stride, act) in shapes {
        for (at, bt) in [(false, false), (false, true), (true, false), (true, true)] {
            let sa = if bcast_a { 0 } else { m * k };
            let sb = if bcast_b { 0 } else { k * n };
            let span = |s: usize, e: usize| ((batch - 1) * s + e).max(1);
            let a = p.buf(&inputs(&mut r, span(sa, m * k)));
            let b = p.buf(&inputs(&mut r, span(sb, k * n)));
            let bias = bias_stride.map(|s| {
                let v = inputs(&mut r, span(s, n));
                p.buf(&v)
            });
            let (c, pre) = (p.out(batch * m * n), p.out(batch * m * n));
            let args = BatchedMatmul {
                batch,
                m,
                n,
                k,
                a,
                a_trans: at,
                a_stride: sa,
                b,
                b_trans: bt,
                b_stride: sb,
                c,
                bias,
                bias_stride: bias_stride.unwrap_or(0),
                pre_act: Some(pre),
                act,
            };
            p.run(|be| batched_matmul(be, &args));
            let name = format!("{batch}x{m}x{n}x{k} at={at} bt={bt} {act:?}");
            p.check(&format!("{name}: c"), c);
            p.check(&format!("{name}: pre_act"), pre);
        }
    }
    p.finish("batched_matmul_cpu_vs_cuda");
}

/// A sum of products that underflow to −0 must stay −0 on both backends (PARITY rule 2b:
/// the zero fill of the last k-tile never enters the accumulator).
#[test]
fn batched_matmul_keeps_negative_zero_sums() {
    let Some(mut p) = Pair::new() else { return };
    let (batch, m, n, k) = (2, 3, 5, 7);
    let a = p.buf(&vec![1e-30; batch * m * k]);
    let b = p.buf(&vec![-1e-30; batch * k * n]);
    let c = p.out(batch * m * n);
    let args = BatchedMatmul {
        batch,
        m,
        n,
        k,
        a,
        a_trans: false,
        a_stride: m * k,
        b,
        b_trans: false,
        b_stride: k * n,
        c,
        bias: None,
        bias_stride: 0,
        pre_act: None,
        act: Activation::Linear,
    };
    p.run(|be| batched_matmul(be, &args));
    let (cpu, _) = p.get(c);
    assert!(cpu.iter().all(|v| v.to_bits() == (-0.0f32).to_bits()));
    p.check("negative zero sums", c);
    p.finish("batched_matmul_keeps_negative_zero_sums");
}
