#!/usr/bin/env bash
# Bit-exactness of the tiled CUDA attention kernels without a GPU: compiles the working tree's
# ops/attention kernels (attention.cu + attention_tiled.cu, ops/reduce/chunked.cuh) and the
# warp-per-row kernels of BASE (default 4348203, the last commit with only those) with g++ on
# CUDA shims (emu.h, emu_warp.h: one std::thread per CUDA thread, __syncthreads / __syncwarp as
# barriers, exact fmaf, -ffp-contract=off), then runs every tiled kernel against the kernel it
# replaces on many shapes and inputs (attention_parity.cpp) and prints the count of differing
# values (0 is the contract of ops/attention/mod.rs). The GPU parity test (cuda_ops_attention)
# remains the reference; this catches a reordering before a GPU run.
#
#   scripts/cuda-emu/run-attention.sh [BASE]    (rc 1 when a value differs)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
base="${1:-4348203}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
att=crates/neuroxide/src/ops/attention
chunked=crates/neuroxide/src/ops/reduce/chunked.cuh
host() { sed 's/extern "C" __global__/__global__/'; }
git -C "$root" show "$base:$att/attention.cu" | host >"$work/old_attention.cu"
git -C "$root" show "$base:$chunked" >"$work/old_chunked.cuh"
cat "$root/$att/attention.cu" "$root/$att/attention_tiled.cu" | host >"$work/new_attention.cu"
cp "$root/$chunked" "$work/new_chunked.cuh"
cp "$root/scripts/cuda-emu/emu.h" "$root/scripts/cuda-emu/emu_warp.h" \
    "$root/scripts/cuda-emu/attention_parity.cpp" "$work/"
g++ -O2 -std=c++20 -ffp-contract=off -pthread -I"$work" "$work/attention_parity.cpp" -o "$work/attention_parity"
"$work/attention_parity"
