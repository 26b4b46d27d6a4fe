"""Reads `scripts/ci_gate.sh --junit` output with junitparser, as a CI system would.

The gated run's learning is broken (tests/CMakeLists.txt: a learning rate 1000 times too small),
so all four rules are testcases and every one fails, its message giving both values and what the
rule allows ("test_acc 18.8 against 96.8: -78 (-80.58%); allowed -2.5").
Exits 77 (skipped) when junitparser is missing.
usage: read_ci_gate_junit.py FILE
"""
import sys

try:
    from junitparser import Failure, JUnitXml
except ImportError:
    print("junitparser is not installed (scripts/setup.sh installs it)")
    sys.exit(77)

xml = JUnitXml.fromfile(sys.argv[1])
cases = {case.classname: case for suite in xml for case in suite}
expected = {"test_acc:-2.5", "val_acc:-2.5", "test_loss:+0.05", "train_loss:+0.05"}
assert set(cases) == expected, f"testcases {sorted(cases)}, expected {sorted(expected)}"
for rule, case in cases.items():
    failures = [r for r in case.result if isinstance(r, Failure)]
    assert failures, f"{rule} did not fail"
    message = failures[0].message
    metric, allowed = rule.split(":")
    for part in (metric + " ", " against ", "; allowed " + allowed):
        assert part in message, f"{rule}: failure message {message!r} lacks {part!r}"
assert xml.failures == 4 and xml.tests == 4, f"totals: {xml.tests} tests, {xml.failures} failures"
print(f"junitparser read 4 failed rules, e.g. {cases['test_acc:-2.5'].result[0].message}")
