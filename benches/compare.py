#!/usr/bin/env python3
"""Neuroxide against PyTorch on the workloads of shared/bench/WORKLOADS.md, in one run.

For each workload it runs `neuroxide bench --json` and then benches/pytorch_reference.py on the
same device, one workload after the other (so a change in machine load hits both sides alike),
joins the JSON records on (workload, device) and prints the ratio table: Neuroxide throughput
÷ PyTorch throughput (items_per_s ÷ items_per_s, which is PyTorch ms/step ÷ Neuroxide ms/step for
the per-step workloads; higher is better), against the best PyTorch mode (the fastest of every
mode measured: eager fp32/tf32/bf16, the whole-step CUDA graphs graph-fp32/-tf32/-bf16 and
torch.compile) and against fp32 eager, with the target of WORKLOADS.md. mnist_mlp_fit (one `fit`
epoch on the real MNIST training set) is compared by images/s over the whole epoch.

Needs no Rust toolchain: point it at a prebuilt binary with --bin or NEUROXIDE_BIN.

    python3 benches/compare.py --device cpu xor_mlp mnist_mlp_b64 mnist_mlp_b512
    NEUROXIDE_BIN=.gpu/validate/neuroxide python3 benches/compare.py --device cuda \\
        xor_mlp mnist_mlp_b64 mnist_mlp_b512 --markdown
"""

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

ALL = ["xor_mlp", "mnist_mlp_b64", "mnist_mlp_b512", "mnist_cnn_b64", "mnist_cnn_b512",
       "mini_transformer", "gpt_small", "mnist_mlp_fit", "global_norm_124m"]

# Every mode of benches/pytorch_reference.py; "best" is the fastest of those measured.
PYTORCH_MODES = "fp32,tf32,bf16,graph-fp32,graph-tf32,graph-bf16,compile_fp32,compile_bf16"

# (workload, device) -> (minimum ratio, which PyTorch figure it is against): the exact-mode
# targets of WORKLOADS.md, and issue 9's acceptance for mnist_mlp_fit.
TARGETS = {
    ("xor_mlp", "cpu"): (100.0, "best"),
    ("mnist_mlp_b64", "cpu"): (2.0, "best"),
    ("mnist_mlp_b512", "cpu"): (1.2, "best"),
    ("mnist_cnn_b64", "cpu"): (2.0, "best"),
    ("mini_transformer", "cpu"): (1.5, "best"),
    ("mnist_mlp_fit", "cpu"): (1.5, "best"),
    ("xor_mlp", "cuda"): (3.0, "best"),
    ("mnist_mlp_b64", "cuda"): (3.0, "best"),
    ("mnist_mlp_b512", "cuda"): (2.0, "best"),
    ("mnist_cnn_b64", "cuda"): (3.0, "best"),
    ("mnist_cnn_b512", "cuda"): (2.0, "best"),
    ("mini_transformer", "cuda"): (1.5, "best"),
    ("gpt_small", "cuda"): (1.0, "fp32"),
    ("mnist_mlp_fit", "cuda"): (3.0, "best"),
    # issue 8: the exact chunked global norm within 3x of torch.linalg.vector_norm.
    ("global_norm_124m", "cuda"): (1.0 / 3.0, "fp32"),
}


def find_binary(arg):
    """--bin, then $NEUROXIDE_BIN, then target/release/neuroxide, then `neuroxide` on PATH."""
    for cand in (arg, os.environ.get("NEUROXIDE_BIN"),
                 os.path.join(ROOT, "target", "release", "neuroxide"), shutil.which("neuroxide")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    sys.exit("compare.py: no neuroxide binary: pass --bin PATH or set NEUROXIDE_BIN "
             "(build one with `cargo build --release -p neuroxide-cli`)")


def json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def run(cmd):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.stderr.strip():
        # Keep the tables and errors, drop library warnings' noise.
        for line in p.stderr.splitlines():
            if "Warning" not in line and "_conversion_method_template" not in line:
                print("  " + line, file=sys.stderr)
    records = json_lines(p.stdout)
    if p.returncode != 0:
        print(f"compare.py: {cmd[0]} exited with status {p.returncode}", file=sys.stderr)
    return records, p.returncode


def commit():
    c = os.environ.get("NEUROXIDE_COMMIT")
    if c:
        return c
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def ms(r):
    return r.get("ms_per_step") if r and not r.get("skipped") else None


def speed(r):
    """Throughput of a timed record: items_per_s, else 1000 / ms_per_step."""
    if not r or r.get("skipped"):
        return None
    if r.get("items_per_s"):
        return r["items_per_s"]
    m = r.get("ms_per_step")
    return 1e3 / m if m else None


def fmt(v, digits=4):
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.3g}" if v < 10 else f"{v:.2f}"
    return f"{v:.{digits}f}"


def label(r):
    """A PyTorch record's mode, with its CPU thread count when several were tried."""
    t = r.get("threads")
    return f"{r['mode']} ({t} thr)" if t else r["mode"]


def mib(v):
    return "—" if v is None else f"{v:.0f}"


def ratio_rows(nx, pt):
    """One dict per Neuroxide record: ratios against PyTorch's best mode and fp32."""
    rows = []
    for r in nx:
        key = (r["workload"], r["device"])
        refs = [p for p in pt if (p["workload"], p["device"]) == key]
        timed = [p for p in refs if speed(p) is not None]
        best = max(timed, key=speed) if timed else None
        fp32 = max((p for p in timed if p["mode"] == "fp32"), key=speed, default=None)
        n = ms(r)
        s = speed(r)
        vs_best = s / speed(best) if s and best else None
        vs_fp32 = s / speed(fp32) if s and fp32 else None
        target = TARGETS.get(key)
        got = None
        if target:
            got = vs_fp32 if target[1] == "fp32" else vs_best
        rows.append({
            "workload": r["workload"], "device": r["device"], "mode": r["mode"],
            "neuroxide_ms": n, "pytorch_fp32_ms": ms(fp32),
            "pytorch_best_ms": ms(best), "pytorch_best_mode": label(best) if best else None,
            "unit": r.get("unit"), "neuroxide_items_per_s": s,
            "pytorch_best_items_per_s": speed(best),
            "ratio_vs_best": vs_best, "ratio_vs_fp32": vs_fp32,
            "target": target, "meets_target": None if got is None or not target else got >= target[0],
            "neuroxide_peak_mib": r.get("peak_mem_mib"),
            "pytorch_peak_mib": fp32.get("peak_mem_mib") if fp32 else None,
            "skipped": r.get("skipped"),
            "pytorch_modes": {label(p): (ms(p) if ms(p) is not None else p.get("skipped"))
                              for p in refs},
        })
    return rows


def markdown(rows, header):
    out = [header, "",
           "| workload | Neuroxide ms/step | PyTorch fp32 ms/step | best PyTorch mode, ms/step "
           "| Neuroxide ÷ best | Neuroxide ÷ fp32 | target | meets | peak MiB (Neuroxide / PyTorch fp32) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r["skipped"]:
            out.append(f"| {r['workload']} | skipped: {r['skipped']} | | | | | | | |")
            continue
        t = r["target"]
        target = f"≥ {t[0]:g}× {'fp32' if t[1] == 'fp32' else 'best'}" if t else "—"
        meets = {None: "—", True: "yes", False: "no"}[r["meets_target"]]
        best = (f"{r['pytorch_best_mode']} {fmt(r['pytorch_best_ms'])}"
                if r["pytorch_best_mode"] else "—")
        rb = f"{r['ratio_vs_best']:.2f}×" if r["ratio_vs_best"] is not None else "—"
        rf = f"{r['ratio_vs_fp32']:.2f}×" if r["ratio_vs_fp32"] is not None else "—"
        out.append(
            f"| {r['workload']} | {fmt(r['neuroxide_ms'])} | {fmt(r['pytorch_fp32_ms'])} | {best} "
            f"| {rb} | {rf} | {target} | {meets} "
            f"| {mib(r['neuroxide_peak_mib'])} / {mib(r['pytorch_peak_mib'])} |")
    if any(r["workload"] == "mnist_mlp_fit" for r in rows):
        out += ["", "mnist_mlp_fit: one epoch of 60,000 images (938 steps of batch 64, the last "
                "of 32); ms/step is the epoch's time ÷ 938 and the ratio is images/s over the epoch."]
    out += ["", "Every PyTorch mode, ms per step (median):", ""]
    for r in rows:
        if r["pytorch_modes"]:
            modes = " · ".join(
                f"{m} {fmt(v) if isinstance(v, float) else 'skipped (' + str(v) + ')'}"
                for m, v in r["pytorch_modes"].items())
            out.append(f"- {r['workload']}: {modes}")
    return "\n".join(out)


def load_average():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "unknown"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workloads", nargs="*", help="default: all of WORKLOADS.md")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--bin", help="neuroxide binary (default: $NEUROXIDE_BIN, "
                                 "target/release/neuroxide, PATH)")
    p.add_argument("--python", default=sys.executable, help="interpreter with torch")
    p.add_argument("--modes", default=PYTORCH_MODES,
                   help="PyTorch modes to measure (default: all, graph-* included)")
    p.add_argument("--reference-args", default="",
                   help="extra options for pytorch_reference.py, e.g. '--isolate' or "
                        "'--fit-loader dataloader'")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--run-seconds", type=float, default=0.5)
    p.add_argument("--torch-threads", default="",
                   help="CPU: comma-separated thread counts to run PyTorch with (e.g. 1,2); the "
                        "best over modes and thread counts is the reference (default: torch's)")
    p.add_argument("--reference-all", action="store_true",
                   help="also time PyTorch on workloads Neuroxide skips")
    p.add_argument("--json-out", help="write every raw record and the ratio rows here")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = p.parse_args(argv)
    names = args.workloads or ALL
    binary = find_binary(args.bin)
    common = ["--device", args.device, "--runs", str(args.runs),
              "--run-seconds", str(args.run_seconds)]
    load_before = load_average()
    rev = commit()
    nx, pt = [], []
    for w in names:
        recs, status = run([binary, "bench", "--json", w] + common)
        if not recs:
            recs = [{"framework": "neuroxide", "workload": w, "device": args.device,
                     "mode": "exact", "ms_per_step": None,
                     "skipped": f"error: neuroxide bench exited with status {status} "
                                "(its stderr is above)"}]
        nx += recs
        if any(not r.get("skipped") for r in recs) or args.reference_all:
            for t in [x for x in args.torch_threads.split(",") if x] or [None]:
                extra = ["--threads", t] if t and args.device == "cpu" else []
                pt += run([args.python, os.path.join(HERE, "pytorch_reference.py"), w,
                           "--modes", args.modes] + common + extra
                          + shlex.split(args.reference_args))[0]
    rows = ratio_rows(nx, pt)
    names_seen = {r.get("device_name") for r in nx + pt if r.get("device_name")}
    torch_v = next((r.get("torch_version") for r in pt if r.get("torch_version")), "unknown")
    header = (f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
              f"device {args.device} ({'; '.join(sorted(names_seen)) or 'unknown'}), "
              f"Neuroxide commit {rev}, PyTorch {torch_v}, "
              f"median of {args.runs} runs of ~{args.run_seconds} s each, "
              f"load average before/after {load_before} / {load_average()}. "
              f"Ratio = Neuroxide throughput ÷ PyTorch throughput (higher is better).")
    if args.markdown:
        print(markdown(rows, header))
    else:
        print(header)
        for r in rows:
            print(json.dumps(r))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"header": header, "neuroxide": nx, "pytorch": pt, "ratios": rows}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
