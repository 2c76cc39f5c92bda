#!/usr/bin/env python3
"""Data-parallel scaling, Neuroxide beside PyTorch DDP, in one call (issue 13).

On a machine with N >= 2 GPUs it runs, one after the other:
  1. Neuroxide, 1 GPU:    neuroxide bench W... --device cuda --json
  2. Neuroxide, N GPUs:   neuroxide launch --gpus N -- bench W... --device cuda --json
     (and with --fast-reduce also `launch --fast`: ncclAllReduce instead of the exact
     rank-order reduction)
  3. PyTorch DDP, 1 and N GPUs: torchrun --standalone --nproc_per_node 1|N benches/pytorch_ddp.py
and prints a markdown table: workload, framework (and mode), items/s on 1 GPU and on N GPUs
(weak scaling: each GPU trains the per-GPU batch of WORKLOADS.md, so N GPUs at perfect scaling
report N x one GPU's items/s), the scaling (N-GPU / 1-GPU items/s), and for Neuroxide the
target of issue 13: scaling >= 1.8 (on 2 GPUs) and >= PyTorch DDP's fp32 scaling measured in
the same call (fp32 is the arithmetic of Neuroxide's exact mode). The commit and the GPU names
head the table; NCCL_NVLS_ENABLE=0 is set for every run.

    python3 benches/scaling.py                          # gpt_small and mnist_cnn_b512, 2 GPUs
    python3 benches/scaling.py --torch-modes fp32,tf32,bf16 --fast-reduce --save runs.jsonl
    python3 benches/scaling.py --records runs.jsonl     # the table again from saved records

Needs no Rust toolchain: point it at a prebuilt binary with --bin or NEUROXIDE_BIN. Does not
import torch itself (torchrun runs benches/pytorch_ddp.py).
"""

import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import compare  # noqa: E402  (stdlib only: binary lookup, JSON lines, commit, number format)

TARGET = 1.8  # issue 13: 2 GPUs >= 1.8 x one GPU


def gpu_names():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, check=True).stdout
        return [line.strip() for line in out.splitlines() if line.strip()]
    except (OSError, subprocess.CalledProcessError):
        return []


def tagged(records, run):
    for r in records:
        r["scaling_run"] = run
    return records


def measure(args):
    """Runs every configuration; returns (records, failures)."""
    os.environ["NCCL_NVLS_ENABLE"] = "0"
    binary = compare.find_binary(args.bin)
    timing = ["--runs", str(args.runs), "--run-seconds", str(args.run_seconds)]
    bench = ["bench", *args.workloads, "--device", "cuda", "--json", *timing]
    torchrun = [args.python, "-m", "torch.distributed.run", "--standalone"]
    ddp = [os.path.join(HERE, "pytorch_ddp.py"), *args.workloads, "--modes", args.torch_modes,
           *timing]
    runs = [
        ("neuroxide-1", [binary, *bench]),
        ("neuroxide-n", [binary, "launch", "--gpus", str(args.gpus), "--", *bench]),
    ]
    if args.fast_reduce:
        runs.append(("neuroxide-n-fast",
                     [binary, "launch", "--gpus", str(args.gpus), "--fast", "--", *bench]))
    runs += [
        ("pytorch-1", [*torchrun, "--nproc_per_node", "1", *ddp]),
        ("pytorch-n", [*torchrun, "--nproc_per_node", str(args.gpus), *ddp]),
    ]
    records, failures = [], []
    for run, cmd in runs:
        got, status = compare.run(cmd)
        if status != 0 or not got:
            failures.append(f"{run}: exit status {status}, {len(got)} record(s)")
        for r in got:
            if run.endswith("-fast"):
                r["dp_reduce"] = "fast"
            elif run == "neuroxide-n":
                r["dp_reduce"] = "exact"
        records += tagged(got, run)
    return records, failures


def speed(r):
    return compare.speed(r)


def rows(records, gpus):
    """[(workload, label, 1-GPU items/s, N-GPU items/s, scaling, verdict)] in workload order."""
    def find(framework, workload, mode, world, reduce=None):
        for r in records:
            if (r.get("framework"), r.get("workload"), r.get("mode"), r.get("world_size", 1)) == \
                    (framework, workload, mode, world) and \
                    (reduce is None or r.get("dp_reduce", "exact") == reduce):
                return r
        return None

    def scaling(one, many):
        a, b = speed(one), speed(many)
        return b / a if a and b else None

    workloads = list(dict.fromkeys(r["workload"] for r in records))
    out = []
    for w in workloads:
        torch_modes = list(dict.fromkeys(r["mode"] for r in records
                                         if r.get("framework") == "pytorch"
                                         and r["workload"] == w))
        torch_rows = []
        for m in torch_modes:
            one, many = find("pytorch", w, m, 1), find("pytorch", w, m, gpus)
            torch_rows.append((w, f"PyTorch DDP {m}", speed(one), speed(many), scaling(one, many),
                               ""))
        ref = next((s for (_, lab, _, _, s, _) in torch_rows if lab.endswith(" fp32")), None)
        nx_one = find("neuroxide", w, "exact", 1)
        for reduce in ("exact", "fast"):
            many = find("neuroxide", w, "exact", gpus, reduce)
            if many is None and reduce == "fast":
                continue
            s = scaling(nx_one, many)
            if s is None:
                verdict = "not measured"
            else:
                bars = [s >= TARGET]
                want = f"≥{TARGET}×"
                if ref is not None:
                    bars.append(s >= ref)
                    want += f" and ≥ PyTorch fp32 {ref:.2f}×"
                else:
                    want += " (PyTorch fp32 not measured)"
                verdict = ("met" if all(bars) else "NOT met") + f" ({want})"
            out.append((w, f"Neuroxide exact, {reduce} reduce", speed(nx_one), speed(many), s,
                        verdict))
        out += torch_rows
    return out


def markdown(records, gpus, header):
    lines = header + [
        "",
        f"| workload | framework | 1 GPU items/s | {gpus} GPUs items/s | scaling | target |",
        "|---|---|---:|---:|---:|---|",
    ]
    for w, lab, one, many, s, verdict in rows(records, gpus):
        lines.append(f"| {w} | {lab} | {compare.fmt(one)} | {compare.fmt(many)} | "
                     f"{'—' if s is None else f'{s:.2f}×'} | {verdict or '—'} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workloads", nargs="*", default=["gpt_small", "mnist_cnn_b512"])
    p.add_argument("--gpus", type=int, default=2)
    p.add_argument("--bin", help="the neuroxide binary (default: NEUROXIDE_BIN, target/release)")
    p.add_argument("--python", default=sys.executable, help="the Python that has torch")
    p.add_argument("--torch-modes", default="fp32", help="pytorch_ddp.py modes: fp32,tf32,bf16")
    p.add_argument("--fast-reduce", action="store_true",
                   help="also time Neuroxide with `launch --fast` (ncclAllReduce, not bit-exact)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--run-seconds", type=float, default=2.0)
    p.add_argument("--save", help="write every record (JSON lines) to this file")
    p.add_argument("--records", help="no runs: print the table of records saved with --save")
    args = p.parse_args(argv)
    if args.gpus < 2:
        p.error("--gpus must be at least 2 (the 1-GPU baseline always runs)")
    if args.records:
        with open(args.records) as f:
            records = compare.json_lines(f.read())
        failures = []
        header = [f"Records from {args.records}"]
    else:
        records, failures = measure(args)
        names = gpu_names() or sorted({r.get("device_name", "?") for r in records})
        header = [f"Data-parallel scaling, {datetime.date.today()}, commit {compare.commit()}",
                  f"GPUs: {', '.join(names) or 'unknown'}"]
    if args.save:
        with open(args.save, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
    print(markdown(records, args.gpus, header))
    for fail in failures:
        print(f"scaling.py: failed: {fail}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
