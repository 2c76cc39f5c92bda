#!/usr/bin/env python3
"""PyTorch reference for the workloads of shared/bench/WORKLOADS.md.

Builds the same models as `neuroxide bench` and times them with the same protocol:
one step (allocation, compilation), then a warm-up of at least 20 steps and 0.5 s; the warm-up's
time per step fixes the steps per timed run (about --run-seconds each); the median of --runs
timed runs is reported. The device is synchronised before every clock read. Inputs are random,
drawn once, and the steps rotate among 4 batches.

Modes: fp32 (eager, TF32 off), tf32 (CUDA only), bf16 (autocast), compile_fp32, compile_bf16
(torch.compile of the model). A mode that fails (e.g. torch.compile without a working compiler)
is reported with "skipped": "error: ..." instead of stopping the run.

Prints one JSON line per (workload, device, mode) with the fields of neuroxide's BenchRecord, and
a table on stderr.

    python3 benches/pytorch_reference.py --device cpu xor_mlp mnist_mlp_b64
    python3 benches/pytorch_reference.py --device cuda --modes fp32,tf32,bf16
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ALL_MODES = ["fp32", "tf32", "bf16", "compile_fp32", "compile_bf16"]

# name -> (architecture, batch, unit)
WORKLOADS = {
    "xor_mlp": ("xor", 4, "steps"),
    "mnist_mlp_b64": ("mlp", 64, "images"),
    "mnist_mlp_b512": ("mlp", 512, "images"),
    "mnist_cnn_b64": ("cnn", 64, "images"),
    "mnist_cnn_b512": ("cnn", 512, "images"),
    "mini_transformer": ("mini", 32, "tokens"),
    "gpt_small": ("gpt", 16, "tokens"),
}

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


def build(arch):
    """Model, optimizer, loss function (output, target) -> scalar."""
    if arch == "xor":
        model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid())
        return model, lambda p: torch.optim.Adam(p, lr=0.05), F.mse_loss
    if arch == "mlp":
        model = nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
        )
        return model, lambda p: torch.optim.Adam(p, lr=1e-3), F.cross_entropy
    if arch == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10),
        )
        return model, lambda p: torch.optim.Adam(p, lr=1e-3), F.cross_entropy
    vocab = TRANSFORMERS[arch][0]
    model = CharLM(*TRANSFORMERS[arch])

    def lm_loss(logits, target):
        return F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1))

    return model, lambda p: torch.optim.AdamW(p, lr=3e-4, weight_decay=0.01), lm_loss


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
    tf32 = mode == "tf32"
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
        "batch": batch,
        "steps": 0,
        "runs": 0,
        "run_ms_per_step": [],
        "skipped": None,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads() if device == "cpu" else None,
    }
    r.update(kw)
    return r


def time_workload(name, device, mode, args):
    arch, batch, unit = WORKLOADS[name]
    if mode == "tf32" and device != "cuda":
        return record(name, device, mode, unit, batch, skipped="tf32 is a CUDA mode")
    if name == "gpt_small" and device == "cpu" and not args.allow_slow:
        return record(name, device, mode, unit, batch,
                      skipped="gpt_small on the CPU takes minutes per step (pass --allow-slow)")
    set_precision(device, mode)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model, make_opt, loss_fn = build(arch)
    model = model.to(device)
    opt = make_opt(model.parameters())
    data = batches(arch, batch, device, gen)
    fwd = model
    if mode.startswith("compile"):
        torch._dynamo.reset()
        fwd = torch.compile(model)
    use_bf16 = mode.endswith("bf16")

    def step(i):
        x, y = data[i % 4]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_bf16):
            loss = loss_fn(fwd(x), y)
        loss.backward()
        opt.step()
        return loss

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
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
    ms = statistics.median(runs)
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
    )


def table(records):
    lines = [f"{'workload':<18} {'device':<6} {'mode':<13} {'ms/step':>10} {'items/s':>12} "
             f"{'TFLOP/s':>8} {'peak MiB':>9}  notes"]
    for r in records:
        f = lambda v, d: "—" if v is None else f"{v:.{d}f}"  # noqa: E731
        lines.append(
            f"{r['workload']:<18} {r['device']:<6} {r['mode']:<13} {f(r['ms_per_step'], 4):>10} "
            f"{f(r['items_per_s'], 0):>12} {f(r['tflops'], 2):>8} {f(r['peak_mem_mib'], 0):>9}  "
            f"{'skipped: ' + r['skipped'] if r['skipped'] else r['device_name']}"
        )
    return "\n".join(lines)


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
    args = p.parse_args(argv)
    if args.runs < 3:
        p.error("the protocol needs at least 3 timed runs")
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


if __name__ == "__main__":
    main()
