#!/usr/bin/env bash
# The default CPU run (10 epochs on the embedded sample, --keep-weights last) with two builds,
# alternating, ROUNDS times each; prints each run's recording line and mean images/s.
#   ab.sh BEFORE/cli/trackbench AFTER/cli/trackbench [ROUNDS] [OUT]
set -euo pipefail
before="$1" after="$2" rounds="${3:-3}" out="${4:-$(mktemp -d)}"
for round in $(seq "$rounds"); do
  for side in before after; do
    binary="$before"
    [ "$side" = before ] || binary="$after"
    line="$("$binary" train --device cpu --out "$out/$side" 2>&1 | grep -E "recording it|mean images/s" | tr -s ' ' | tr '\n' ' ')"
    echo "$side $round: $line"
  done
done
