#pragma once
// How the instruction gate (tracking/analysis instruction_gate.h) of `compare` on two bench
// snapshots reads: a section after the timing verdicts, its part of --json, and its log lines.
#include <nlohmann/json.hpp>

#include "trackbench/tracking/analysis/instruction_gate.h"

namespace trackbench::cli {

// The instructions section: per benchmark counted on both sides the counts per iteration, the
// change and the verdict, then the instruction rules; nothing when there is neither.
void print_instruction_gate(const tracking::instruction_gate& gate);
nlohmann::ordered_json to_json(const tracking::instruction_gate& gate);
// A warning per broken rule when advisory, an error otherwise.
void log_instruction_gate(const tracking::instruction_gate& gate);

}  // namespace trackbench::cli
