//! `ops::pool` on the CPU against CUDA, bit for bit: max pooling (values, argmax with ties and
//! NaNs, the gather backward) and average pooling (chunked window sums, the gather backward),
//! on odd sizes, stride 1 and 2, padding and a global window, with signed zeros and denormals.
//! Without a GPU the test says "skipped" (a failure under `NEUROXIDE_REQUIRE_CUDA=1`).

#[path = "support/conv_cases.rs"]
mod conv_cases;
#[path = "support/parity_pair.rs"]
mod parity_pair;
#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::ops::channel::{channel_scale, ChannelScale};
use neuroxide::ops::pool::{
    avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward, AvgPool2d,
    MaxPool2dBackward, MaxPool2dForward,
};
use parity_pair::{edge_values, rng, Pair};

/// `ops::channel` (spatial dropout's mask): one product per value, bit for bit.
#[test]
fn channel_scale_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("channel_scale_cpu_vs_cuda");
    let (batch, channels, plane) = (5, 7, 33);
    let edges = edge_values();
    let xv: Vec<f32> = (0..batch * channels * plane)
        .map(|i| {
            if i % 5 == 0 {
                edges[i % edges.len()]
            } else {
                r.range(-2.0, 2.0)
            }
        })
        .collect();
    let sv: Vec<f32> = (0..batch * channels)
        .map(|i| if i % 3 == 0 { 0.0 } else { 1.25 })
        .collect();
    let (x, s) = (p.buf(&xv), p.buf(&sv));
    let y = p.out(xv.len());
    let a = ChannelScale {
        batch,
        channels,
        plane,
        x,
        s,
        y,
    };
    p.run(|be| channel_scale(be, &a));
    p.check("channel_scale", y);
    p.finish("channel_scale_cpu_vs_cuda");
}

#[test]
fn pooling_cpu_vs_cuda() {
    let Some(mut p) = Pair::new() else { return };
    let mut r = rng("pooling_cpu_vs_cuda");
    let mut cases = conv_cases::pool_cases();
    cases.push((
        "global 40x40",
        conv_cases::pool_geom(2, 3, (40, 40), (40, 40), (1, 1), (0, 0)),
    ));
    let edges = edge_values();
    for (name, g) in cases {
        let mut xv: Vec<f32> = (0..g.x_len())
            .map(|_| match r.below(8) {
                0 => edges[r.below(edges.len())],
                1 => 1.5,
                _ => r.range(-2.0, 2.0),
            })
            .collect();
        for i in (5..xv.len()).step_by(31) {
            xv[i] = f32::NAN;
        }
        let dyv: Vec<f32> = (0..g.y_len()).map(|_| r.range(-2.0, 2.0)).collect();
        let x = p.buf(&xv);
        let dy = p.buf(&dyv);
        let (y, arg) = (p.out(g.y_len()), p.out(g.y_len()));
        let dx = p.out(g.x_len());
        let f = MaxPool2dForward {
            geom: g,
            x,
            y,
            argmax: arg,
        };
        p.run(|be| max_pool2d_forward(be, &f));
        p.check(&format!("{name}: max y"), y);
        p.check(&format!("{name}: argmax"), arg);
        let b = MaxPool2dBackward {
            geom: g,
            dy,
            argmax: arg,
            dx,
        };
        p.run(|be| max_pool2d_backward(be, &b));
        p.check(&format!("{name}: max dx"), dx);
        let a = AvgPool2d {
            geom: g,
            src: x,
            dst: y,
        };
        p.run(|be| avg_pool2d_forward(be, &a));
        p.check(&format!("{name}: avg y"), y);
        let a = AvgPool2d {
            geom: g,
            src: dy,
            dst: dx,
        };
        p.run(|be| avg_pool2d_backward(be, &a));
        p.check(&format!("{name}: avg dx"), dx);
    }
    p.finish("pooling_cpu_vs_cuda");
}
