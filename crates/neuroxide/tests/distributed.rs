//! The CPU parts of data parallelism (`neuroxide::distributed`): the launch variables are read
//! with clear errors, the rendezvous hands rank 0's id to every rank over localhost (threads
//! as ranks), and a missing or mismatched rank ends it with an error, never a hang. The slice
//! partition of the exact NCCL reduction covers every element once. And the data-parallel
//! step itself (`graph/executor/cross_rank.rs`): ranks as threads, joined by an in-process
//! rank-order reduction, compute exactly the bits of one model with `--shards R`.

mod common;

#[path = "support/local_job.rs"]
mod local_job;
use local_job::{env, free_port};

use neuroxide::distributed::nccl::slice_of;
use neuroxide::distributed::rendezvous::exchange_id;
use neuroxide::distributed::DistEnv;
use neuroxide::graph::{CrossRankReduce, ReduceBucket};
use neuroxide::layers::{Dense, Dropout};
use neuroxide::{optim, Activation, Backend, Device, Loss, Model, Sequential, Tensor};
use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

fn lookup(vars: &[(&str, &str)]) -> neuroxide::Result<Option<DistEnv>> {
    let m: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    DistEnv::from_lookup(&|k| m.get(k).cloned())
}

const FULL: [(&str, &str); 5] = [
    ("RANK", "1"),
    ("WORLD_SIZE", "2"),
    ("LOCAL_RANK", "1"),
    ("MASTER_ADDR", "127.0.0.1"),
    ("MASTER_PORT", "29500"),
];

#[test]
fn launch_variables_are_read_and_checked() {
    assert_eq!(lookup(&[]).expect("no launch"), None);
    let env = lookup(&FULL).expect("valid").expect("a launch");
    assert_eq!((env.rank, env.world_size, env.local_rank), (1, 2, 1));
    assert_eq!(
        (env.master_addr.as_str(), env.master_port),
        ("127.0.0.1", 29500)
    );
    let with = |k: &str, v: Option<&str>| {
        let vars: Vec<(&str, &str)> = FULL
            .iter()
            .filter(|(n, _)| *n != k)
            .copied()
            .chain(v.map(|v| (k, v)))
            .collect();
        lookup(&vars).expect_err("invalid").to_string()
    };
    assert!(with("RANK", None).contains("RANK is not"));
    assert!(with("RANK", Some("2")).contains("RANK=2 is not below WORLD_SIZE=2"));
    assert!(with("RANK", Some("one")).contains("RANK='one' is not"));
    assert!(with("WORLD_SIZE", Some("0")).contains("at least 1"));
    assert!(with("MASTER_ADDR", None).contains("MASTER_ADDR is not"));
    assert!(with("MASTER_PORT", Some("70000")).contains("MASTER_PORT=70000"));
    assert!(with("MASTER_PORT", None).contains("MASTER_PORT is not"));
}

#[test]
fn rendezvous_hands_rank_zeros_id_to_every_rank() {
    for world in [1, 2, 3] {
        let port = free_port();
        let id: Vec<u8> = (0..128).map(|i| (i * 7 + world) as u8).collect();
        let handles: Vec<_> = (0..world)
            .map(|rank| {
                let id = id.clone();
                std::thread::spawn(move || {
                    let mut make = || Ok(id.clone());
                    exchange_id(&env(rank, world, port), Duration::from_secs(20), &mut make)
                })
            })
            .collect();
        for (rank, h) in handles.into_iter().enumerate() {
            let got = h.join().expect("thread").expect("rendezvous");
            assert_eq!(got, id, "world {world}, rank {rank}");
        }
    }
}

#[test]
fn rendezvous_fails_clearly_instead_of_hanging() {
    // Rank 1 never comes: rank 0 gives up after the timeout, naming it.
    let port = free_port();
    let start = Instant::now();
    let mut make = || Ok(vec![1u8; 128]);
    let e = exchange_id(&env(0, 2, port), Duration::from_millis(400), &mut make)
        .expect_err("rank 1 is missing");
    assert!(e.to_string().contains("rank(s) 1 did not join"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(5));

    // No rank 0: rank 1 gives up after the timeout.
    let port = free_port();
    let mut never = || unreachable_id();
    let e = exchange_id(&env(1, 2, port), Duration::from_millis(400), &mut never)
        .expect_err("rank 0 is missing");
    assert!(e.to_string().contains("could not reach rank 0"), "{e}");

    // Different world sizes: refused with both numbers.
    let port = free_port();
    let server = std::thread::spawn(move || {
        let mut make = || Ok(vec![2u8; 128]);
        exchange_id(&env(0, 2, port), Duration::from_secs(10), &mut make)
    });
    let e = exchange_id(&env(1, 3, port), Duration::from_secs(10), &mut never)
        .expect_err("world size mismatch");
    assert!(e.to_string().contains("WORLD_SIZE=3, rank 0 has 2"), "{e}");
    let e = server
        .join()
        .expect("thread")
        .expect_err("rank 0 refuses too");
    assert!(e.to_string().contains("WORLD_SIZE=3"), "{e}");
}

fn unreachable_id() -> neuroxide::Result<Vec<u8>> {
    Err(neuroxide::Error::invalid("only rank 0 makes the id"))
}

#[test]
fn exact_reduction_slices_cover_every_element_once() {
    for n in [0, 1, 5, 7, 64, 1001] {
        for world in 1..=5 {
            let mut next = 0;
            for j in 0..world {
                let (start, len) = slice_of(n, world, j);
                if len > 0 {
                    assert_eq!(start, next, "n {n}, world {world}, slice {j}");
                }
                next = start + len;
            }
            assert_eq!(next, n, "n {n}, world {world}");
        }
    }
}

/// An in-process stand-in for NCCL: ranks are threads; `reduce` reads every rank's range of
/// the flat vector and folds them in rank order on the host — the arithmetic the exact NCCL
/// reduction performs on the devices (`distributed/nccl.rs`). It records the ranges it was
/// given (the step's gradient buckets).
struct Loopback {
    rank: usize,
    world: usize,
    slots: Arc<Mutex<Vec<Vec<f32>>>>,
    barrier: Arc<Barrier>,
    ranges: Arc<Mutex<Vec<std::ops::Range<usize>>>>,
}

impl CrossRankReduce for Loopback {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.world
    }
    fn prepare(&mut self, _: &mut dyn Backend, _: usize) -> neuroxide::Result<()> {
        Ok(())
    }
    fn reduce(&mut self, backend: &mut dyn Backend, b: &ReduceBucket) -> neuroxide::Result<()> {
        let range = b.range.clone();
        self.ranges.lock().expect("ranges").push(range.clone());
        b.pack(backend)?;
        let mut v = vec![0.0f32; range.len()];
        backend.download(b.flat, range.start, &mut v)?;
        self.slots.lock().expect("slots")[self.rank] = v;
        self.barrier.wait();
        let mut sum = {
            let slots = self.slots.lock().expect("slots");
            let mut sum = slots[0].clone();
            for s in &slots[1..] {
                for (a, b) in sum.iter_mut().zip(s) {
                    *a += *b;
                }
            }
            sum
        };
        self.barrier.wait(); // every rank has read the slots before the next range writes them
        let inv = 1.0 / self.world as f32;
        for a in &mut sum[..b.scaled] {
            *a *= inv;
        }
        backend.upload(b.flat, range.start, &sum)?;
        b.unpack(backend)
    }
    fn wait(&mut self, _: &mut dyn Backend) -> neuroxide::Result<()> {
        Ok(())
    }
    fn check_alive(&self) -> neuroxide::Result<()> {
        Ok(())
    }
}

fn dp_model() -> Model {
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

fn dp_batch(b: usize) -> (Tensor, Tensor) {
    let x = (0..16 * 12)
        .map(|i| (((i * 7 + b * 5) % 31) as f32 - 15.0) * 0.09)
        .collect();
    let y = (0..16).map(|i| ((i * 3 + b) % 5) as i32).collect();
    (
        Tensor::new([16, 12], x).expect("x"),
        Tensor::from_i32([16, 1], y).expect("y"),
    )
}

type Run = (Vec<u32>, (u32, u32), Vec<(String, Vec<u32>)>);

/// Five global batches (the last two prefetched): losses, running totals, weights.
fn dp_train(m: &mut Model) -> Run {
    m.reset_running().expect("reset");
    let mut losses = Vec::new();
    for b in 0..5 {
        let (x, y) = dp_batch(b);
        if b < 3 {
            m.train_step(&[&x], &[&y]).expect("step");
        } else {
            m.prefetch(&[&x], &[&y]).expect("prefetch");
            m.train_step_prefetched().expect("step");
        }
        losses.push(m.last_loss().expect("loss").to_bits());
    }
    let (l, c) = m.running_totals().expect("totals");
    let w = common::weight_bits(m);
    (losses, (l.to_bits(), c.to_bits()), w)
}

/// Trains `world` ranks as threads with gradient buckets of `bucket_bytes` (None: the
/// default) and checks every rank against `--shards world`; returns the ranges rank 0's
/// reducer saw in its first step.
fn ranks_equal_sharded(world: usize, bucket_bytes: Option<usize>) -> Vec<std::ops::Range<usize>> {
    let mut sharded = dp_model();
    sharded.set_shards(world).expect("shards");
    let expect = dp_train(&mut sharded);
    let slots = Arc::new(Mutex::new(vec![Vec::new(); world]));
    let barrier = Arc::new(Barrier::new(world));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let ranks: Vec<_> = (0..world)
        .map(|rank| {
            let (slots, barrier) = (slots.clone(), barrier.clone());
            let ranges = if rank == 0 {
                ranges.clone()
            } else {
                Arc::new(Mutex::new(Vec::new()))
            };
            std::thread::spawn(move || {
                let mut m = dp_model();
                m.to_device(Device::cpu_threads(1)).expect("device");
                let reducer = Loopback {
                    rank,
                    world,
                    slots,
                    barrier,
                    ranges,
                };
                m.set_cross_rank(Box::new(reducer)).expect("join");
                if let Some(b) = bucket_bytes {
                    m.set_reduce_bucket_bytes(b).expect("buckets");
                }
                assert_eq!(m.shards(), world);
                dp_train(&mut m)
            })
        })
        .collect();
    for (rank, h) in ranks.into_iter().enumerate() {
        let got = h.join().expect("rank thread");
        assert_eq!(
            got, expect,
            "world {world}, rank {rank}, buckets of {bucket_bytes:?} bytes vs --shards {world}"
        );
    }
    let all = ranges.lock().expect("ranges").clone();
    let per_step = all.len() / 5;
    all[..per_step].to_vec()
}

#[test]
fn ranks_with_a_rank_order_reduction_equal_sharded_training() {
    for world in [2, 4] {
        // The default 25 MiB holds this model whole: one range, reduced after the backward.
        let ranges = ranks_equal_sharded(world, None);
        // 12·24 + 24 + 24·5 + 5 gradients, one loss, one count.
        assert_eq!(ranges, vec![0..(12 * 24 + 24 + 24 * 5 + 5 + 2)]);
    }
}

#[test]
fn gradient_buckets_change_no_bit() {
    for world in [2, 4] {
        // 16 values per bucket: each Dense layer's gradients (kernel and bias, final after the
        // same node) close a bucket as soon as the backward has finished them, the last
        // layer's first; the losses and counts follow the whole backward.
        let ranges = ranks_equal_sharded(world, Some(64));
        let total = 12 * 24 + 24 + 24 * 5 + 5 + 2;
        let last = 24 * 5 + 5;
        assert_eq!(ranges, vec![0..last, last..total - 2, total - 2..total]);
        // 0: no early bucket.
        assert_eq!(ranks_equal_sharded(world, Some(0)), vec![0..total]);
    }
}
