#pragma once
// The instruction gate over two bench snapshots that both counted instructions
// (`bench --measure instructions`): a count per iteration from callgrind does not depend on the
// machine's load, so there is no test of samples; a change beyond a fixed threshold is one
// (docs/benchmarking.md, "Instruction counts").
#include <string>
#include <vector>

#include "trackbench/tracking/format/bench.h"

namespace trackbench::tracking {

// Two counts of one build differ by far less (measured: docs/benchmarking.md); a change of the
// code that matters moves a count by more.
inline constexpr double default_instruction_threshold = 0.005;

// uncertain: the repeated counts of one side (ab counts each side once a round) spread by more
// than the threshold, so the count is not reproducible enough to call a change of that size.
enum class instruction_verdict { faster, slower, same, uncertain };
std::string to_string(instruction_verdict verdict);

struct instruction_change {
  std::string name;
  double base_per_iteration = 0.0;  // instructions per iteration
  double new_per_iteration = 0.0;
  double change = 0.0;  // new / base - 1 (0 when both are 0)
  instruction_verdict verdict = instruction_verdict::same;
  std::vector<double> base_counts;  // each count of the side, per iteration, in the order counted
  std::vector<double> new_counts;
  double base_spread = 0.0;  // max / min - 1 of the side's counts (0 for one)
  double new_spread = 0.0;
};

// The decision on one benchmark's counts per iteration, each side counted once or more (at least
// once each): a side's count is the median of its counts, change = new / base - 1, and the
// verdict slower beyond +threshold, faster beyond -threshold, same within, uncertain when either
// side's counts spread by more than the threshold. Throws std::invalid_argument for a side
// without counts.
instruction_change decide_instructions(const std::string& name, const std::vector<double>& base_counts,
                                       const std::vector<double>& new_counts,
                                       double threshold = default_instruction_threshold);

// "instructions:0.5%": fail when a benchmark's count is slower and rose by more than N%.
struct instruction_rule {
  std::string text;
  double threshold = 0.0;  // fraction: 0.005
};
// Whether `text` has the form of an instruction rule ("instructions:..."), valid or not.
bool is_instruction_rule(const std::string& text);
// Throws input_error naming --fail-on and the expected form.
instruction_rule parse_instruction_rule(const std::string& text);

struct instruction_gate {
  // Each benchmark counted in both snapshots, in the base's order; `threshold` decides the verdicts.
  std::vector<instruction_change> changes;
  // How the counting differed (instruction_tool, instruction_isa_limit, instruction_settings),
  // "field: base -> new": another Valgrind or ISA limit runs and counts other code.
  std::vector<std::string> counter_differences;
  // The counter or the hardware (bench_gate.h's hardware_differences) differs and the caller did
  // not allow it: the rules are then shown, not enforced.
  bool advisory = false;
  struct rule_outcome {
    instruction_rule rule;
    std::vector<instruction_change> broken_by;
  };
  std::vector<rule_outcome> rules;

  bool failed() const;  // a rule is broken and the gate is not advisory
};

// Judges the counts of `base` and `next` with the instruction rules among `rule_texts` (the others
// are left to the timing gate). Throws input_error for a malformed instruction rule.
instruction_gate judge_instructions(const bench_record& base, const bench_record& next,
                                    const std::vector<std::string>& rule_texts, bool allow_mismatch,
                                    double threshold = default_instruction_threshold);

}  // namespace trackbench::tracking
