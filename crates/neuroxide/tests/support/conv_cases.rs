//! Convolution and pooling geometries shared by the op tests (CPU reference and CUDA parity),
//! and plain restatements of the orders of `ops::conv` / `ops::pool`, loop by loop, that the
//! fast CPU kernels must match bit for bit.
#![allow(dead_code)]

use neuroxide::ops::conv::Conv2dGeom;
use neuroxide::ops::pool::Pool2dGeom;
use neuroxide::ops::reduce::chunked;

/// `(batch, c_in, h, w, c_out, (kh, kw), stride, pad, dilation, groups)` with the output size
/// of symmetric padding.
#[allow(clippy::too_many_arguments)]
pub fn geom(
    batch: usize,
    c_in: usize,
    (h, w): (usize, usize),
    c_out: usize,
    (kh, kw): (usize, usize),
    stride: (usize, usize),
    pad: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
) -> Conv2dGeom {
    let out =
        |n: usize, k: usize, s: usize, p: usize, d: usize| (n + 2 * p - d * (k - 1) - 1) / s + 1;
    Conv2dGeom {
        batch,
        c_in,
        h,
        w,
        c_out,
        kh,
        kw,
        stride,
        pad,
        dilation,
        groups,
        oh: out(h, kh, stride.0, pad.0, dilation.0),
        ow: out(w, kw, stride.1, pad.1, dilation.1),
    }
}

/// Odd sizes, stride 2, padding, dilation, groups, depthwise, asymmetric "same" padding, and
/// the MNIST CNN's two layers.
pub fn conv_cases() -> Vec<(&'static str, Conv2dGeom)> {
    let mut same_even = geom(2, 3, (7, 6), 5, (4, 2), (1, 1), (1, 0), (1, 1), 1);
    same_even.oh = 7; // total padding 3: 1 on top, 2 at the bottom
    same_even.ow = 6; // total padding 1: 0 left, 1 right
    vec![
        (
            "1x1 kernel",
            geom(2, 3, (5, 4), 4, (1, 1), (1, 1), (0, 0), (1, 1), 1),
        ),
        (
            "3x3 valid odd",
            geom(3, 2, (7, 9), 5, (3, 3), (1, 1), (0, 0), (1, 1), 1),
        ),
        (
            "3x3 pad 1",
            geom(2, 3, (9, 11), 17, (3, 3), (1, 1), (1, 1), (1, 1), 1),
        ),
        (
            "stride 2 pad 1",
            geom(2, 4, (11, 10), 6, (3, 3), (2, 2), (1, 1), (1, 1), 1),
        ),
        (
            "stride (2,3) 5x3",
            geom(2, 2, (13, 14), 3, (5, 3), (2, 3), (2, 1), (1, 1), 1),
        ),
        (
            "dilation 2",
            geom(2, 3, (12, 13), 4, (3, 3), (1, 1), (2, 2), (2, 2), 1),
        ),
        (
            "groups 2",
            geom(2, 4, (8, 9), 6, (3, 3), (1, 1), (1, 1), (1, 1), 2),
        ),
        (
            "depthwise",
            geom(2, 5, (9, 8), 5, (3, 3), (1, 1), (1, 1), (1, 1), 5),
        ),
        (
            "depthwise x2 stride 2",
            geom(2, 3, (10, 9), 6, (3, 3), (2, 2), (1, 1), (1, 1), 3),
        ),
        ("same, even kernel", same_even),
        (
            "mnist conv1",
            geom(4, 1, (28, 28), 16, (3, 3), (1, 1), (1, 1), (1, 1), 1),
        ),
        (
            "mnist conv2",
            geom(3, 16, (14, 14), 32, (3, 3), (1, 1), (1, 1), (1, 1), 1),
        ),
        (
            "long dw reduction",
            geom(9, 2, (13, 13), 3, (3, 3), (1, 1), (1, 1), (1, 1), 1),
        ),
    ]
}

pub fn pool_geom(
    batch: usize,
    channels: usize,
    (h, w): (usize, usize),
    (kh, kw): (usize, usize),
    stride: (usize, usize),
    pad: (usize, usize),
) -> Pool2dGeom {
    let out = |n: usize, k: usize, s: usize, p: usize| (n + 2 * p - k) / s + 1;
    Pool2dGeom {
        batch,
        channels,
        h,
        w,
        kh,
        kw,
        stride,
        pad,
        oh: out(h, kh, stride.0, pad.0),
        ow: out(w, kw, stride.1, pad.1),
    }
}

pub fn pool_cases() -> Vec<(&'static str, Pool2dGeom)> {
    vec![
        (
            "2x2 stride 2",
            pool_geom(2, 3, (8, 6), (2, 2), (2, 2), (0, 0)),
        ),
        (
            "2x2 odd input",
            pool_geom(2, 3, (7, 9), (2, 2), (2, 2), (0, 0)),
        ),
        (
            "3x3 stride 1 pad 1",
            pool_geom(2, 2, (7, 6), (3, 3), (1, 1), (1, 1)),
        ),
        (
            "3x3 stride 2 pad 1",
            pool_geom(3, 2, (9, 8), (3, 3), (2, 2), (1, 1)),
        ),
        (
            "3x2 stride (1,2)",
            pool_geom(2, 2, (6, 7), (3, 2), (1, 2), (0, 0)),
        ),
        (
            "global 20x20",
            pool_geom(2, 3, (20, 20), (20, 20), (1, 1), (0, 0)),
        ),
        (
            "mnist pool",
            pool_geom(4, 16, (28, 28), (2, 2), (2, 2), (0, 0)),
        ),
    ]
}

/// Forward taps of `o` along one axis: `Some(input index)` per kernel index, `None` = padding.
fn tap(o: usize, k: usize, s: usize, p: usize, d: usize, n: usize) -> Option<usize> {
    let pos = o * s + k * d;
    (pos >= p && pos - p < n).then(|| pos - p)
}

pub fn conv_forward(g: &Conv2dGeom, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let (cig, cog) = (g.c_in / g.groups, g.c_out / g.groups);
    let mut y = vec![0.0; g.batch * g.c_out * g.oh * g.ow];
    for n in 0..g.batch {
        for co in 0..g.c_out {
            let gr = co / cog;
            for oh in 0..g.oh {
                for ow in 0..g.ow {
                    let mut acc = 0.0f32;
                    for ci in 0..cig {
                        for i in 0..g.kh {
                            let Some(ih) = tap(oh, i, g.stride.0, g.pad.0, g.dilation.0, g.h)
                            else {
                                continue;
                            };
                            for j in 0..g.kw {
                                let Some(iw) = tap(ow, j, g.stride.1, g.pad.1, g.dilation.1, g.w)
                                else {
                                    continue;
                                };
                                let xv = x[((n * g.c_in + gr * cig + ci) * g.h + ih) * g.w + iw];
                                let wv = w[((co * cig + ci) * g.kh + i) * g.kw + j];
                                acc = xv.mul_add(wv, acc);
                            }
                        }
                    }
                    let z = b.map_or(acc, |b| acc + b[co]);
                    y[((n * g.c_out + co) * g.oh + oh) * g.ow + ow] = z;
                }
            }
        }
    }
    y
}

pub fn conv_backward_input(g: &Conv2dGeom, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (cig, cog) = (g.c_in / g.groups, g.c_out / g.groups);
    let mut dx = vec![0.0; g.batch * g.c_in * g.h * g.w];
    for n in 0..g.batch {
        for c in 0..g.c_in {
            let (gr, ci) = (c / cig, c % cig);
            for ih in 0..g.h {
                for iw in 0..g.w {
                    let mut acc = 0.0f32;
                    for col in 0..cog {
                        let co = gr * cog + col;
                        for i in 0..g.kh {
                            for j in 0..g.kw {
                                // Every output whose tap (i, j) reads (ih, iw).
                                for oh in 0..g.oh {
                                    if tap(oh, i, g.stride.0, g.pad.0, g.dilation.0, g.h)
                                        != Some(ih)
                                    {
                                        continue;
                                    }
                                    for ow in 0..g.ow {
                                        if tap(ow, j, g.stride.1, g.pad.1, g.dilation.1, g.w)
                                            != Some(iw)
                                        {
                                            continue;
                                        }
                                        let d = dy[((n * g.c_out + co) * g.oh + oh) * g.ow + ow];
                                        acc = d.mul_add(
                                            w[((co * cig + ci) * g.kh + i) * g.kw + j],
                                            acc,
                                        );
                                    }
                                }
                            }
                        }
                    }
                    dx[((n * g.c_in + c) * g.h + ih) * g.w + iw] = acc;
                }
            }
        }
    }
    dx
}

pub fn conv_backward_params(g: &Conv2dGeom, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (cig, cog) = (g.c_in / g.groups, g.c_out / g.groups);
    let ohw = g.oh * g.ow;
    let rows = g.batch * ohw;
    let mut dw = vec![0.0; g.c_out * cig * g.kh * g.kw];
    for co in 0..g.c_out {
        let gr = co / cog;
        for ci in 0..cig {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    dw[((co * cig + ci) * g.kh + i) * g.kw + j] = chunked(rows, |acc, r| {
                        let (n, p) = (r / ohw, r % ohw);
                        let (oh, ow) = (p / g.ow, p % g.ow);
                        let (Some(ih), Some(iw)) = (
                            tap(oh, i, g.stride.0, g.pad.0, g.dilation.0, g.h),
                            tap(ow, j, g.stride.1, g.pad.1, g.dilation.1, g.w),
                        ) else {
                            return acc;
                        };
                        let xv = x[((n * g.c_in + gr * cig + ci) * g.h + ih) * g.w + iw];
                        xv.mul_add(dy[(n * g.c_out + co) * ohw + p], acc)
                    });
                }
            }
        }
    }
    let db = (0..g.c_out)
        .map(|co| {
            chunked(rows, |acc, r| {
                acc + dy[((r / ohw) * g.c_out + co) * ohw + r % ohw]
            })
        })
        .collect();
    (dw, db)
}

fn valid(o: usize, k: usize, s: usize, p: usize, n: usize) -> Option<usize> {
    tap(o, k, s, p, 1, n)
}

/// Max pooling: `(y, argmax)`.
pub fn max_pool(g: &Pool2dGeom, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut y = Vec::new();
    let mut a = Vec::new();
    for p in 0..g.batch * g.channels {
        for oh in 0..g.oh {
            for ow in 0..g.ow {
                let mut best: Option<(f32, usize)> = None;
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        let (Some(ih), Some(iw)) = (
                            valid(oh, i, g.stride.0, g.pad.0, g.h),
                            valid(ow, j, g.stride.1, g.pad.1, g.w),
                        ) else {
                            continue;
                        };
                        let v = x[p * g.h * g.w + ih * g.w + iw];
                        let take = match best {
                            None => true,
                            Some((m, _)) => v > m || (v.is_nan() && !m.is_nan()),
                        };
                        if take {
                            best = Some((v, ih * g.w + iw));
                        }
                    }
                }
                let (m, i) = best.map_or((0.0, -1.0), |(m, i)| (m, i as f32));
                y.push(m);
                a.push(i);
            }
        }
    }
    (y, a)
}

pub fn max_pool_backward(g: &Pool2dGeom, dy: &[f32], arg: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0f32; g.batch * g.channels * g.h * g.w];
    let ohw = g.oh * g.ow;
    for p in 0..g.batch * g.channels {
        for ih in 0..g.h {
            for iw in 0..g.w {
                let mut acc = 0.0f32;
                for oh in 0..g.oh {
                    for ow in 0..g.ow {
                        if arg[p * ohw + oh * g.ow + ow] == (ih * g.w + iw) as f32 {
                            acc += dy[p * ohw + oh * g.ow + ow];
                        }
                    }
                }
                dx[p * g.h * g.w + ih * g.w + iw] = acc;
            }
        }
    }
    dx
}

fn count(g: &Pool2dGeom, oh: usize, ow: usize) -> f32 {
    let rows = (0..g.kh)
        .filter(|&i| valid(oh, i, g.stride.0, g.pad.0, g.h).is_some())
        .count();
    let cols = (0..g.kw)
        .filter(|&j| valid(ow, j, g.stride.1, g.pad.1, g.w).is_some())
        .count();
    (rows * cols) as f32
}

pub fn avg_pool(g: &Pool2dGeom, x: &[f32]) -> Vec<f32> {
    let mut y = Vec::new();
    for p in 0..g.batch * g.channels {
        for oh in 0..g.oh {
            for ow in 0..g.ow {
                let s = chunked(g.kh * g.kw, |acc, t| {
                    let (i, j) = (t / g.kw, t % g.kw);
                    match (
                        valid(oh, i, g.stride.0, g.pad.0, g.h),
                        valid(ow, j, g.stride.1, g.pad.1, g.w),
                    ) {
                        (Some(ih), Some(iw)) => acc + x[p * g.h * g.w + ih * g.w + iw],
                        _ => acc,
                    }
                });
                let n = count(g, oh, ow);
                y.push(if n > 0.0 { s / n } else { 0.0 });
            }
        }
    }
    y
}

pub fn avg_pool_backward(g: &Pool2dGeom, dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0f32; g.batch * g.channels * g.h * g.w];
    let ohw = g.oh * g.ow;
    for p in 0..g.batch * g.channels {
        for ih in 0..g.h {
            for iw in 0..g.w {
                let mut acc = 0.0f32;
                for oh in 0..g.oh {
                    for ow in 0..g.ow {
                        let covers = (0..g.kh)
                            .any(|i| valid(oh, i, g.stride.0, g.pad.0, g.h) == Some(ih))
                            && (0..g.kw)
                                .any(|j| valid(ow, j, g.stride.1, g.pad.1, g.w) == Some(iw));
                        if covers {
                            acc += dy[p * ohw + oh * g.ow + ow] / count(g, oh, ow);
                        }
                    }
                }
                dx[p * g.h * g.w + ih * g.w + iw] = acc;
            }
        }
    }
    dx
}
