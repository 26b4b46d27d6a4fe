#pragma once
// The exit codes of every command, in one place (docs/command-line.md#exit-codes).
namespace trackbench::cli {

inline constexpr int exit_pass = 0;
// A regression (a broken --fail-on rule, a slower verdict of ab, a newest slower segment of
// history), or a run that failed.
inline constexpr int exit_failure = 1;
inline constexpr int exit_bad_input = 2;
// --fail-on-uncertain and some verdict is uncertain.
inline constexpr int exit_inconclusive = 3;
// Bench snapshots from different hardware, without --allow-hardware-mismatch.
inline constexpr int exit_hardware_mismatch = 4;

}  // namespace trackbench::cli
