#pragma once
// Running the benchmark suites, and the tools around them, as child processes without a shell.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "trackbench/tracking/recording/bench_run.h"

namespace trackbench::tracking {

// A regular file this process may execute.
bool is_executable(const std::filesystem::path& path);

// Runs `words` (words[0] a path) as a child process with `settings` (NAME=value) added to this
// process's environment, replacing a variable of the same name. Its stdout goes to our stderr
// (our stdout stays the summary's), or into *output when given; its stderr is ours. Returns its
// exit code. Throws std::runtime_error naming `what` when it cannot start or crashes, or when a
// stop signal (stop_signals.h) came while it ran.
int run_child(const std::vector<std::string>& words, const std::vector<std::string>& settings, const std::string& what,
              std::string* output = nullptr);

// Runs the suite with `arguments` and --benchmark_out=json_out (JSON), under `wrapper` (a tool
// and its options, e.g. valgrind's) when not empty, with `settings` added to its environment,
// and returns the JSON document it wrote (no benchmarks when its filter matched none). Throws
// std::runtime_error naming the suite when it fails, crashes or writes invalid JSON.
nlohmann::ordered_json run_suite_under(const benchmark_suite& suite, const std::vector<std::string>& wrapper,
                                 const std::vector<std::string>& arguments, const std::vector<std::string>& settings,
                                 const std::filesystem::path& json_out);

}  // namespace trackbench::tracking
