#!/usr/bin/env python3
"""PyTorch reference for the workloads of shared/bench/WORKLOADS.md.

Builds the same models as `neuroxide bench` and times them with the same protocol:
one step (allocation, compilation, graph capture), then a warm-up of at least 20 steps and 0.5 s;
the warm-up's time per step fixes the steps per timed run (about --run-seconds each); the median
of --runs timed runs is reported. The device is synchronised before every clock read. Inputs are
random, drawn once, and the steps rotate among 4 batches.

Modes:
  fp32          eager, TF32 off
  tf32          eager with TF32 matmuls and convolutions (CUDA only; skipped on the CPU)
  bf16          eager under torch.autocast(bfloat16)
  graph-fp32, graph-tf32, graph-bf16
                the whole training step (forward, loss, backward, optimizer step) captured once
                as a CUDA graph and replayed, as in "whole network capture" of PyTorch's
                CUDA-graphs documentation: static input/target tensors; a few warm-up steps on a
                side stream; Adam/AdamW(capturable=True); grads set to None right before the
                capture, so the captured backward allocates them in the graph's private pool
                and every replay overwrites them (no zero_grad in the graph); per step, copy the
                batch into the static tensors and g.replay(). bf16 runs autocast inside the
                capture with cache_enabled=False. CUDA only: skipped on the CPU. --check-graph N
                first trains N steps eagerly and N by replay from the same seed and records the
                largest parameter difference (graph_check_max_abs_diff).
  compile_fp32, compile_bf16
                torch.compile of the model, eager optimizer
A mode that fails (torch.compile without a working compiler, a failed capture) is reported with
"skipped": "error: ..." instead of stopping the run; --isolate runs every (workload, mode) in a
child process, so even a crash or a poisoned CUDA context costs one record only.

Workload global_norm_124m: the global gradient norm of clipping, torch.linalg.vector_norm over one
fp32 tensor of 124,439,808 values (GPT-2 small's parameter count), one norm per step; fp32 eager
only (the other modes are skipped). Neuroxide times its exact chunked sum of squares on the same
count (issue 8: within 3x).

Workload mnist_mlp_fit: one training epoch of the mnist_mlp model (784-256-128-10, ReLU,
Adam 1e-3, cross-entropy) on the real MNIST training set (data/mnist, 60,000 images, pixels /255),
batch 64 (937 full batches and a last one of 32), shuffled every epoch, with accuracy counted as
Keras compile(metrics=["accuracy"]) does (a running correct count over the epoch, read once at
its end with the mean loss). Loader (--fit-loader): "perm" (default, the fastest) keeps the data
set on the device and gathers each batch with index_select from a torch.randperm drawn on the
device each epoch; "dataloader" is a torch DataLoader over the in-memory CPU tensors (a
BatchSampler over a RandomSampler, one gather per batch, pinned on CUDA, copied with
non_blocking). Graph modes capture one graph per batch size (64, and 32 for the last batch of the
epoch), each with its own static tensors. Timed: --fit-warmup-epochs untimed epochs, then --runs
timed epochs (the median is reported); items_per_s = 60,000 / epoch seconds; ms_per_step = epoch
ms / 938 steps. Extra fields: epoch_s, run_epoch_s, images_per_epoch, accuracy and loss (of the
last timed epoch), loader.

Prints one JSON line per (workload, device, mode) with the fields of neuroxide's BenchRecord, a
table on stderr and a one-line summary as the last line of stderr.

    python3 benches/pytorch_reference.py --device cpu xor_mlp mnist_mlp_b64 mnist_mlp_fit
    python3 benches/pytorch_reference.py --device cuda --modes fp32,tf32,bf16,graph-fp32,graph-tf32,graph-bf16
"""

import argparse
import gzip
import json
import math
import os
import platform
import statistics
import struct
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ALL_MODES = ["fp32", "tf32", "bf16", "graph-fp32", "graph-tf32", "graph-bf16",
             "compile_fp32", "compile_bf16"]
GRAPH_MODES = {"graph-fp32", "graph-tf32", "graph-bf16"}

# name -> (architecture, batch, unit)
WORKLOADS = {
    "xor_mlp": ("xor", 4, "steps"),
    "mnist_mlp_b64": ("mlp", 64, "images"),
    "mnist_mlp_b512": ("mlp", 512, "images"),
    "mnist_cnn_b64": ("cnn", 64, "images"),
    "mnist_cnn_b512": ("cnn", 512, "images"),
    "mini_transformer": ("mini", 32, "tokens"),
    "gpt_small": ("gpt", 16, "tokens"),
    "mnist_mlp_fit": ("mlp", 64, "images"),
    "global_norm_124m": ("norm", 124_439_808, "values"),
}
# Workloads timed per epoch on the real MNIST training set rather than per step on random data.
FIT_WORKLOADS = {"mnist_mlp_fit"}
# Workloads that time one reduction per step, not a model (fp32 eager only).
NORM_WORKLOADS = {"global_norm_124m"}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(ROOT, "data", "mnist")
MNIST_TRAIN = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")

TRANSFORMERS = {
    # vocab, context, d, heads, layers, ff
    "mini": (65, 64, 128, 4, 2, 512),
    "gpt": (256, 256, 768, 12, 12, 3072),
}


class Block(nn.Module):
    """Pre-LayerNorm block: x + attn(ln1(x)); x + mlp(ln2(x)); causal attention; GELU (tanh)."""

    def __init__(self, d, heads, ff):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ff)
        self.fc2 = nn.Linear(ff, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class CharLM(nn.Module):
    """Learned token + position embeddings, pre-LN blocks, final LayerNorm, head without bias."""

    def __init__(self, vocab, context, d, heads, layers, ff):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads, ff) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


def build(arch, capturable=False):
    """Model, optimizer factory, loss function (output, target) -> scalar. `capturable`: the
    optimizer may be captured in a CUDA graph (its step count stays on the device)."""
    kw = {"capturable": True} if capturable else {}
    if arch == "xor":
        model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid())
        return model, lambda p: torch.optim.Adam(p, lr=0.05, **kw), F.mse_loss
    if arch == "mlp":
        model = nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
        )
        return model, lambda p: torch.optim.Adam(p, lr=1e-3, **kw), F.cross_entropy
    if arch == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10),
        )
        return model, lambda p: torch.optim.Adam(p, lr=1e-3, **kw), F.cross_entropy
    vocab = TRANSFORMERS[arch][0]
    model = CharLM(*TRANSFORMERS[arch])

    def lm_loss(logits, target):
        return F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1))

    return model, lambda p: torch.optim.AdamW(p, lr=3e-4, weight_decay=0.01, **kw), lm_loss


def batches(arch, batch, device, gen):
    """Four (input, target) batches, drawn once."""
    out = []
    for _ in range(4):
        if arch == "xor":
            x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
            y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
        elif arch == "mlp":
            x = torch.rand(batch, 784, generator=gen)
            y = torch.randint(0, 10, (batch,), generator=gen)
        elif arch == "cnn":
            x = torch.rand(batch, 1, 28, 28, generator=gen)
            y = torch.randint(0, 10, (batch,), generator=gen)
        else:
            vocab, context = TRANSFORMERS[arch][:2]
            x = torch.randint(0, vocab, (batch, context), generator=gen)
            y = torch.randint(0, vocab, (batch, context), generator=gen)
        out.append((x.to(device), y.to(device)))
    return out


def items_per_step(arch, batch, unit):
    if unit == "steps":
        return 1
    if unit == "tokens":
        return batch * TRANSFORMERS[arch][1]
    return batch


def flops_per_step(name, arch, batch):
    """WORKLOADS.md defines FLOPs for gpt_small only: 6·N·B·T + 12·L·B·T²·d."""
    if name != "gpt_small":
        return None
    v, t, d, _, layers, ff = TRANSFORMERS[arch]
    n = layers * (4 * d * d + 2 * d * ff) + v * d
    return 6 * n * batch * t + 12 * layers * batch * t * t * d


def set_precision(device, mode):
    tf32 = mode.endswith("tf32")
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def device_name(device):
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {torch.get_num_threads()} threads"


def record(name, device, mode, unit, batch, **kw):
    r = {
        "framework": "pytorch",
        "workload": name,
        "device": device,
        "device_name": device_name(device),
        "mode": mode,
        "ms_per_step": None,
        "items_per_s": None,
        "unit": unit,
        "tflops": None,
        "peak_mem_mib": None,
        "launches_per_step": None,  # PyTorch does not report it; Neuroxide's bench does
        "batch": batch,
        "world_size": 1,  # benches/pytorch_ddp.py: the processes of the DDP job
        "steps": 0,
        "runs": 0,
        "run_ms_per_step": [],
        "skipped": None,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads() if device == "cpu" else None,
    }
    r.update(kw)
    return r


def skip_reason(name, device, mode, args):
    """Why (workload, device, mode) is not timed, or None."""
    if mode in GRAPH_MODES and device != "cuda":
        return "graph-* modes capture CUDA graphs: CUDA only"
    if mode.endswith("tf32") and device != "cuda":
        return "tf32 is a CUDA mode"
    if name in NORM_WORKLOADS and mode != "fp32":
        return "a single fp32 reduction: timed in fp32 eager mode only"
    if name == "gpt_small" and device == "cpu" and not args.allow_slow:
        return "gpt_small on the CPU takes minutes per step (pass --allow-slow)"
    return None


def autocast(device, use_bf16, cache=True):
    # Inside a CUDA-graph capture the autocast weight cache must be off: a cached cast would be
    # captured once and then be stale on every replay after the optimizer step.
    return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_bf16,
                          cache_enabled=cache)


def eager_step(fwd, opt, loss_fn, data, device, use_bf16):
    def step(i):
        x, y = data[i % 4]
        opt.zero_grad(set_to_none=True)
        with autocast(device, use_bf16):
            loss = loss_fn(fwd(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def capture(opt, body, prepare, warmup_iters):
    """Whole-network capture as in PyTorch's CUDA-graphs documentation. `prepare(i)` fills the
    static inputs for warm-up step i; `body()` runs forward, loss, backward and opt.step() on the
    static tensors and returns what it wants to keep. Warm-up runs eagerly on a side stream (lazy
    initialisation of cuBLAS/cuDNN handles and of the optimizer state must not happen inside the
    capture); the grads are set to None right before the capture, so the captured backward
    allocates them from the graph's private pool and each replay overwrites them, and the
    captured opt.step() reads them there. Returns (graph, body's result)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for i in range(warmup_iters):
            prepare(i)
            opt.zero_grad(set_to_none=True)
            body()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(g):
        out = body()
    return g, out


def graph_step(model, opt, loss_fn, data, use_bf16, warmup_iters):
    """The graph-* modes: one step = copy batch i % 4 into the static tensors, replay."""
    static_x = torch.empty_like(data[0][0])
    static_y = torch.empty_like(data[0][1])

    def load(i):
        x, y = data[i % 4]
        static_x.copy_(x, non_blocking=True)
        static_y.copy_(y, non_blocking=True)

    def body():
        with autocast("cuda", use_bf16, cache=False):
            loss = loss_fn(model(static_x), static_y)
        loss.backward()
        opt.step()
        return loss

    g, static_loss = capture(opt, body, load, warmup_iters)

    def step(i):
        load(i)
        g.replay()
        return static_loss

    return step


def check_graph(arch, batch, device, mode, args):
    """--check-graph N: train two copies of the model from the same seed on the same batches,
    one eagerly and one by replaying the captured step (both with capturable Adam, the same
    warm-up steps first), N steps each; returns the largest |parameter difference|. Identical
    kernels give 0 or rounding-level differences; a stale or wrongly wired graph gives about
    lr × N."""
    use_bf16 = mode.endswith("bf16")
    data = batches(arch, batch, device, torch.Generator().manual_seed(args.seed))
    finals = []
    for graphed in (False, True):
        torch.manual_seed(args.seed)
        model, make_opt, loss_fn = build(arch, capturable=True)
        model = model.to(device)
        opt = make_opt(model.parameters())
        if graphed:
            step = graph_step(model, opt, loss_fn, data, use_bf16, args.graph_warmup)
        else:
            step = eager_step(model, opt, loss_fn, data, device, use_bf16)
            for i in range(args.graph_warmup):  # what capture() runs before capturing
                step(i)
        for i in range(args.check_graph):
            step(i)
        sync(device)
        finals.append([p.detach().float().clone() for p in model.parameters()])
    return max(float((a - b).abs().max()) for a, b in zip(*finals))


def time_steps(step, device, args):
    """The protocol: one step, warm-up (>= warmup_steps and >= warmup_seconds), then args.runs
    timed runs of a step count fixed from the warm-up. Returns (median ms, run ms, steps)."""
    step(0)
    sync(device)
    t0 = time.perf_counter()
    n = 0
    while n < args.warmup_steps or time.perf_counter() - t0 < args.warmup_seconds:
        loss = step(n + 1)
        n += 1
        if n % 64 == 0:
            sync(device)
    sync(device)
    est = (time.perf_counter() - t0) / n
    if not math.isfinite(float(loss.detach())):
        raise RuntimeError(f"loss is {float(loss.detach())} after warm-up")
    steps = max(3, math.ceil(args.run_seconds / max(est, 1e-9)))
    runs = []
    for _ in range(args.runs):
        sync(device)
        t = time.perf_counter()
        for i in range(steps):
            step(i)
        sync(device)
        runs.append((time.perf_counter() - t) * 1e3 / steps)
    return statistics.median(runs), runs, steps


def time_workload(name, device, mode, args):
    arch, batch, unit = WORKLOADS[name]
    why = skip_reason(name, device, mode, args)
    if why:
        return record(name, device, mode, unit, batch, skipped=why)
    if name in FIT_WORKLOADS:
        return time_fit(name, device, mode, args)
    if name in NORM_WORKLOADS:
        return time_norm(name, device, mode, args)
    set_precision(device, mode)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    graph = mode in GRAPH_MODES
    model, make_opt, loss_fn = build(arch, capturable=graph)
    model = model.to(device)
    opt = make_opt(model.parameters())
    data = batches(arch, batch, device, gen)
    use_bf16 = mode.endswith("bf16")
    extra = {}
    if graph and args.check_graph:
        extra["graph_check_max_abs_diff"] = check_graph(arch, batch, device, mode, args)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if graph:
        step = graph_step(model, opt, loss_fn, data, use_bf16, args.graph_warmup)
    else:
        fwd = model
        if mode.startswith("compile"):
            torch._dynamo.reset()
            fwd = torch.compile(model)
        step = eager_step(fwd, opt, loss_fn, data, device, use_bf16)
    ms, runs, steps = time_steps(step, device, args)
    flops = flops_per_step(name, arch, batch)
    return record(
        name, device, mode, unit, batch,
        ms_per_step=ms,
        items_per_s=items_per_step(arch, batch, unit) * 1e3 / ms,
        tflops=None if flops is None else flops / (ms * 1e-3) / 1e12,
        peak_mem_mib=torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
        steps=steps,
        runs=len(runs),
        run_ms_per_step=runs,
        **extra,
    )


# ---------------------------------------------------------------- global_norm_124m
def time_norm(name, device, mode, args):
    """The global gradient norm of clipping: torch.linalg.vector_norm over one fp32 tensor of
    124,439,808 values (uniform in [-1e-3, 1e-3)), one norm per step, same protocol (the device
    synchronised before every clock read)."""
    _, n, unit = WORKLOADS[name]
    gen = torch.Generator().manual_seed(args.seed)
    x = ((torch.rand(n, generator=gen) - 0.5) * 2e-3).to(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    ms, runs, steps = time_steps(lambda i: torch.linalg.vector_norm(x), device, args)
    return record(
        name, device, mode, unit, n,
        ms_per_step=ms,
        items_per_s=n * 1e3 / ms,
        peak_mem_mib=torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
        steps=steps,
        runs=len(runs),
        run_ms_per_step=runs,
    )


# ---------------------------------------------------------------- mnist_mlp_fit

_MNIST_CACHE = {}


def read_idx(path, ndim):
    """An IDX file (gzip): big-endian u32 magic 0x0000_08_<ndim> (u8 data), ndim big-endian u32
    dimensions, then the bytes. Returns a uint8 tensor of those dimensions."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != 0x0800 | ndim:
        raise ValueError(f"{path}: IDX magic {magic:#010x}, expected {0x0800 | ndim:#010x}")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    body = raw[4 + 4 * ndim:]
    if len(body) != math.prod(dims):
        raise ValueError(f"{path}: {len(body)} data bytes for dimensions {dims}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def load_mnist_train(data_dir):
    """(images float32 [N, 784] in [0, 1], labels int64 [N]) on the CPU, read once."""
    if data_dir not in _MNIST_CACHE:
        images = read_idx(os.path.join(data_dir, MNIST_TRAIN[0]), 3)
        labels = read_idx(os.path.join(data_dir, MNIST_TRAIN[1]), 1)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        x = images.reshape(images.shape[0], -1).to(torch.float32).div_(255.0)
        _MNIST_CACHE[data_dir] = (x, labels.to(torch.int64))
    return _MNIST_CACHE[data_dir]


class PermLoader:
    """The data set on the device; each epoch a torch.randperm drawn on the device, split into
    batches; a batch is gathered with index_select (straight into the static tensors in graph
    modes)."""

    def __init__(self, x, y, batch, device, seed):
        self.x, self.y, self.batch, self.device = x.to(device), y.to(device), batch, device
        self.gen = torch.Generator(device=device).manual_seed(seed)

    def epoch(self):
        n = self.x.shape[0]
        return torch.randperm(n, device=self.device, generator=self.gen).split(self.batch)

    def sample(self, size):
        return torch.arange(size, device=self.device)

    @staticmethod
    def size(idx):
        return idx.shape[0]

    def take(self, idx, out=None):
        if out is None:
            return self.x.index_select(0, idx), self.y.index_select(0, idx)
        torch.index_select(self.x, 0, idx, out=out[0])
        torch.index_select(self.y, 0, idx, out=out[1])
        return out


class TorchDataLoader:
    """torch.utils.data.DataLoader over the in-memory CPU tensors: a BatchSampler over a
    RandomSampler hands the TensorDataset one index list per batch (one gather per batch instead
    of 64 per-sample reads and a collate); pinned and copied with non_blocking on CUDA."""

    def __init__(self, x, y, batch, device, seed):
        from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset
        self.x, self.y, self.device = x, y, device
        ds = TensorDataset(x, y)
        sampler = BatchSampler(RandomSampler(ds, generator=torch.Generator().manual_seed(seed)),
                               batch, drop_last=False)
        self.dl = DataLoader(ds, batch_size=None, sampler=sampler, num_workers=0,
                             pin_memory=device == "cuda")

    def epoch(self):
        return self.dl

    def sample(self, size):
        return self.x[:size], self.y[:size]

    @staticmethod
    def size(b):
        return b[0].shape[0]

    def take(self, b, out=None):
        x, y = b
        if out is None:
            return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        out[0].copy_(x, non_blocking=True)
        out[1].copy_(y, non_blocking=True)
        return out


LOADERS = {"perm": PermLoader, "dataloader": TorchDataLoader}


def time_fit(name, device, mode, args):
    """One `fit` epoch per timed run: shuffle, every batch (the last, partial one included)
    through forward, loss, backward and Adam, the running correct count and loss sum kept on the
    device and read once at the end of the epoch."""
    arch, batch, unit = WORKLOADS[name]
    paths = [os.path.join(args.data_dir, f) for f in MNIST_TRAIN]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        return record(name, device, mode, unit, batch,
                      skipped=f"MNIST training set not found: {', '.join(missing)}")
    x_all, y_all = load_mnist_train(args.data_dir)
    n = x_all.shape[0]
    set_precision(device, mode)
    torch.manual_seed(args.seed)
    graph = mode in GRAPH_MODES
    use_bf16 = mode.endswith("bf16")
    model, make_opt, loss_fn = build(arch, capturable=graph)
    model = model.to(device)
    opt = make_opt(model.parameters())
    fwd = model
    if mode.startswith("compile"):
        torch._dynamo.reset()
        fwd = torch.compile(model, dynamic=False)  # one specialisation per batch size (64, 32)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    loader = LOADERS[args.fit_loader](x_all, y_all, batch, device, args.seed)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    loss_sum = torch.zeros((), dtype=torch.float32, device=device)

    def train(x, y, cache=True):
        # Keras's "accuracy" with integer labels and logits: argmax of the step's own forward
        # pass (before the update) against the label, counted over the epoch.
        with autocast(device, use_bf16, cache):
            logits = fwd(x)
            loss = loss_fn(logits, y)
        loss.backward()
        opt.step()
        correct.add_((logits.argmax(dim=1) == y).sum())
        loss_sum.add_(loss.detach().float(), alpha=x.shape[0])

    if graph:
        # One graph per batch size: the 937 full batches replay the 64 graph, the last batch of
        # 32 replays its own. Separate private pools, so neither can reuse the other's memory.
        sizes = [batch] + ([n % batch] if n % batch else [])
        graphs = {}
        for size in sizes:
            static = (torch.empty((size, x_all.shape[1]), dtype=torch.float32, device=device),
                      torch.empty((size,), dtype=torch.int64, device=device))
            src = loader.sample(size)
            g, _ = capture(opt, lambda st=static: train(*st, cache=False),
                           lambda i, st=static, sr=src: loader.take(sr, out=st), args.graph_warmup)
            graphs[size] = (g, static)

        def run_batch(src):
            g, static = graphs[loader.size(src)]
            loader.take(src, out=static)
            g.replay()
    else:
        def run_batch(src):
            x, y = loader.take(src)
            opt.zero_grad(set_to_none=True)
            train(x, y)

    def epoch():
        correct.zero_()
        loss_sum.zero_()
        for src in loader.epoch():
            run_batch(src)
        return correct.item() / n, loss_sum.item() / n  # the one host read of the epoch

    sync(device)
    for _ in range(args.fit_warmup_epochs):
        acc, loss = epoch()
    runs, accs = [], []
    for _ in range(args.runs):
        sync(device)
        t = time.perf_counter()
        acc, loss = epoch()
        sync(device)
        runs.append(time.perf_counter() - t)
        accs.append(acc)
    if not math.isfinite(loss):
        raise RuntimeError(f"epoch loss is {loss}")
    if acc < args.fit_min_accuracy:
        raise RuntimeError(f"training accuracy {acc:.4f} after {args.fit_warmup_epochs + args.runs}"
                           f" epochs is below {args.fit_min_accuracy}: the step does not learn")
    steps = math.ceil(n / batch)
    epoch_s = statistics.median(runs)
    return record(
        name, device, mode, unit, batch,
        ms_per_step=epoch_s * 1e3 / steps,
        items_per_s=n / epoch_s,
        peak_mem_mib=torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
        steps=steps,
        runs=len(runs),
        run_ms_per_step=[r * 1e3 / steps for r in runs],
        epoch_s=epoch_s,
        run_epoch_s=runs,
        images_per_epoch=n,
        accuracy=acc,
        loss=loss,
        run_accuracy=accs,
        loader=args.fit_loader,
    )


# ---------------------------------------------------------------- output

def failed(r):
    return bool(r["skipped"]) and r["skipped"].startswith("error:")


def table(records):
    lines = [f"{'workload':<18} {'device':<6} {'mode':<13} {'ms/step':>10} {'items/s':>12} "
             f"{'TFLOP/s':>8} {'peak MiB':>9}  notes"]
    for r in records:
        f = lambda v, d: "—" if v is None else f"{v:.{d}f}"  # noqa: E731
        note = r["device_name"]
        if r.get("graph_check_max_abs_diff") is not None:
            note = f"graph vs eager max |dparam| {r['graph_check_max_abs_diff']:.3g}; {note}"
        if r.get("epoch_s") is not None:
            note = (f"epoch {r['epoch_s']:.3f} s, accuracy {r['accuracy']:.4f}, "
                    f"loss {r['loss']:.4f}, loader {r['loader']}; {note}")
        lines.append(
            f"{r['workload']:<18} {r['device']:<6} {r['mode']:<13} {f(r['ms_per_step'], 4):>10} "
            f"{f(r['items_per_s'], 0):>12} {f(r['tflops'], 2):>8} {f(r['peak_mem_mib'], 0):>9}  "
            f"{'skipped: ' + r['skipped'] if r['skipped'] else note}"
        )
    return "\n".join(lines)


def summary(records, device):
    """One line: counts, and the best mode per workload by throughput."""
    timed = [r for r in records if r["items_per_s"] is not None]
    fails = [r for r in records if failed(r)]
    best = {}
    for r in timed:
        if r["workload"] not in best or r["items_per_s"] > best[r["workload"]]["items_per_s"]:
            best[r["workload"]] = r
    parts = [f"{w} {r['mode']} {r['items_per_s']:.0f} {r['unit']}/s ({r['ms_per_step']:.4g} ms/step)"
             for w, r in best.items()]
    line = (f"pytorch_reference summary ({device}, torch {torch.__version__}): {len(records)} records, "
            f"{len(timed)} timed, {len(records) - len(timed) - len(fails)} skipped, "
            f"{len(fails)} failed")
    if fails:
        line += " [" + ", ".join(f"{r['workload']}/{r['mode']}" for r in fails) + "]"
    if parts:
        line += "; best: " + "; ".join(parts)
    return line


def child_args(args):
    """The options of this run, for a child process that times one (workload, mode)."""
    out = ["--device", args.device, "--runs", str(args.runs),
           "--run-seconds", str(args.run_seconds), "--warmup-steps", str(args.warmup_steps),
           "--warmup-seconds", str(args.warmup_seconds), "--seed", str(args.seed),
           "--threads", str(args.threads), "--graph-warmup", str(args.graph_warmup),
           "--data-dir", args.data_dir, "--fit-loader", args.fit_loader,
           "--fit-warmup-epochs", str(args.fit_warmup_epochs),
           "--fit-min-accuracy", str(args.fit_min_accuracy),
           "--check-graph", str(args.check_graph)]
    return out + (["--allow-slow"] if args.allow_slow else [])


def run_isolated(name, mode, args):
    """Time one (workload, mode) in a child process; a crash becomes an error record."""
    arch, batch, unit = WORKLOADS[name]
    cmd = [sys.executable, os.path.abspath(__file__), name, "--modes", mode] + child_args(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    recs = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if len(recs) == 1:
        return recs[0]
    err = [line for line in p.stderr.strip().splitlines() if line.strip()]
    last = err[-1][:300] if err else "no output"
    return record(name, args.device, mode, unit, batch,
                  skipped=f"error: child process exited with status {p.returncode}: {last}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workloads", nargs="*", help="default: all of WORKLOADS.md")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--modes", default=",".join(ALL_MODES),
                   help="comma-separated subset of " + ",".join(ALL_MODES))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--run-seconds", type=float, default=0.5)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--warmup-seconds", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--allow-slow", action="store_true", help="run gpt_small on the CPU too")
    p.add_argument("--graph-warmup", type=int, default=3,
                   help="graph-* modes: eager steps on a side stream before the capture")
    p.add_argument("--check-graph", type=int, default=0, metavar="N",
                   help="graph-* modes: first train N steps eagerly and N by replay from the same "
                        "seed and record the largest parameter difference (0: off)")
    p.add_argument("--data-dir", default=MNIST_DIR, help="mnist_mlp_fit: the IDX .gz files")
    p.add_argument("--fit-loader", default="perm", choices=sorted(LOADERS),
                   help="mnist_mlp_fit: device-side permutation (default) or torch DataLoader")
    p.add_argument("--fit-warmup-epochs", type=int, default=1,
                   help="mnist_mlp_fit: untimed epochs before the --runs timed ones")
    p.add_argument("--fit-min-accuracy", type=float, default=0.85,
                   help="mnist_mlp_fit: a lower training accuracy in the last epoch is an error")
    p.add_argument("--isolate", action="store_true",
                   help="time every (workload, mode) in its own child process")
    args = p.parse_args(argv)
    if args.runs < 3:
        p.error("the protocol needs at least 3 timed runs")
    if args.graph_warmup < 1:
        p.error("--graph-warmup must be at least 1")
    names = args.workloads or list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            p.error(f"unknown workload {n!r}: expected one of {', '.join(WORKLOADS)}")
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in ALL_MODES:
            p.error(f"unknown mode {m!r}: expected some of {', '.join(ALL_MODES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch.cuda.is_available() is False")
    records = []
    for n in names:
        for m in modes:
            arch, batch, unit = WORKLOADS[n]
            if args.isolate and not skip_reason(n, args.device, m, args):
                r = run_isolated(n, m, args)
            else:
                try:
                    r = time_workload(n, args.device, m, args)
                except Exception as e:  # a failing mode is a result, not the end of the run
                    msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                    r = record(n, args.device, m, unit, batch,
                               skipped=f"error: {type(e).__name__}: {msg}")
            print(json.dumps(r), flush=True)
            print(table([r]).splitlines()[1], file=sys.stderr, flush=True)
            records.append(r)
    print(table(records), file=sys.stderr)
    print(summary(records, args.device), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
