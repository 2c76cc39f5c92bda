#!/usr/bin/env bash
# Bit-exactness of the pooling kernels (ops/pool/pool.cu) of the working tree against BASE's
# (default 70bf95e, the 64-bit index arithmetic) without a GPU, on the shims of emu.h (see
# run.sh). Prints the count of differing values (0 is the contract); rc 1 when one differs.
#
#   scripts/cuda-emu/run-pool.sh [BASE]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
base="${1:-70bf95e}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pool=crates/neuroxide/src/ops/pool/pool.cu
chunked=crates/neuroxide/src/ops/reduce/chunked.cuh
host() { sed 's/extern "C" __global__/__global__/'; }
git -C "$root" show "$base:$pool" | host >"$work/old_pool.cu"
git -C "$root" show "$base:$chunked" >"$work/old_chunked.cuh"
host <"$root/$pool" >"$work/new_pool.cu"
cp "$root/$chunked" "$work/new_chunked.cuh"
cp "$root/scripts/cuda-emu/emu.h" "$root/scripts/cuda-emu/pool_parity.cpp" "$work/"
g++ -O2 -std=c++20 -ffp-contract=off -pthread -I"$work" "$work/pool_parity.cpp" -o "$work/pool_parity"
"$work/pool_parity"
