#!/bin/sh
# A benchmark suite still starts: it lists NAME among its benchmarks and, when FILTER is given,
# runs the benchmarks FILTER selects for a moment without error, their JSON carrying COUNTER.
# Nothing about speed is checked. Usage: suite_starts.sh SUITE NAME [FILTER COUNTER]
set -u
suite="$1" name="$2"
listed="$("$suite" --benchmark_list_tests)" || { echo "$suite --benchmark_list_tests failed" >&2; exit 1; }
if ! printf '%s\n' "$listed" | grep -qxF "$name"; then
  printf '%s does not list %s; it lists:\n%s\n' "$suite" "$name" "$listed" >&2
  exit 1
fi
[ "$#" -ge 4 ] || exit 0
filter="$3" counter="$4"
json="$("$suite" --benchmark_filter="$filter" --benchmark_min_time=0.01 --benchmark_format=json)" ||
  { echo "$suite --benchmark_filter=$filter failed" >&2; exit 1; }
printf '%s\n' "$json" | grep -q '"run_type": "iteration"' || { echo "$filter ran no benchmark" >&2; exit 1; }
if printf '%s\n' "$json" | grep -q '"error_occurred": true'; then
  printf '%s\n' "$json" >&2
  exit 1
fi
printf '%s\n' "$json" | grep -qF "\"$counter\":" || { printf 'no %s counter in:\n%s\n' "$counter" "$json" >&2; exit 1; }
