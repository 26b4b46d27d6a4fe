#pragma once
// How instruction counts read (tracking/analysis instruction_gate.h): compare's gate on two bench
// snapshots as a section after the timing verdicts, its part of --json and its log lines; ab's
// counts per benchmark; both as JUnit cases and Markdown rows.
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "ci_output.h"

#include "trackbench/tracking/analysis/instruction_gate.h"

namespace trackbench::cli {

// benchmark, both counts per iteration, change, (the sides' spreads when counted more than once)
// and verdict, a row per benchmark.
void print_instruction_table(const std::vector<tracking::instruction_change>& changes);
// name, both counts, change, verdict, every count of each side and their spreads.
nlohmann::ordered_json instruction_change_json(const tracking::instruction_change& change);
// The instructions section: per benchmark counted on both sides the counts per iteration, the
// change and the verdict, then the instruction rules; nothing when there is neither.
void print_instruction_gate(const tracking::instruction_gate& gate);
nlohmann::ordered_json to_json(const tracking::instruction_gate& gate);
// "+0.82% (1203 -> 1213 instructions per iteration), beyond +-0.5%".
std::string instruction_change_text(const tracking::instruction_change& change, double threshold);
// One testcase per counted benchmark, failed when `failed` says so, the change in its message.
std::vector<junit_case> instruction_junit_cases(const std::string& classname,
                                                const std::vector<tracking::instruction_change>& changes,
                                                double threshold,
                                                const std::function<bool(const tracking::instruction_change&)>& failed);
// A table of the counts, a row per counted benchmark (the verdict bold when failed); empty when none.
std::string instruction_markdown(const std::vector<tracking::instruction_change>& changes,
                                 const std::function<bool(const tracking::instruction_change&)>& failed);
// The gate's failures for JUnit and Markdown: a benchmark broke an instruction rule and the gate
// is not advisory.
std::function<bool(const tracking::instruction_change&)> breaks_an_instruction_rule(const tracking::instruction_gate& gate);
// A warning per broken rule when advisory, an error otherwise.
void log_instruction_gate(const tracking::instruction_gate& gate);

}  // namespace trackbench::cli
