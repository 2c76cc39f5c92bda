//! CPU vs CUDA parity of every CUDA matmul kernel variant, each forced through
//! `ops::matmul::matmul_variant` (the default dispatch runs one variant per shape: cuda_parity.rs
//! covers that). Shapes one past and one short of the 64-, 96- and 128-row tiles, k below,
//! at and past a k-tile, all transposes, bias / activation / pre-activation, and inputs whose
//! products underflow to -0 (PARITY rule 2b) beside plain ones. Compared with `to_bits()`;
//! pass = 0 differing. Without a usable GPU the test prints `skipped: <reason>` and passes
//! (fails under `NEUROXIDE_REQUIRE_CUDA=1`).

#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;
use neuroxide::backend::Activation;
use neuroxide::ops::matmul::{self, Matmul, VARIANTS};
use parity_pair::{edge_values, rng, Pair};

#[test]
fn every_matmul_variant_matches_the_cpu() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("matmul_variants");
    let edges = edge_values();
    let shapes = [
        (65, 17, 97),
        (191, 31, 193),
        (130, 12, 290),
        (192, 48, 288),
        (257, 45, 260),
        (1, 40, 200),
        (64, 0, 64),
    ];
    let acts = [Activation::Linear, Activation::Relu, Activation::GeluTanh];
    let mut case = 0;
    for v in VARIANTS {
        for &(m, k, n) in &shapes {
            for (a_trans, b_trans) in [(false, false), (false, true), (true, false), (true, true)] {
                let underflow = case % 2 == 1;
                let act = acts[case % acts.len()];
                let with_bias = case % 3 != 1;
                let with_pre = case % 2 == 0;
                case += 1;
                // Underflow mode: tiny negatives times tiny positives (products round to -0),
                // a fifth of A from the edge values.
                let a: Vec<f32> = (0..m * k)
                    .map(|i| match (underflow, i % 5) {
                        (true, 0) => edges[r.below(edges.len())],
                        (true, _) => -1e-30,
                        (false, _) => r.range(-1.0, 1.0),
                    })
                    .collect();
                let b: Vec<f32> = (0..k * n)
                    .map(|i| {
                        if underflow && i % 7 != 0 {
                            1e-30
                        } else {
                            r.range(-1.0, 1.0)
                        }
                    })
                    .collect();
                let (a, b) = (p.buf(&a), p.buf(&b));
                let bias = with_bias.then(|| p.buf(&r.vec(n, -0.5, 0.5)));
                let c = p.out(m * n);
                let pre = with_pre.then(|| p.out(m * n));
                let mm = Matmul {
                    m,
                    n,
                    k,
                    a,
                    a_trans,
                    b,
                    b_trans,
                    c,
                    bias,
                    pre_act: pre,
                    act,
                };
                p.run(|be| matmul::matmul_variant(be, &mm, v));
                let what = format!(
                    "{} {m}x{k}x{n} ta={a_trans} tb={b_trans} {act:?} bias={with_bias}",
                    v.label()
                );
                p.check(&what, c);
                if let Some(pre) = pre {
                    p.check(&format!("{what} pre_act"), pre);
                }
            }
        }
    }
    p.finish("every_matmul_variant_matches_the_cpu");
}
