#include "trackbench/tracking/recording/ab_run.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include "trackbench/tracking/format/google_benchmark.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/recording/bench_run.h"
#include "trackbench/tracking/recording/instructions.h"
#include "trackbench/tracking/recording/stop_signals.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;

// A temporary folder for the suites' JSON, removed however the job ends.
struct scratch_dir {
  fs::path path;
  scratch_dir() : path(fs::temp_directory_path() / ("trackbench-ab-" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~scratch_dir() {
    std::error_code error;
    fs::remove_all(path, error);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
};

benchmark_suite chosen(const std::string& given, const std::string& flag, const std::vector<fs::path>& dirs) {
  if (given.empty()) throw input_error(flag + " must name a suite or an executable");
  return choose_suites({given}, dirs, flag).front();
}

// One run of `suite`, its samples appended to `record` by benchmark name.
void run_side(const benchmark_suite& suite, const ab_options& options, const fs::path& json_out, bench_record& record) {
  const auto document = run_suite(suite, options.repetitions, options.filter, json_out);
  std::vector<bench_result> results;
  try {
    results = parse_google_benchmark(document, suite.name, "benchmark suite " + suite.name);
  } catch (const input_error& e) {
    throw std::runtime_error(e.what());  // the suite's fault, not the user's
  }
  append_results(record, std::move(results));
}

std::size_t undecided_count(const std::vector<bench_change>& changes) {
  return static_cast<std::size_t>(std::count_if(changes.begin(), changes.end(), [](const bench_change& c) {
    return c.verdict == bench_verdict::uncertain;
  }));
}

// Whether this round runs the base first: ABBA alternates, random draws a coin.
bool base_first_in(int round, const ab_options& options, std::mt19937_64& engine) {
  return options.order == ab_order::abba ? round % 2 == 1 : (engine() >> 63) == 0;
}

// Every count of each benchmark of a side, by name, and the names in the suite's order.
struct side_counts {
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> by_name;
};

void count_side(const instruction_counter& counter, const benchmark_suite& suite, const ab_options& options,
                const fs::path& scratch, side_counts& counts) {
  for (const auto& result : count_instructions(counter, suite, options.filter, scratch)) {
    if (!result.instructions_per_iteration) continue;  // skipped
    auto& counted = counts.by_name[result.name];
    if (counted.empty()) counts.order.push_back(result.name);
    counted.push_back(*result.instructions_per_iteration);
  }
}

// Timed rounds until every benchmark is decided or the budget is spent.
void run_timed_rounds(const benchmark_suite& base_suite, const benchmark_suite& new_suite, const ab_options& options,
                      const fs::path& scratch, std::mt19937_64& engine, ab_outcome& outcome) {
  const decision_options decision{options.threshold, min_threshold};
  const auto start = std::chrono::steady_clock::now();
  for (int round = 1;; ++round) {
    const bool base_first = base_first_in(round, options, engine);
    outcome.rounds.push_back(base_first ? "AB" : "BA");
    for (const bool base_side : {base_first, !base_first}) {
      run_side(base_side ? base_suite : new_suite, options, scratch / (base_side ? "base.json" : "new.json"),
               base_side ? outcome.base : outcome.next);
    }
    if (outcome.base.benchmarks.empty() && outcome.next.benchmarks.empty()) {
      throw input_error("no benchmark ran" + (options.filter.empty() ? std::string()
                                                                     : ": --benchmark '" + options.filter +
                                                                           "' matches none in either suite"));
    }
    outcome.changes = compare_benches(outcome.base, outcome.next, decision);
    outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto undecided_now = undecided_count(outcome.changes);
    const bool undecided = undecided_now > 0;
    spdlog::info("round {} ({}), {:.1f} s: {} of {} benchmarks undecided", round, outcome.rounds.back(), outcome.seconds,
                 undecided_now, outcome.changes.size());
    if (round >= options.min_rounds && !undecided) break;
    // Another round would take about as long as the average one so far.
    if (outcome.seconds * (round + 1) / round > options.max_seconds) {
      outcome.budget_spent = undecided || round < options.min_rounds;
      break;
    }
  }
  if (outcome.budget_spent) {
    // Before --min-rounds not even a decided verdict counts.
    const bool too_few_rounds = outcome.rounds.size() < static_cast<std::size_t>(options.min_rounds);
    char budget[96];
    std::snprintf(budget, sizeof budget, "budget: --max-seconds %g spent after %zu rounds", options.max_seconds,
                  outcome.rounds.size());
    for (auto& c : outcome.changes) {
      const bool decided = c.verdict == bench_verdict::faster || c.verdict == bench_verdict::slower ||
                           c.verdict == bench_verdict::same;
      if (c.verdict != bench_verdict::uncertain && !(too_few_rounds && decided)) continue;
      c.reason = budget + (c.reason.empty() ? std::string() : "; " + c.reason);
      c.verdict = bench_verdict::uncertain;
    }
  }
}

// --min-rounds counting rounds (fewer when --max-seconds would run out; one at least), each side
// once a round, and the decision per benchmark counted on both sides, in the base's order.
void count_rounds(const benchmark_suite& base_suite, const benchmark_suite& new_suite, const ab_options& options,
                  const fs::path& scratch, std::mt19937_64& engine, ab_outcome& outcome) {
  const auto counter = find_instruction_counter();
  outcome.instruction_tool = counter.tool;
  outcome.instruction_isa_limit = counter.isa_limit;
  outcome.instruction_settings = joined(counter.settings, " ");
  side_counts base_counts;
  side_counts new_counts;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 1; round <= options.min_rounds; ++round) {
    const bool base_first = base_first_in(round, options, engine);
    outcome.counting_rounds.push_back(base_first ? "AB" : "BA");
    for (const bool base_side : {base_first, !base_first}) {
      count_side(counter, base_side ? base_suite : new_suite, options, scratch / "callgrind",
                 base_side ? base_counts : new_counts);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("counting round {} ({}), {:.1f} s", round, outcome.counting_rounds.back(), seconds);
    if (outcome.seconds + seconds * (round + 1) / round > options.max_seconds) break;
  }
  if (base_counts.order.empty() && new_counts.order.empty()) {
    throw input_error("no benchmark was counted" + (options.filter.empty() ? std::string()
                                                                           : ": --benchmark '" + options.filter +
                                                                                 "' matches none in either suite"));
  }
  for (const auto& name : base_counts.order) {
    const auto other = new_counts.by_name.find(name);
    if (other != new_counts.by_name.end()) {
      outcome.instructions.push_back(decide_instructions(name, base_counts.by_name[name], other->second));
    }
  }
  outcome.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

ab_outcome run_ab(const ab_options& options) {
  if (options.repetitions < 1) throw input_error("--repetitions must be >= 1, got " + std::to_string(options.repetitions));
  if (options.min_rounds < 1) throw input_error("--min-rounds must be >= 1, got " + std::to_string(options.min_rounds));
  if (!(options.max_seconds > 0.0)) throw input_error("--max-seconds must be above 0");
  if (options.threshold && !(*options.threshold >= 0.0 && *options.threshold < 1.0)) {
    throw input_error("--threshold must be a percentage from 0 to 100");
  }
  const auto dirs = suite_search_dirs(options.suites_dir, options.build_bench_dir);
  const auto base_suite = chosen(options.base, "--base", dirs);
  const auto new_suite = chosen(options.next, "--new", dirs);
  const auto measure = parse_measure(options.measure);
  install_stop_handlers();
  const scratch_dir scratch;

  std::mt19937_64 engine(options.seed);
  ab_outcome outcome;
  if (measure.time) run_timed_rounds(base_suite, new_suite, options, scratch.path, engine, outcome);
  if (measure.instructions) count_rounds(base_suite, new_suite, options, scratch.path, engine, outcome);
  return outcome;
}

}  // namespace trackbench::tracking
