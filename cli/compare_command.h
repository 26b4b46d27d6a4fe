#pragma once
// What the two halves of `trackbench compare` share: its flags, and the bench half
// (compare_bench_command.cpp) the command hands two bench snapshots to.
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/bench_gate.h"
#include "trackbench/tracking/format/bench.h"

namespace trackbench::cli {

struct compare_flags {
  std::vector<std::string> snapshots;
  std::vector<std::string> rules;
  bool as_json = false;
  bool allow_hardware_mismatch = false;
  std::optional<double> threshold_percent;  // --threshold; empty: from the samples' noise
  bool fail_on_uncertain = false;
  std::string junit;     // --junit FILE
  std::string markdown;  // --markdown FILE
};

// Two bench snapshots, BASE and NEW: per benchmark the decision, the rules, the hardware
// differences. Returns the exit code (exit_codes.h): 4 when the hardware differs (unless
// allowed), else 1 when a rule fails, else 3 when --fail-on-uncertain and a verdict is uncertain.
int compare_benches(const compare_flags& flags, const tracking::bench_record& base, const tracking::bench_record& next);

}  // namespace trackbench::cli
