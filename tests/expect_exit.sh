#!/bin/sh
# ctest helper: runs a command and passes when it exits with CODE and prints TEXT (stdout and
# stderr together), so a test checks both what a command decided and that it said why.
# An exit code of 77 from the command is passed on, for ctest's SKIP_RETURN_CODE.
# usage: expect_exit.sh CODE TEXT COMMAND [ARGUMENT...]
set -u
expected_code=$1
expected_text=$2
shift 2
output=$("$@" 2>&1)
code=$?
printf '%s\n' "$output"
[ "$code" -eq 77 ] && exit 77
if [ "$code" -ne "$expected_code" ]; then
  echo "expect_exit.sh: exit code $code, expected $expected_code"
  exit 1
fi
if ! printf '%s\n' "$output" | grep -qF -- "$expected_text"; then
  echo "expect_exit.sh: the output does not contain '$expected_text'"
  exit 1
fi
