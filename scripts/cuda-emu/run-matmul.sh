#!/usr/bin/env bash
# Bit-exactness of the large-shape CUDA matmul kernels without a GPU: compiles the working tree's
# ops/matmul kernels (matmul.cu + matmul_big.cu, one unit as mod.rs builds it) and BASE's
# matmul.cu (default 97d7035, the last commit with the classic 128x128 nx_matmul_<ta><tb>) with
# g++ on the CUDA shims of emu.h (one std::thread per CUDA thread, __syncthreads as a barrier,
# exact fmaf, -ffp-contract=off), then runs every kernel of the working tree (each tile shape of
# nx_matmul_big_<BM>x<BN>_<ta><tb>, mid and small) against the classic kernel on many shapes,
# epilogues and inputs (matmul_parity.cpp) and prints the count of differing values per kernel
# (0 is the contract of ops/matmul/mod.rs). About a minute on 2 cores.
#
#   scripts/cuda-emu/run-matmul.sh [BASE]    (rc 1 when a value differs)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
base="${1:-97d7035}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mm=crates/neuroxide/src/ops/matmul
host() { sed 's/extern "C" __global__/__global__/'; }
git -C "$root" show "$base:$mm/matmul.cu" | host >"$work/old_matmul.cu"
cat "$root/$mm/matmul.cu" "$root/$mm/matmul_big.cu" | host >"$work/new_matmul_all.cu"
cp "$root/scripts/cuda-emu/emu.h" "$root/scripts/cuda-emu/matmul_parity.cpp" "$work/"
g++ -O2 -std=c++20 -ffp-contract=off -pthread -I"$work" "$work/matmul_parity.cpp" -o "$work/matmul_parity"
"$work/matmul_parity"
