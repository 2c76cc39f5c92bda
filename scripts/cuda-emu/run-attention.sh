#!/usr/bin/env bash
# Bit-exactness of the tiled CUDA attention kernels without a GPU: compiles the working tree's
# ops/attention kernels (attention.cu, attention_tiled*.cu, ops/reduce/chunked.cuh) and BASE's
# (default 4348203, the last commit with only the warp-per-row kernels; a later BASE also brings
# its tiled files) with g++ on CUDA shims (emu.h, emu_warp.h: one std::thread per CUDA
# thread, __syncthreads / __syncwarp as barriers, exact fmaf, -ffp-contract=off), then runs
# every tiled kernel against BASE's warp-per-row kernel it replaces and, when BASE has them,
# against BASE's tiled kernels, on many shapes and inputs (attention_parity.cpp), and prints the
# count of differing values (0 is the contract of ops/attention/mod.rs). The GPU parity test
# (cuda_ops_attention) remains the reference; this catches a reordering before a GPU run.
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
# The family's files in the order mod.rs concatenates them (those a commit has).
files="attention.cu attention_tiled.cu attention_tiled_dkv.cu"
base_tiled=0
base_dkv=0
for f in $files; do
    if git -C "$root" cat-file -e "$base:$att/$f" 2>/dev/null; then
        git -C "$root" show "$base:$att/$f" | host >>"$work/old_attention.cu"
        [ "$f" = attention_tiled.cu ] && base_tiled=1
        [ "$f" = attention_tiled_dkv.cu ] && base_dkv=1
    fi
    if [ -f "$root/$att/$f" ]; then
        host <"$root/$att/$f" >>"$work/new_attention.cu"
    fi
done
git -C "$root" show "$base:$chunked" >"$work/old_chunked.cuh"
cp "$root/$chunked" "$work/new_chunked.cuh"
cp "$root/scripts/cuda-emu/emu.h" "$root/scripts/cuda-emu/emu_warp.h" \
    "$root/scripts/cuda-emu/attention_parity.cpp" "$work/"
g++ -O2 -std=c++20 -DNX_BASE_TILED=$base_tiled -DNX_BASE_DKV=$base_dkv -ffp-contract=off -pthread -I"$work" "$work/attention_parity.cpp" -o "$work/attention_parity"
"$work/attention_parity"
