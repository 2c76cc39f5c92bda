#!/usr/bin/env bash
# Runs every GPU test executable that build-gpu-tests.sh copied (cuda_* in this script's folder
# or in DIR), writes one result line per executable to RESULTS (default DIR/RESULTS.txt) and
# each full log beside it, then runs the matmul benchmark. Exits non-zero if a test failed.
#
#   run-gpu-tests.sh [DIR] [RESULTS]
set -uo pipefail
dir="${1:-$(dirname "$0")}"
results="${2:-$dir/RESULTS.txt}"
logs="$(dirname "$results")"

# NVRTC and cuBLAS: the toolkit's lib folders and pip's nvidia wheels, wherever they are.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import nvidia, os; [print(os.path.join(p, q, "lib")) for p in nvidia.__path__ for q in os.listdir(p)]' 2>/dev/null); do
    [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
export LD_LIBRARY_PATH
# A CUDA test that cannot find the GPU fails instead of printing "skipped" (PARITY.md).
export NEUROXIDE_REQUIRE_CUDA=1

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'
} >"$results"

status=0
for t in "$dir"/*; do
    name="$(basename "$t")"
    [ -x "$t" ] && [ -f "$t" ] || continue
    case "$name" in cuda_matmul_bench | *.sh | *.py | neuroxide) continue ;; esac
    start=$(date +%s)
    "$t" --test-threads=4 --nocapture >"$logs/$name.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    summary="$(grep -E '^test result:' "$logs/$name.log" | tail -1)"
    skipped="$(grep -c '^skipped:' "$logs/$name.log")"
    # Under NEUROXIDE_REQUIRE_CUDA=1 a skip is a failure even if a test forgot to fail on it.
    if [ $rc -eq 0 ] && [ "$skipped" -eq 0 ]; then verdict=PASS; else verdict=FAIL; status=1; fi
    echo "$name: $verdict (${secs}s; ${summary:-no summary}; $skipped skipped)" | tee -a "$results"
    grep -E "^test .* (ok|FAILED)$" "$logs/$name.log" | sed 's/^/    /' >>"$results"
done

if [ -x "$dir/cuda_matmul_bench" ]; then
    "$dir/cuda_matmul_bench" >"$logs/cuda_matmul_bench.log" 2>&1
    echo "cuda_matmul_bench: rc $?" >>"$results"
    cat "$logs/cuda_matmul_bench.log" >>"$results"
fi
cat "$results"
exit $status
