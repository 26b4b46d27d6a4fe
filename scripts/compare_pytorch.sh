#!/usr/bin/env bash
# trackbench against PyTorch, eager and torch.compile'd, on the same model, data, hyperparameters,
# precision, threads, CPUs and allocator setting, run in alternating order until `trackbench versus`
# decides (bench/pytorch/compare.py); prints per batch size the medians of images/s, the speed-up with
# its 95% interval, the Mann-Whitney p-value and the verdict, and keeps every sample in a bench
# snapshot (--out, default bench-runs). --to-accuracy auto adds the seconds each takes to the data
# set's target test accuracy (97% on the embedded sample, 90% on Fashion-MNIST). On the CPU it uses
# the embedded sample and PyTorch eager; with --device cuda the full-size Fashion-MNIST (Debian's
# dataset-fashion-mnist, which scripts/setup.sh installs) and eager, reduce-overhead and max-autotune.
# On a machine shared with other work, `chrt -f 10 scripts/compare_pytorch.sh ...` keeps that work off the
# pinned CPUs: both sides inherit the real-time priority, and the output's first line names the scheduling.
# Usage: scripts/compare_pytorch.sh [bench/pytorch/compare.py flags...]
#   e.g. --batch-sizes 64 256 --threads 2 --max-rounds 8 --out bench-runs --json results.json
#        --device cuda --threads 8 --precision tf32 --pytorch-modes eager reduce-overhead
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" release
python="$(sed -n 's/^TRACKBENCH_PYTHON:STRING=//p' "$root/build/release/CMakeCache.txt")"
exec "$python" "$root/bench/pytorch/compare.py" --trackbench "$root/build/release/cli/trackbench" --python "$python" \
  --sample-dir "$root/data/mnist-sample" "$@"
