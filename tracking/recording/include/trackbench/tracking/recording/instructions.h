#pragma once
// bench --measure instructions: the instructions each benchmark's timed loop executes per
// iteration, counted by Valgrind's callgrind. A count does not depend on the machine's load, so
// two runs of one build agree to far below 1% where timings on a shared machine differ by 5%;
// compare gates on it with instruction_gate.h (docs/benchmarking.md).
#include <filesystem>
#include <string>
#include <vector>

#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/recording/bench_run.h"

namespace trackbench::tracking {

// What --measure asks for: time (the default), instructions, or both.
struct measures {
  bool time = true;
  bool instructions = false;
};
// "time", "instructions", "time,instructions" or "instructions,time". Throws input_error naming
// --measure otherwise.
measures parse_measure(const std::string& text);
// As the snapshot's identity records it: time, instructions or time,instructions.
std::string to_string(const measures& chosen);

// How the instructions are counted, as the snapshot records it.
struct instruction_counter {
  std::filesystem::path valgrind;     // found on PATH
  std::string tool;                   // "valgrind-3.19.0 --tool=callgrind"
  std::string isa_limit;              // "AVX2"
  std::vector<std::string> settings;  // NAME=value: what the suites run with under callgrind
};
// Valgrind from PATH, and its version. Throws input_error naming --measure instructions and how
// to install Valgrind when there is none.
instruction_counter find_instruction_counter();

// Every benchmark of `suite` matching `filter` (all when empty), each run alone under callgrind:
// the results Google Benchmark reported (names, units, labels, skips) without samples (a time
// under Valgrind says nothing about the code) and, for each that ran, instructions_per_iteration.
// `scratch` is a folder for the dumps, made and removed. Throws std::runtime_error naming the
// suite or benchmark when a run fails or leaves dumps that do not say what its loop counted.
std::vector<bench_result> count_instructions(const instruction_counter& counter, const benchmark_suite& suite,
                                             const std::string& filter, const std::filesystem::path& scratch);

// The instructions of the benchmark's timed loop from its callgrind dumps (the files
// callgrind.out* in `dumps`) and the iterations Google Benchmark reports it ran. Throws
// std::runtime_error naming `what` when the dumps hold no loop.
double loop_instructions_per_iteration(const std::filesystem::path& dumps, std::int64_t iterations,
                                       const std::string& what);

}  // namespace trackbench::tracking
