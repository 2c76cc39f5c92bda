#!/usr/bin/env python3
"""PyTorch DistributedDataParallel reference for `neuroxide launch --gpus N -- bench …`.

Weak scaling, as DDP benchmarks measure it: every rank trains the per-GPU batch of
shared/bench/WORKLOADS.md on its own GPU (cuda:LOCAL_RANK), DDP all-reduces the gradients over
NCCL during the backward pass, so one step trains a global batch of WORLD_SIZE x batch.
The models, optimizers, losses, batches, item counts and FLOPs are those of
benches/pytorch_reference.py (imported, not copied). Eager modes only: fp32, tf32, bf16.

Timing, as pytorch_reference.py, with the changes lockstep needs (every step is a collective, so
every rank must run the same number of steps): one step, then exactly --warmup-steps warm-up
steps (no time condition), then rank 0's steps per timed run (about --run-seconds each, from
its warm-up) broadcast to every rank, then --runs timed runs (the device synchronised before
every clock read); the median run of rank 0 is reported. Rank 0 prints one JSON line per
(workload, mode) with the fields of neuroxide's BenchRecord: items_per_s and tflops count the
GLOBAL batch (perfect scaling on 2 GPUs doubles one GPU's items/s), batch is the global batch,
world_size the ranks.

    torchrun --standalone --nproc_per_node 2 benches/pytorch_ddp.py gpt_small mnist_cnn_b512 \\
        --modes fp32,tf32,bf16
    torchrun --standalone --nproc_per_node 1 benches/pytorch_ddp.py gpt_small   # the baseline

NCCL_NVLS_ENABLE=0 is forced (NVLink multicast stays off on our GPU machines). Started without
torchrun (no WORLD_SIZE), it runs as a job of one process.
"""

import argparse
import json
import math
import os
import socket
import statistics
import sys
import time

os.environ["NCCL_NVLS_ENABLE"] = "0"  # before NCCL is initialised

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

import pytorch_reference as ref  # noqa: E402

MODES = ["fp32", "tf32", "bf16"]
DEFAULT_WORKLOADS = ["gpt_small", "mnist_cnn_b512"]


def single_process_env():
    """A job of one process when started without torchrun."""
    if "WORLD_SIZE" in os.environ:
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})


def time_steps_lockstep(step, args, rank):
    """The protocol with a fixed warm-up and rank 0's step count. Returns (median ms of rank 0's
    runs, its run ms, steps)."""
    step(0)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    loss = None
    for n in range(1, max(1, args.warmup_steps) + 1):
        loss = step(n)
        if n % 64 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    est = (time.perf_counter() - t0) / max(1, args.warmup_steps)
    value = float(loss.detach())
    if not math.isfinite(value):
        raise RuntimeError(f"rank {rank}: loss is {value} after warm-up")
    steps = torch.tensor([max(3, math.ceil(args.run_seconds / max(est, 1e-9)))],
                         dtype=torch.int64, device="cuda")
    dist.broadcast(steps, src=0)
    steps = int(steps.item())
    runs = []
    for _ in range(args.runs):
        torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(steps):
            step(i)
        torch.cuda.synchronize()
        runs.append((time.perf_counter() - t) * 1e3 / steps)
    return statistics.median(runs), runs, steps


def time_workload(name, mode, args, rank, local_rank, world):
    arch, batch, unit = ref.WORKLOADS[name]
    global_batch = batch * world
    ref.set_precision("cuda", mode)
    torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP broadcasts too)
    # Each rank draws its own shard of the global batch, as a DistributedSampler would.
    gen = torch.Generator().manual_seed(args.seed + 1000 * rank)
    model, make_opt, loss_fn = ref.build(arch)
    model = model.to("cuda")
    ddp = DDP(model, device_ids=[local_rank])
    opt = make_opt(ddp.parameters())
    data = ref.batches(arch, batch, "cuda", gen)
    torch.cuda.reset_peak_memory_stats()
    step = ref.eager_step(ddp, opt, loss_fn, data, "cuda", mode == "bf16")
    ms, runs, steps = time_steps_lockstep(step, args, rank)
    flops = ref.flops_per_step(name, arch, global_batch)
    r = ref.record(
        name, "cuda", mode, unit, global_batch,
        ms_per_step=ms,
        items_per_s=ref.items_per_step(arch, global_batch, unit) * 1e3 / ms,
        tflops=None if flops is None else flops / (ms * 1e-3) / 1e12,
        peak_mem_mib=torch.cuda.max_memory_allocated() / 2**20,
        world_size=world,
        steps=steps,
        runs=len(runs),
        run_ms_per_step=runs,
        per_gpu_batch=batch,
        ddp=True,
    )
    del ddp, opt, model, data
    torch.cuda.empty_cache()
    return r


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workloads", nargs="*", help="default: " + " ".join(DEFAULT_WORKLOADS))
    p.add_argument("--modes", default="fp32", help="comma-separated subset of " + ",".join(MODES))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--run-seconds", type=float, default=2.0)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.runs < 3:
        p.error("the protocol needs at least 3 timed runs")
    names = args.workloads or DEFAULT_WORKLOADS
    for n in names:
        if n not in ref.WORKLOADS or n in ref.FIT_WORKLOADS or n in ref.NORM_WORKLOADS:
            steps = [w for w in ref.WORKLOADS
                     if w not in ref.FIT_WORKLOADS and w not in ref.NORM_WORKLOADS]
            p.error(f"workload {n!r}: expected a training-step workload, one of {', '.join(steps)}")
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            p.error(f"mode {m!r}: DDP runs the eager modes {', '.join(MODES)}")
    if not torch.cuda.is_available():
        p.error("torch.cuda.is_available() is False: DDP over NCCL needs GPUs")
    single_process_env()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl")
    records = []
    try:
        for n in names:
            for m in modes:
                r = time_workload(n, m, args, rank, local_rank, world)
                if rank == 0:
                    print(json.dumps(r), flush=True)
                    print(ref.table([r]).splitlines()[1] + f"  [{world} GPU(s)]",
                          file=sys.stderr, flush=True)
                records.append(r)
    finally:
        dist.destroy_process_group()
    if rank == 0:
        print(ref.table(records), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
