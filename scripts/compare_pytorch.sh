#!/usr/bin/env bash
# trackbench against PyTorch, eager and torch.compile'd, on the same model, data, hyperparameters,
# precision and threads, run in rotating order in one invocation; prints images/s of each side and
# the ratios with their spread, and the seconds each takes to the data set's target test accuracy
# (97% on the embedded sample, 90% on Fashion-MNIST). On the CPU it uses the embedded sample and
# PyTorch eager; with --device cuda the full-size Fashion-MNIST (Debian's dataset-fashion-mnist,
# which scripts/setup.sh installs) and eager, reduce-overhead and max-autotune.
# Usage: scripts/compare_pytorch.sh [bench/pytorch/compare.py flags...]
#   e.g. --batch-sizes 64 256 --rounds 3 --threads 2 --device cpu --json results.json
#        --device cuda --threads 8 --precision tf32 --pytorch-modes eager reduce-overhead
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" release
python="$(sed -n 's/^TRACKBENCH_PYTHON:STRING=//p' "$root/build/release/CMakeCache.txt")"
exec "$python" "$root/bench/pytorch/compare.py" --trackbench "$root/build/release/cli/trackbench" --python "$python" \
  --sample-dir "$root/data/mnist-sample" --to-accuracy auto "$@"
