//! The NCCL path of data parallelism with world size 1 on one GPU: joining the job (rendezvous,
//! `ncclCommInitRank`) works, and training through the exact reduction — and through the fast
//! one, which for a single rank sums nothing — gives the bits of plain training on that GPU,
//! with the gradients reduced in one range after the backward or bucket by bucket on the side
//! stream while the backward runs.
//! Needs a GPU (skip rules of PARITY.md) and NCCL (`libnccl.so.2`; without it the test prints
//! "skipped", and fails only under `NEUROXIDE_REQUIRE_NCCL=1`).

mod common;

#[path = "support/require_cuda.rs"]
mod require_cuda;

use neuroxide::distributed::nccl::nccl_present;
use neuroxide::distributed::{join, DistEnv, ReduceMode};
use neuroxide::layers::{Dense, Dropout};
use neuroxide::optim;
use neuroxide::{Activation, Device, Loss, Model, Sequential, Tensor};
use std::time::Duration;

fn ready() -> bool {
    if let Err(e) = neuroxide::backend::cuda::probe(0) {
        require_cuda::skip(format!("no usable CUDA device: {e}"));
        return false;
    }
    if !nccl_present() {
        if std::env::var("NEUROXIDE_REQUIRE_NCCL").is_ok_and(|v| v == "1") {
            panic!("NEUROXIDE_REQUIRE_NCCL=1 but libnccl.so.2 cannot be loaded");
        }
        println!("skipped: NCCL (libnccl.so.2) cannot be loaded");
        return false;
    }
    true
}

fn model() -> Model {
    let mut m = Sequential::new([12])
        .add(Dense::new(24).activation(Activation::GeluTanh))
        .add(Dropout::new(0.3))
        .add(Dense::new(5))
        .build(5)
        .expect("build");
    m.compile(optim::adam(0.01), Loss::cross_entropy())
        .expect("compile");
    m.set_clip_norm(Some(0.5)).expect("clip");
    m
}

fn batch(b: usize) -> (Tensor, Tensor) {
    let x = (0..16 * 12)
        .map(|i| (((i * 7 + b) % 31) as f32 - 15.0) * 0.09)
        .collect();
    let y = (0..16).map(|i| ((i + b) % 5) as i32).collect();
    (
        Tensor::new([16, 12], x).expect("x"),
        Tensor::from_i32([16, 1], y).expect("y"),
    )
}

/// Six steps (two prefetched); loss bits, running totals and weights.
/// Losses, running totals and named weights, as bits.
type Run = (Vec<u32>, (u32, u32), Vec<(String, Vec<u32>)>);

fn train(m: &mut Model) -> Run {
    m.reset_running().expect("reset");
    let mut losses = Vec::new();
    for b in 0..4 {
        let (x, y) = batch(b);
        losses.push(m.train_on_batch(&x, &y).expect("step").to_bits());
    }
    for b in 4..6 {
        let (x, y) = batch(b);
        m.prefetch(&[&x], &[&y]).expect("prefetch");
        m.train_step_prefetched().expect("step");
        losses.push(m.last_loss().expect("loss").to_bits());
    }
    let (l, c) = m.running_totals().expect("totals");
    let w = common::weight_bits(m);
    (losses, (l.to_bits(), c.to_bits()), w)
}

#[test]
fn cuda_nccl_world_size_one_equals_plain_training() {
    if !ready() {
        return;
    }
    let mut plain = model();
    plain.to_device(Device::cuda(0)).expect("device");
    let expect = train(&mut plain);
    // None: the default 25 MiB (one range); 64 bytes: a bucket per Dense layer, reduced on the
    // side stream during the backward; 0: one range.
    for (mode, bucket_bytes, ranges) in [
        (ReduceMode::Exact, None, 1),
        (ReduceMode::Exact, Some(64), 3),
        (ReduceMode::Exact, Some(0), 1),
        (ReduceMode::Fast, None, 1),
        (ReduceMode::Fast, Some(64), 3),
    ] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let env = DistEnv {
            rank: 0,
            world_size: 1,
            local_rank: 0,
            master_addr: "127.0.0.1".into(),
            master_port: port,
        };
        let mut m = model();
        join(&mut m, &env, mode, Duration::from_secs(30)).expect("join");
        if let Some(b) = bucket_bytes {
            m.set_reduce_bucket_bytes(b).expect("buckets");
        }
        assert_eq!(m.data_parallel(), Some((0, 1)));
        assert_eq!(
            train(&mut m),
            expect,
            "{mode:?}, buckets of {bucket_bytes:?} bytes: NCCL world size 1 vs plain"
        );
        assert_eq!(
            m.reduce_buckets(),
            Some(ranges),
            "{mode:?}, {bucket_bytes:?}"
        );
    }
}
