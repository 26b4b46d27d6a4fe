#pragma once
// What the two halves of `trackbench compare` share: its flags, and the bench half
// (compare_bench_command.cpp) the command hands two bench snapshots to.
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
  double min_change_percent = tracking::default_min_change * 100;
  bool min_change_given = false;  // --min-change on the command line: refused for run snapshots
};

// Two bench snapshots, BASE and NEW: per benchmark the verdict of the gate, the rules, the
// hardware differences. Returns the exit code: 1 when a rule fails and the gate is not advisory.
int compare_benches(const compare_flags& flags, const tracking::bench_record& base, const tracking::bench_record& next);

}  // namespace trackbench::cli
