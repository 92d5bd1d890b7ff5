#!/usr/bin/env bash
# Every GPU figure and check of docs/benchmarks.md's "GPU (CUDA)" section in one run on the GPU machine
# (one NVIDIA H200): about 5 minutes expected, 8.5 at most (each step has its own time limit, so one that
# hangs cannot eat the others' time; the limits, 45 + 120 + 100 + 80 + 120 s, and ~20 s of set-up add up to
# ~485 s: the call's timeout_s is 510).
#
#   bash benchmarks/gpu_prepare.sh                 # first, on the CPU machine (wheels + ml100k copy)
#   bash benchmarks/gpu_session.sh OUT_DIR         # then on the GPU machine: the device call's command is
#                                                  #   bash benchmarks/gpu_session.sh $OUT, carry [".whl", ".gpu"]
#
# Steps (log of each in OUT_DIR; at most 7 files, so all of them come back from $OUT):
#   1. sparse_kernels.py --device cuda: embedding_bag CSR vs torch.sparse.mm (cuSPARSE) vs PyG, ml100k + Baby
#   2. pytest -m gpu: tests/gpu (SG-URInit and 2-epoch fits, CUDA against CPU), the CUDA tests of
#      K-Means and SG-URInit in tests/init, and gpu_check on the small shape
#   3. gpu_check.py: 1-GPU fit with SG-URInit on CUDA, 1-GPU DDP fit/validate/predict (Baby shape, 3 epochs)
#   4. benchmark.py --device cuda: LightGCN, FREEDOM, LGMRec, MMGCN on ml100k (4 epochs) and the Baby shape (3)
# Files: summary.txt (machine, versions, each step's exit code and seconds), kernels.log, kernels.json,
# tests.log, gpu_check.log, benchmark.log, benchmark.jsonl.
#
# Exit code: 0 every step passed; 1 a step failed or timed out (summary.txt says which);
# 77 CUDA is not available (a dry run: the environment is checked, every CUDA step is skipped with a line).
# REHEARSE=1 bash benchmarks/gpu_session.sh DIR runs the same steps on the CPU, shrunk (about 2 minutes).
set -uo pipefail
OUT_DIR="${1:?usage: bash benchmarks/gpu_session.sh OUT_DIR}"
cd "$(dirname "$0")/.."
mkdir -p "$OUT_DIR"
SUMMARY="$OUT_DIR/summary.txt"
: > "$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }

PYTHON="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
export LIT_MMREC_CACHE="${LIT_MMREC_CACHE:-/tmp/lit_mmrec_cache}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" > /dev/null; then  # packages the GPU image lacks (gpu_prepare.sh)
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/lit_mmrec_site .whl/*.whl \
        || { note "gpu_session: installing .whl/ failed"; exit 1; }
    export PYTHONPATH="$PYTHONPATH:/tmp/lit_mmrec_site"
fi
ML100K=.gpu/ml100k
[ -f "$ML100K/ml100k.inter" ] || ML100K=../shared/data/ml100k

note "# gpu_session $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), ml100k from $ML100K"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | sed 's/^/# gpu: /' | tee -a "$SUMMARY"
"$PYTHON" - 2>&1 <<'EOF' | tee -a "$SUMMARY"
import importlib, platform, torch
versions = {m: getattr(importlib.import_module(m), "__version__", "?") for m in ("lightning", "torch_geometric", "jsonargparse")}
print(f"# python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
      + ", ".join(f"{k} {v}" for k, v in versions.items()) + f", {torch.get_num_threads()} CPU threads")
import lit_mmrec.cli  # noqa: F401  (fails here, not in every step, when a package is missing)
from lightning.pytorch.cli import _JSONARGPARSE_SIGNATURES_AVAILABLE as cli_ready
assert cli_ready, f"LightningCLI cannot run: {cli_ready}"
EOF
[ "${PIPESTATUS[0]}" -eq 0 ] || { note "gpu_session: the environment is incomplete (see above); run benchmarks/gpu_prepare.sh and carry .whl"; exit 1; }

# REHEARSE=1: the same steps on the CPU, shrunk (one backbone, ml100k only, tiny gpu_check), to test the
# plumbing of this script without a GPU; the gpu tests then report their skips.
DEVICE=cuda KERNELS=() CHECK=(--shape baby --epochs 3) MODELS=(lightgcn freedom lgmrec mmgcn) SHAPES=(ml100k baby) SCALE=1
if [ "${REHEARSE:-0}" = 1 ]; then
    DEVICE=cpu KERNELS=(--shapes ml100k --repeats 3) CHECK=(--allow-cpu --shape tiny --epochs 1) MODELS=(lightgcn) SHAPES=(ml100k) SCALE=3
    note "gpu_session: REHEARSE=1: every step on the CPU, shrunk, with 3x the time limits"
elif ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    for step in "sparse_kernels --device cuda" "pytest -m gpu" "gpu_check" "benchmark --device cuda"; do
        note "gpu_session: skipped $step: CUDA is not available"
    done
    note "gpu_session: dry run done, exit code 77 (no CUDA)"
    exit 77
fi

failed=0
step() {  # step NAME LIMIT_SECONDS LOG COMMAND...: run with a time limit, log appended, rc + seconds in the summary
    local name=$1 limit=$(($2 * SCALE)) log=$3; shift 3
    local start=$SECONDS
    echo "### $name: $*" >> "$OUT_DIR/$log"
    timeout --kill-after=10 "$limit" "$@" >> "$OUT_DIR/$log" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || failed=1
    note "$(printf '%-22s rc=%-4s %4ss  (limit %ss, log %s)' "$name" "$rc" "$((SECONDS - start))" "$limit" "$log")"
}

step kernels 45 kernels.log "$PYTHON" benchmarks/sparse_kernels.py --device $DEVICE --repeats 30 "${KERNELS[@]}" --ml100k "$ML100K" --json "$OUT_DIR/kernels.json"
step gpu-tests 120 tests.log "$PYTHON" -m pytest -q -m gpu -rs -p no:cacheprovider tests/gpu tests/init tests/test_gpu_check.py
step gpu_check 100 gpu_check.log "$PYTHON" benchmarks/gpu_check.py "${CHECK[@]}"
declare -A EPOCHS=([ml100k]=4 [baby]=3) LIMIT=([ml100k]=80 [baby]=120)
for shape in "${SHAPES[@]}"; do
    step "benchmark-$shape" "${LIMIT[$shape]}" benchmark.log "$PYTHON" benchmarks/benchmark.py --device $DEVICE --shape "$shape" \
        --ml100k "$ML100K" --epochs "${EPOCHS[$shape]}" --models "${MODELS[@]}" --json "$OUT_DIR/benchmark.jsonl"
done

grep -h -E "^(winner|model|lightgcn|freedom|lgmrec|mmgcn) |all checks passed|FAILED|passed|failed|skipped|deselected" \
    "$OUT_DIR/kernels.log" "$OUT_DIR/tests.log" "$OUT_DIR/gpu_check.log" "$OUT_DIR/benchmark.log" 2>/dev/null | tail -40
note "gpu_session: done, exit code $failed"
exit $failed
