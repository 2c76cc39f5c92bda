#!/usr/bin/env bash
# Builds the GPU test executables (every integration test named cuda_*, plus the matmul
# benchmark example) in release mode and copies them, with run-gpu-tests.sh, to a folder that
# can be shipped to a GPU machine (default .gpu/tests; git-ignored).
#
#   scripts/build-gpu-tests.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.gpu/tests}"
mkdir -p "$dest"
rm -f "$dest"/* 

tests=()
# Every integration test with a CUDA part: cuda_* plus the ones named here (matmul_exact too:
# GPU hosts have AVX-512, which exercises the AVX-512 matmul path this machine lacks).
# The library's tests and the examples crate's (whole-model parity, step recording) are built
# per package, since `--test NAME` applies to one package at a time.
ex_tests=()
for f in crates/neuroxide/tests/cuda_*.rs crates/neuroxide/tests/concurrency.rs \
    crates/neuroxide/tests/async_input.rs crates/neuroxide/tests/matmul_exact.rs; do
    [ -f "$f" ] && tests+=(--test "$(basename "$f" .rs)")
done
for f in crates/neuroxide-examples/tests/cuda_*.rs; do
    [ -f "$f" ] && ex_tests+=(--test "$(basename "$f" .rs)")
done
gpu_tests=" ${tests[*]} ${ex_tests[*]} "

json="$(mktemp)"
cargo test --release -p neuroxide --no-run --message-format=json "${tests[@]}" >"$json"
if [ ${#ex_tests[@]} -gt 0 ]; then
    cargo test --release -p neuroxide-examples --no-run --message-format=json "${ex_tests[@]}" >>"$json"
fi
cargo build --release -p neuroxide --example cuda_matmul_bench --message-format=json >>"$json"

python3 - "$json" "$dest" "$gpu_tests" <<'PY'
import json, shutil, subprocess, sys, os
src, dest, wanted = sys.argv[1], sys.argv[2], sys.argv[3]
n = 0
for line in open(src):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
        continue
    name = msg["target"]["name"]
    kinds = msg["target"]["kind"]
    if (f" {name} " in wanted and "test" in kinds) or (name.startswith("cuda_") and "example" in kinds):
        out = os.path.join(dest, name)
        shutil.copy2(msg["executable"], out)
        if shutil.which("strip"):  # debug info would triple the size shipped to the GPU machine
            subprocess.run(["strip", "--strip-debug", out], check=True)
        print(f"copied {name} <- {msg['executable']}")
        n += 1
if n == 0:
    sys.exit("no cuda_* executables found in cargo's output")
PY
rm -f "$json"
cp scripts/run-gpu-tests.sh "$dest/"
echo "built into $dest: $(ls "$dest" | tr '\n' ' ')"
