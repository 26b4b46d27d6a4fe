#!/bin/sh
# The ctest snapshot_reader_fuzz: a fresh seed corpus, every seed run once (any report
# fails), then a bounded mutation run whose findings are sorted by where they happen.
#
# libhdf5 1.10.8 itself crashes, hangs and leaks on some damaged files (its global heap
# reader, H5HG_*, among others), and mutation reaches those within seconds. Failing on them
# would fail every run on something this project cannot fix, so the mutation run goes on
# past every finding (fork mode) and each one is replayed afterwards: it fails the test
# unless its stack reaches libhdf5 before any trackbench frame. UndefinedBehaviorSanitizer
# reports always fail it, since only trackbench code is instrumented.
#
# usage: run_fuzz.sh <make_snapshot_seeds> <fuzz_snapshot_reader> <work folder> <seconds>
set -eu

seeds_tool=$1
fuzzer=$2
work=$3
seconds=$4
limits="-rss_limit_mb=2048 -timeout=5"

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts" "$work/reports" "$work/tmp"
"$seeds_tool" "$work/corpus"

echo "== every seed once"
# shellcheck disable=SC2086  # $limits is a list of options
"$fuzzer" $limits -runs=0 -artifact_prefix="$work/artifacts/" "$work/corpus"

echo "== mutation for $seconds s"
# Fork mode keeps going after a crash, hang or leak; its exit status only tells how the
# last job ended, so the artifacts are what gets judged.
# shellcheck disable=SC2086
TMPDIR="$work/tmp" "$fuzzer" $limits -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
  -print_funcs=0 -max_total_time="$seconds" -artifact_prefix="$work/artifacts/" "$work/corpus" \
  >"$work/mutation.log" 2>&1 || true
grep -q "INFO: exiting" "$work/mutation.log" || {
  cat "$work/mutation.log"
  echo "the mutation run did not finish" >&2
  exit 1
}

ours=0
hdf5=0
for artifact in "$work/artifacts"/*; do
  [ -e "$artifact" ] || continue
  report="$work/reports/$(basename "$artifact").txt"
  # A timeout's stack is taken in a signal handler, which often prints it empty when it runs
  # on the alternate signal stack or interrupts a slow unwind. Anything else gets the slow,
  # complete unwinding on malloc, so that a leak's stack shows who allocated.
  case $(basename "$artifact") in
    timeout-*) replay_options=use_sigaltstack=0 ;;
    *) replay_options=fast_unwind_on_malloc=0 ;;
  esac
  status=0
  # shellcheck disable=SC2086
  ASAN_OPTIONS="$replay_options:${ASAN_OPTIONS:-}" UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}" \
    "$fuzzer" $limits "$artifact" >"$report" 2>&1 || status=$?
  if [ "$status" -eq 0 ]; then
    echo "not reproduced: $(basename "$artifact")"
    continue
  fi
  # In each stack, the first frame in libhdf5 or in trackbench code decides; a stack with
  # neither (or a UBSan report) counts as trackbench's, to err on failing. The first stack
  # is the report's, except in a leak report, where every stack is one leak.
  culprit=$(awk '
    function close_stack() { if (!decided) verdict = "trackbench"; in_stack = 0 }
    /runtime error:/ { verdict = "trackbench"; exit }
    /LeakSanitizer/ { leak = 1 }
    /^ *#[0-9]+ 0x/ {
      if (!in_stack) { in_stack = 1; decided = 0 }
      if (!decided && $0 ~ /libhdf5/) { decided = 1; if (verdict == "") verdict = "libhdf5" }
      if (!decided && $0 ~ /trackbench::|LLVMFuzzerTestOneInput/) { decided = 1; verdict = "trackbench" }
      next
    }
    in_stack { close_stack(); if (!leak || verdict == "trackbench") exit }
    END { if (in_stack) close_stack(); print (verdict == "" ? "trackbench" : verdict) }' "$report")
  summary=$(grep -m1 "SUMMARY:" "$report" || echo "SUMMARY: none, see $report")
  echo "$culprit: $(basename "$artifact"): $summary"
  if [ "$culprit" = libhdf5 ]; then
    hdf5=$((hdf5 + 1))
  else
    ours=$((ours + 1))
    awk '/runtime error|ERROR:/ { shown = 1 } shown && lines++ < 30' "$report"
  fi
done

echo "== findings: $ours in trackbench, $hdf5 inside libhdf5 (log: $work/mutation.log)"
if [ "$ours" -gt 0 ]; then
  echo "trackbench findings: inputs in $work/artifacts, reports in $work/reports" >&2
  exit 1
fi
