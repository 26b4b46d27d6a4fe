#!/usr/bin/env bash
# trackbench against PyTorch eager on the same model, data, hyperparameters and threads, run
# alternately in one invocation; prints images/s of each and the ratio with its spread, and the
# seconds each takes to 97% test accuracy on the embedded sample.
# Usage: scripts/compare_pytorch.sh [bench/pytorch/compare.py flags...]
#   e.g. --batch-sizes 64 256 --rounds 3 --threads 2 --device cpu --json results.json
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" release
python="$(sed -n 's/^TRACKBENCH_PYTHON:STRING=//p' "$root/build/release/CMakeCache.txt")"
exec "$python" "$root/bench/pytorch/compare.py" --trackbench "$root/build/release/cli/trackbench" --python "$python" \
  --data-dir "$root/data/mnist-sample" --to-accuracy 97 "$@"
