#pragma once
// trackbench ab: two builds of a Google Benchmark suite, BASE and NEW, run interleaved in one job
// on this machine, round after round (ABBA, or a seeded random order), each side a few
// repetitions a round, until every benchmark is decided by the decision rule
// (analysis/decision.h) or the time budget is spent. Interleaving puts the machine's drift on
// both sides, so the default threshold's floor is min_threshold (1%), not compare's 5%.
// With --measure instructions each side is also (or only) counted under callgrind once a round,
// --min-rounds rounds in the same order (a count needs no more), and judged by
// analysis/instruction_gate.h's decide_instructions at its 0.5% threshold.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/bench_gate.h"
#include "trackbench/tracking/analysis/instruction_gate.h"
#include "trackbench/tracking/format/bench.h"

namespace trackbench::tracking {

enum class ab_order { abba, random };

struct ab_options {
  std::string base;  // --base: a suite name (found as bench's --suite is) or an executable's path
  std::string next;  // --new
  std::string suites_dir;                 // --suites-dir; empty: suite_search_dirs' defaults
  std::filesystem::path build_bench_dir;  // this build's bench folder, searched by default
  std::string filter;                     // --benchmark: Google Benchmark's --benchmark_filter
  std::optional<double> threshold;        // a fraction; empty: from the samples' noise
  ab_order order = ab_order::abba;
  std::uint64_t seed = 0;  // of --order random
  int repetitions = 3;     // per side and round
  int min_rounds = 2;      // rounds before the first decision can stop the job
  double max_seconds = 600;
  std::string measure = "time";  // --measure: time, instructions or both (recording/instructions.h)
};

struct ab_outcome {
  std::vector<bench_change> changes;  // per benchmark, corrected for the suite
  std::vector<std::string> rounds;    // the order each round ran in: "AB" or "BA"
  double seconds = 0.0;               // wall time of all rounds
  bool budget_spent = false;          // stopped by --max-seconds with a verdict still uncertain
  bench_record base;                  // every sample of each side (benchmarks only)
  bench_record next;
  // --measure instructions: per benchmark counted on both sides, every count and the decision;
  // the order each counting round ran in; how they were counted (instruction_counter's tool,
  // ISA limit and settings, as a bench snapshot records them).
  std::vector<instruction_change> instructions;
  std::vector<std::string> counting_rounds;
  std::string instruction_tool;
  std::string instruction_isa_limit;
  std::string instruction_settings;
};

// Runs the rounds (timed ones when options.measure has time, counting ones when it has
// instructions); a benchmark still undecided when the budget ends is uncertain with a reason
// beginning "budget". Throws input_error naming the flag for bad options or a suite not found,
// std::runtime_error naming the suite that failed, crashed or wrote bad JSON, and input_error
// when no benchmark ran (a --benchmark matching none) or --measure instructions finds no Valgrind.
ab_outcome run_ab(const ab_options& options);

}  // namespace trackbench::tracking
