#pragma once
// trackbench bench: finds the Google Benchmark suites, runs each as a child process and keeps
// every repetition of every benchmark in a bench snapshot.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "trackbench/tracking/format/bench.h"

namespace trackbench::tracking {

inline constexpr const char* suite_prefix = "trackbench_bench_";

struct benchmark_suite {
  std::string name;  // kernels, trainer, ... or the executable's file name
  std::filesystem::path executable;
};

// Where suites are looked for, first match first: `suites_dir` alone when given (input_error
// naming --suites-dir when it is no folder); else beside this executable (a staged folder, or an
// install that keeps them in bin/), `build_bench_dir` (the build tree's bench folder), an
// install prefix's libexec/trackbench (where `cmake --install` puts them) and ../bench.
std::vector<std::filesystem::path> suite_search_dirs(const std::string& suites_dir,
                                                     const std::filesystem::path& build_bench_dir);
// The suites `named` (a name, found as trackbench_bench_<name> in `dirs`, or a path), each once;
// with none named, every suite of the first folder that holds any. Throws input_error naming
// `flag` (the option that named them), or saying where no suite was found.
std::vector<benchmark_suite> choose_suites(const std::vector<std::string>& named,
                                           const std::vector<std::filesystem::path>& dirs,
                                           const std::string& flag = "--suite");

// Runs one suite with no shell, its console output on our stderr (stdout stays the caller's),
// with --benchmark_repetitions, --benchmark_filter (when not empty) and its JSON written to
// `json_out`, and returns that document (no benchmarks when the filter matched none). Throws
// std::runtime_error naming the suite when it fails, crashes or writes invalid JSON.
nlohmann::ordered_json run_suite(const benchmark_suite& suite, int repetitions, const std::string& filter,
                                 const std::filesystem::path& json_out);

struct bench_options {
  std::string filter;           // --benchmark_filter; empty: all
  int repetitions = 10;
  std::filesystem::path out = "bench-runs";
  std::string json_file;        // also write the suites' merged JSON here; empty: none
  std::string command_line;
  std::vector<std::string> suites;      // --suite: names or paths; empty: every suite found
  std::string suites_dir;               // --suites-dir; empty: suite_search_dirs' defaults
  std::filesystem::path build_bench_dir;  // this build's bench folder, searched by default
  std::string measure = "time";           // --measure: time, instructions or time,instructions (instructions.h)
};

struct bench_outcome {
  bench_record record;
  std::filesystem::path snapshot;
};

// Runs every suite options.suites chooses (no shell; its console output on stderr) and writes one bench snapshot of
// all their results into options.out: the repetitions' times, and with --measure instructions
// each benchmark's instructions per iteration, counted in runs of their own under callgrind.
// Throws input_error for bad options, a missing Valgrind or when no benchmark ran,
// std::runtime_error naming the suite that failed, crashed or wrote bad JSON.
bench_outcome run_bench(const bench_options& options);

}  // namespace trackbench::tracking
