#include "trackbench/tracking/recording/instructions.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "suite_process.h"
#include "trackbench/tracking/format/callgrind.h"
#include "trackbench/tracking/format/google_benchmark.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;

// What is counted, and why this way. Google Benchmark runs a benchmark's function several times
// (growing iteration counts until a run lasts --benchmark_min_time) and reports the last run; the
// function's set-up before its loop, the process's start (LibTorch's libraries loading under
// Valgrind alone is hundreds of millions of instructions) and the reporting are no part of an
// iteration. Debian 12's Google Benchmark (1.7) cannot be told a fixed iteration count on the
// command line (--benchmark_min_time=<N>x came with 1.8), so two runs of N1 and N2 iterations to
// subtract cannot be asked of any suite. Instead callgrind cuts the counts at the loop itself:
// every `for (auto _ : state)` loop calls State::StartKeepRunning when it starts and
// State::FinishKeepRunning when it ends (both in libbenchmark, not inlined), so a dump after the
// one and before the other holds exactly the loop's instructions: the iterations, the loop's own
// test per iteration and whatever the benchmark does inside it (PauseTiming too). The last such
// dump is the reported run's, whose iteration count the suite's JSON gives. One benchmark per
// process keeps the dumps of one benchmark apart from the next one's.
constexpr const char* loop_start = "benchmark::State::StartKeepRunning";
constexpr const char* loop_end = "benchmark::State::FinishKeepRunning";
// Under Valgrind a benchmark runs 20 to 100 times slower; the reported run needs no more than
// a few iterations for a count (it varies by far less than a timing), so keep the runs short.
constexpr const char* callgrind_min_time = "0.05";

// Valgrind 3.19 decodes x86 up to AVX2 but no AVX-512, which oneDNN, MKL and ATen would pick on
// an AVX-512 machine; held to AVX2 they run the same code under callgrind on any AVX2 machine,
// whichever Valgrind counts it. One thread: OpenMP's spin-waits would add counts that depend on
// how the threads were scheduled.
constexpr const char* isa_limit = "AVX2";
const std::vector<std::string>& suite_settings() {
  static const std::vector<std::string> settings{"ONEDNN_MAX_CPU_ISA=AVX2", "MKL_ENABLE_INSTRUCTIONS=AVX2",
                                                 "ATEN_CPU_CAPABILITY=avx2", "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1"};
  return settings;
}

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

// A benchmark name as a Google Benchmark filter that matches it alone (a POSIX extended
// regular expression, or std::regex's of the same grammar).
std::string exactly(const std::string& name) {
  std::string pattern = "^";
  for (const char c : name) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) pattern += '\\';
    pattern += c;
  }
  return pattern + "$";
}

std::vector<std::string> benchmark_names(const benchmark_suite& suite, const std::string& filter) {
  std::vector<std::string> words{suite.executable.string(), "--benchmark_list_tests=true"};
  if (!filter.empty()) words.push_back("--benchmark_filter=" + filter);
  std::string listed;
  const std::string what = "benchmark suite " + suite.name + " (" + suite.executable.string() + ")";
  const int exit_code = run_child(words, {}, what, &listed);
  if (exit_code != 0) throw std::runtime_error(what + " failed to list its benchmarks, exit code " + std::to_string(exit_code));
  std::vector<std::string> names;
  std::istringstream in(listed);
  for (std::string line; std::getline(in, line);) {
    if (!trimmed(line).empty()) names.push_back(trimmed(line));
  }
  return names;
}

}  // namespace

measures parse_measure(const std::string& text) {
  if (text == "time") return {true, false};
  if (text == "instructions") return {false, true};
  if (text == "time,instructions" || text == "instructions,time") return {true, true};
  throw input_error("--measure '" + text + "': expected time, instructions or time,instructions");
}

std::string to_string(const measures& chosen) {
  if (chosen.time && chosen.instructions) return "time,instructions";
  return chosen.instructions ? "instructions" : "time";
}

instruction_counter find_instruction_counter() {
  instruction_counter counter;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path == nullptr ? "" : path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && is_executable(fs::path(dir) / "valgrind")) {
      counter.valgrind = fs::path(dir) / "valgrind";
      break;
    }
  }
  if (counter.valgrind.empty()) {
    throw input_error(
        "--measure instructions counts under Valgrind's callgrind, but no valgrind is on PATH; install it "
        "(apt-get install valgrind, which scripts/setup.sh does) or measure time only");
  }
  std::string version;
  if (run_child({counter.valgrind.string(), "--version"}, {}, counter.valgrind.string(), &version) != 0 ||
      trimmed(version).rfind("valgrind-", 0) != 0) {
    throw input_error("--measure instructions: " + counter.valgrind.string() + " --version did not name a Valgrind: '" +
                      trimmed(version) + "'");
  }
  counter.tool = trimmed(version) + " --tool=callgrind";
  counter.isa_limit = isa_limit;
  counter.settings = suite_settings();
  return counter;
}

double loop_instructions_per_iteration(const fs::path& dumps, std::int64_t iterations, const std::string& what) {
  std::vector<callgrind_dump> parts;
  std::error_code error;
  for (fs::directory_iterator it(dumps, error), end; !error && it != end; it.increment(error)) {
    if (it->path().filename().string().rfind("callgrind.out", 0) != 0) continue;
    std::ifstream in(it->path());
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    try {
      parts.push_back(parse_callgrind_dump(text, it->path().string()));
    } catch (const input_error& e) {
      throw std::runtime_error(what + ": " + e.what());  // the tool's fault, not the user's
    }
  }
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.part < b.part; });
  const auto is = [](const callgrind_dump& dump, const std::string& option, const char* function) {
    return dump.trigger.rfind(option + function, 0) == 0;
  };
  const auto last_end = std::find_if(parts.rbegin(), parts.rend(), [&](const auto& d) { return is(d, "--dump-before=", loop_end); });
  // The loop's dump follows the one its start made; anything else means the loop was not cut there.
  if (last_end == parts.rend() || std::next(last_end) == parts.rend() ||
      !is(*std::next(last_end), "--dump-after=", loop_start)) {
    throw std::runtime_error(what + ": callgrind made no dump between " + loop_start + " and " + loop_end +
                             " (not a Google Benchmark loop?)");
  }
  if (iterations < 1) throw std::runtime_error(what + " reported " + std::to_string(iterations) + " iterations");
  try {
    return static_cast<double>(last_end->total("Ir", what)) / static_cast<double>(iterations);
  } catch (const input_error& e) {
    throw std::runtime_error(e.what());
  }
}

std::vector<bench_result> count_instructions(const instruction_counter& counter, const benchmark_suite& suite,
                                             const std::string& filter, const fs::path& scratch) {
  const std::vector<std::string> wrapper{counter.valgrind.string(),
                                         "--tool=callgrind",
                                         "--quiet",
                                         "--callgrind-out-file=" + (scratch / "callgrind.out").string(),
                                         "--dump-after=" + std::string(loop_start) + "*",
                                         "--dump-before=" + std::string(loop_end) + "*"};
  std::vector<bench_result> counted;
  for (const auto& name : benchmark_names(suite, filter)) {
    const std::string what = "benchmark " + name + " of suite " + suite.name + " under callgrind";
    spdlog::info("counting the instructions of {}", name);
    std::error_code error;
    fs::remove_all(scratch, error);
    fs::create_directories(scratch, error);
    if (error) throw std::runtime_error("cannot make the folder " + scratch.string() + " for callgrind's dumps: " + error.message());
    std::vector<bench_result> results;
    try {
      const auto document = run_suite_under(suite, wrapper,
                                      {"--benchmark_filter=" + exactly(name), "--benchmark_repetitions=1",
                                       std::string("--benchmark_min_time=") + callgrind_min_time},
                                      counter.settings, scratch / "benchmark.json");
      results = parse_google_benchmark(document, suite.name, what);
      if (results.size() != 1 || results.front().name != name) {
        throw std::runtime_error(what + " reported " + std::to_string(results.size()) + " results, not one for " + name);
      }
      auto& result = results.front();
      if (!result.skipped) {
        if (result.samples.size() != 1) throw std::runtime_error(what + " reported no single run");
        result.instructions_per_iteration =
            loop_instructions_per_iteration(scratch, result.samples.front().iterations, what);
        result.samples.clear();
      }
    } catch (const input_error& e) {
      fs::remove_all(scratch, error);
      throw std::runtime_error(e.what());  // the suite's fault, not the user's
    } catch (...) {
      fs::remove_all(scratch, error);
      throw;
    }
    fs::remove_all(scratch, error);
    counted.push_back(std::move(results.front()));
  }
  return counted;
}

}  // namespace trackbench::tracking
