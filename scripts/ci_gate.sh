#!/usr/bin/env bash
# The CI accuracy gate: trains briefly on the embedded sample, exactly as the committed
# baseline ci/baseline-cpu.h5 was trained, and compares the run with it using accuracy and
# loss rules only, so a change that breaks learning fails CI. The tolerances cover what
# floating-point order alone moves (other thread counts, CPUs and math libraries; measured in
# docs/ci.md). No timing rule: CI machines are shared, so their timings say nothing about the code.
#
# Usage: scripts/ci_gate.sh [--snapshot RUN.h5] [--out DIR] [--junit FILE] [--markdown FILE]
#        scripts/ci_gate.sh --refresh
#   (no flag)        train into a temporary folder, gate that run, remove it
#   --snapshot FILE  gate this run instead of training one
#   --out DIR        keep the new run's snapshot in DIR (e.g. to upload it from CI)
#   --junit FILE     also write the rules as JUnit testcases, for the CI system's test report
#   --markdown FILE  also write them as a Markdown table (default: $GITHUB_STEP_SUMMARY when set,
#                    so a GitHub Actions job shows the table on its summary page)
#   --refresh        train and make the run the new baseline (then commit ci/baseline-cpu.h5)
# TRACKBENCH names the trackbench executable (default: build/release/cli/trackbench).
# Exit codes are trackbench compare's: 0 every rule passed, 1 a rule failed, 2 bad input.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
trackbench="${TRACKBENCH:-$root/build/release/cli/trackbench}"
baseline="$root/ci/baseline-cpu.h5"
# How the baseline was trained; changing this means refreshing the baseline.
train_flags=(--epochs 2 --device cpu --threads 2 --seed 1 --keep-weights none)
# Points of accuracy and nats of loss against the baseline's final epoch (docs/ci.md says why
# these values).
rules=(--fail-on test_acc:-2.5 --fail-on test_loss:+0.05 --fail-on val_acc:-2.5 --fail-on train_loss:+0.05)

usage() {
  echo "usage: scripts/ci_gate.sh [--snapshot RUN.h5] [--out DIR] [--junit FILE] [--markdown FILE] | --refresh" >&2
  exit 2
}

snapshot=""
out=""
junit=""
markdown="${GITHUB_STEP_SUMMARY:-}"
refresh=false
while [ $# -gt 0 ]; do
  case "$1" in
    --snapshot) [ $# -ge 2 ] || usage; snapshot="$2"; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out="$2"; shift 2 ;;
    --junit) [ $# -ge 2 ] || usage; junit="$2"; shift 2 ;;
    --markdown) [ $# -ge 2 ] || usage; markdown="$2"; shift 2 ;;
    --refresh) refresh=true; shift ;;
    *) echo "ci_gate.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
if [ ! -x "$trackbench" ]; then
  echo "ci_gate.sh: no trackbench executable at $trackbench (build it with scripts/setup.sh, or set TRACKBENCH)" >&2
  exit 2
fi

if [ -z "$snapshot" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  "$trackbench" -q train "${train_flags[@]}" --out "$work"
  snapshot="$(echo "$work"/*.h5)"
  if [ -n "$out" ]; then
    mkdir -p "$out"
    cp "$snapshot" "$out/"
    snapshot="$out/$(basename "$snapshot")"
  fi
fi
if $refresh; then
  cp "$snapshot" "$baseline"
  echo "ci_gate.sh: $baseline refreshed from $snapshot; commit it (and say why in the commit message)"
  exit 0
fi
reports=()
[ -n "$junit" ] && reports+=(--junit "$junit")
[ -n "$markdown" ] && reports+=(--markdown "$markdown")
exec "$trackbench" compare "$baseline" "$snapshot" "${rules[@]}" "${reports[@]}"
