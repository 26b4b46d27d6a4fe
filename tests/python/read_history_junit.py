"""Reads `trackbench history --junit` output with junitparser, as a CI system would.

The fixture (tests/support/history_fixture.h, step at commit 10 of 12) has two hardware groups
of two benchmarks each: four testcases, and one failure, group 1's fixture/work, whose message
carries the change and its interval. Exits 77 (skipped) when junitparser is missing.
usage: read_history_junit.py FILE
"""
import sys

try:
    from junitparser import Failure, JUnitXml
except ImportError:
    print("junitparser is not installed (scripts/setup.sh installs it)")
    sys.exit(77)

xml = JUnitXml.fromfile(sys.argv[1])
cases = {}
for suite in xml:
    for case in suite:
        cases[(case.classname, case.name)] = case
expected = {(group, name) for group in ("group 1", "group 2") for name in ("fixture/steady", "fixture/work")}
assert set(cases) == expected, f"testcases {sorted(cases)}, expected {sorted(expected)}"
failed = {key for key, case in cases.items() if any(isinstance(r, Failure) for r in case.result)}
assert failed == {("group 1", "fixture/work")}, f"failed testcases {sorted(failed)}"
failure = next(r for r in cases[("group 1", "fixture/work")].result if isinstance(r, Failure))
for part in ("newest point starts a slower segment", "95% interval", "slower", "%"):
    assert part in failure.message, f"failure message {failure.message!r} lacks {part!r}"
assert xml.failures == 1 and xml.tests == 4, f"totals: {xml.tests} tests, {xml.failures} failures"
print(f"junitparser read {len(cases)} testcases, 1 failure: {failure.message}")
