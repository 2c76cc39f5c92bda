#!/usr/bin/env bash
# Bit-exactness of the tiled CUDA convolution kernels without a GPU: compiles the working
# tree's ops/conv kernels (conv.cu + conv_tiled.cu, ops/reduce/chunked.cuh) and those of BASE
# (default 67719db, the last commit with only the one-output-per-thread kernels, whose
# nx_conv_sum_partials is also the one-thread-per-output reference) with g++ on CUDA shims (emu.h: one std::thread per CUDA thread of a block,
# __syncthreads a barrier, exact fmaf, -ffp-contract=off), then runs every tiled kernel
# against the general kernels it replaces on mnist and odd shapes (stride, padding, dilation,
# groups, depthwise, 1x1, wide kernels) with plain, signed-zero/denormal and all-underflow
# inputs, and prints the count of differing values (0 is the contract of ops/conv/mod.rs).
# Slow (minutes): a threaded block emulation. The GPU parity tests (cuda_ops_conv,
# cuda_model_parity) remain the reference; this catches a reordering before a GPU run.
#
#   scripts/cuda-emu/run.sh [BASE [all|sum|dw|fwd|bwd|big]]    (rc 1 when a value differs)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
base="${1:-67719db}"
shift || true
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
conv=crates/neuroxide/src/ops/conv
chunked=crates/neuroxide/src/ops/reduce/chunked.cuh
host() { sed 's/extern "C" __global__/__global__/'; }
{ git -C "$root" show "$base:$conv/conv.cu"
  git -C "$root" show "$base:$conv/conv_tiled.cu" 2>/dev/null || true; } | host >"$work/old_conv.cu"
git -C "$root" show "$base:$chunked" >"$work/old_chunked.cuh"
cat "$root/$conv/conv.cu" "$root/$conv/conv_tiled.cu" | host >"$work/new_conv.cu"
cp "$root/$chunked" "$work/new_chunked.cuh"
cp "$root/scripts/cuda-emu/emu.h" "$root/scripts/cuda-emu/conv_parity.cpp" "$work/"
g++ -O2 -std=c++20 -ffp-contract=off -pthread -I"$work" "$work/conv_parity.cpp" -o "$work/conv_parity"
"$work/conv_parity" "$@" | tail -1
