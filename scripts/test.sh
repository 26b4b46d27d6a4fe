#!/usr/bin/env bash
# Set up everything (scripts/setup.sh: every package, the test and benchmark tools, the whole
# build), then run every test. Skipped tests are listed with their reasons. .ci/run calls it.
# Usage: scripts/test.sh [release|debug]
set -euo pipefail
preset="${1:-release}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" "$preset"
cd "$root"
status=0
ctest --preset "$preset" || status=$?
log="build/$preset/Testing/Temporary/LastTest.log"
if [ -f "$log" ] && grep -q "Skipped" "$log"; then
  echo "skipped tests and why:"
  # gtest writes "<file>:<line>: Skipped" and the reason on the next line.
  awk '/: Skipped$/ { where = $1; getline; sub(".*/", "", where); print "  " where " " $0 }' "$log"
fi
exit "$status"
