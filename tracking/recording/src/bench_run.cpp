#include "trackbench/tracking/recording/bench_run.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "suite_process.h"
#include "trackbench/tracking/analysis/bench_gate.h"
#include "trackbench/tracking/format/google_benchmark.h"
#include "trackbench/tracking/recording/instructions.h"
#include "trackbench/tracking/recording/recorder.h"
#include "trackbench/tracking/recording/stop_signals.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::string joined(const std::vector<fs::path>& dirs) {
  std::vector<std::string> names;
  for (const auto& dir : dirs) names.push_back(dir.string());
  return tracking::joined(names);
}

std::vector<benchmark_suite> found_suites(const fs::path& dir) {
  std::vector<benchmark_suite> suites;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string file = it->path().filename().string();
    if (file.rfind(suite_prefix, 0) == 0 && file.size() > std::strlen(suite_prefix) && is_executable(it->path())) {
      suites.push_back({file.substr(std::strlen(suite_prefix)), it->path()});
    }
  }
  std::sort(suites.begin(), suites.end(), [](const benchmark_suite& a, const benchmark_suite& b) { return a.name < b.name; });
  return suites;
}

// The suites of the first folder that holds any.
std::vector<benchmark_suite> default_suites(const std::vector<fs::path>& dirs) {
  for (const auto& dir : dirs) {
    auto suites = found_suites(dir);
    if (!suites.empty()) return suites;
  }
  return {};
}

}  // namespace

std::vector<fs::path> suite_search_dirs(const std::string& suites_dir, const fs::path& build_bench_dir) {
  if (!suites_dir.empty()) {
    std::error_code error;
    if (!fs::is_directory(suites_dir, error)) throw input_error("--suites-dir " + suites_dir + " is not a folder");
    return {suites_dir};
  }
  std::error_code error;
  const fs::path own_dir = fs::read_symlink("/proc/self/exe", error).parent_path();
  return {own_dir, build_bench_dir, own_dir.parent_path() / "libexec" / "trackbench", own_dir.parent_path() / "bench"};
}

std::vector<benchmark_suite> choose_suites(const std::vector<std::string>& named, const std::vector<fs::path>& dirs,
                                           const std::string& flag) {
  if (named.empty()) {
    auto suites = default_suites(dirs);
    if (suites.empty()) {
      throw input_error("no benchmark suites (" + std::string(suite_prefix) + "*) in " + joined(dirs) +
                        "; build them (TRACKBENCH_BUILD_BENCHMARKS=ON), or name them with --suite or --suites-dir");
    }
    return suites;
  }
  std::vector<benchmark_suite> suites;
  std::set<std::string> seen;
  for (const auto& given : named) {
    benchmark_suite chosen;
    if (given.find('/') != std::string::npos) {
      if (!is_executable(given)) throw input_error(flag + " " + given + ": no such executable");
      chosen = {fs::path(given).filename().string(), given};
    } else {
      const auto found = std::find_if(dirs.begin(), dirs.end(),
                                      [&](const fs::path& dir) { return is_executable(dir / (suite_prefix + given)); });
      if (found == dirs.end()) {
        std::string known;
        for (const auto& s : default_suites(dirs)) known += (known.empty() ? "" : ", ") + s.name;
        throw input_error(flag + " " + given + ": no " + suite_prefix + given + " in " + joined(dirs) +
                          (known.empty() ? std::string("; none of them holds a suite") : "; suites found: " + known));
      }
      chosen = {given, *found / (suite_prefix + given)};
    }
    if (seen.insert(fs::absolute(chosen.executable).lexically_normal().string()).second) suites.push_back(chosen);
  }
  return suites;
}

json run_suite(const benchmark_suite& s, int repetitions, const std::string& filter, const fs::path& json_out) {
  std::vector<std::string> arguments{"--benchmark_repetitions=" + std::to_string(repetitions)};
  if (!filter.empty()) arguments.push_back("--benchmark_filter=" + filter);
  return run_suite_under(s, {}, arguments, {}, json_out);
}

namespace {

// The suite's timed repetitions, as its JSON document.
json timed(const benchmark_suite& s, const bench_options& flags, const fs::path& json_out) {
  spdlog::info("running {} ({} repetitions{})", s.executable.string(), flags.repetitions,
               flags.filter.empty() ? "" : ", filter " + flags.filter);
  std::error_code error;
  try {
    auto document = run_suite(s, flags.repetitions, flags.filter, json_out);
    fs::remove(json_out, error);
    return document;
  } catch (...) {
    fs::remove(json_out, error);
    throw;
  }
}

std::vector<bench_result> parse_suite(const json& document, const std::string& suite) {
  try {
    return parse_google_benchmark(document, suite, "benchmark suite " + suite);
  } catch (const input_error& e) {
    throw std::runtime_error(e.what());  // the suite's fault, not the user's
  }
}

}  // namespace

bench_outcome run_bench(const bench_options& flags) {
  if (flags.repetitions < 1) {
    throw input_error("--repetitions must be >= 1, got " + std::to_string(flags.repetitions));
  }
  const auto measure = parse_measure(flags.measure);
  const auto suites = choose_suites(flags.suites, suite_search_dirs(flags.suites_dir, flags.build_bench_dir));
  const auto counter = measure.instructions ? std::optional(find_instruction_counter()) : std::nullopt;
  install_stop_handlers();
  std::error_code error;
  fs::create_directories(flags.out, error);
  if (!fs::is_directory(flags.out, error)) {
    throw input_error("--out " + flags.out.string() + " is not a folder and cannot be made one");
  }
  if (!flags.json_file.empty()) {
    const auto parent = fs::path(flags.json_file).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, error)) throw input_error("--json " + flags.json_file + ": no such folder");
  }
  if (measure.time && flags.repetitions < static_cast<int>(min_decision_samples)) {
    spdlog::warn("--repetitions {}: compare needs at least {} on each side to call a change (10 is better)",
                 flags.repetitions, min_decision_samples);
  }

  auto record = describe_bench(trainer::load_dataset("mnist-sample", std::nullopt), flags.command_line,
                                         flags.filter, flags.repetitions);
  const std::string bench_id = record.identity["bench_id"].get<std::string>();
  record.identity["measure"] = to_string(measure);
  if (counter) {
    record.identity["instruction_tool"] = counter->tool;
    record.identity["instruction_isa_limit"] = counter->isa_limit;
    record.identity["instruction_settings"] = tracking::joined(counter->settings, " ");
  }

  json merged{{"context", nullptr}, {"benchmarks", json::array()}};
  for (const auto& s : suites) {
    std::vector<bench_result> results;
    if (measure.time) {
      const json document = timed(s, flags, fs::path(flags.out) / ("." + bench_id + "." + s.name + ".json"));
      results = parse_suite(document, s.name);
      if (merged["context"].is_null() && document.contains("context")) merged["context"] = document["context"];
      for (const auto& entry : document["benchmarks"]) merged["benchmarks"].push_back(entry);
    }
    if (counter) {
      auto counted = count_instructions(*counter, s, flags.filter, fs::path(flags.out) / ("." + bench_id + ".callgrind"));
      if (!measure.time) {
        results = std::move(counted);
      } else {
        for (auto& result : results) {
          const auto same = std::find_if(counted.begin(), counted.end(), [&](const auto& c) { return c.name == result.name; });
          if (same != counted.end()) result.instructions_per_iteration = same->instructions_per_iteration;
        }
      }
    }
    if (results.empty()) spdlog::warn("suite {} ran no benchmark{}", s.name, flags.filter.empty() ? "" : " matching --filter");
    for (auto& result : results) {
      const auto same = std::find_if(record.benchmarks.begin(), record.benchmarks.end(),
                                     [&](const auto& other) { return other.name == result.name; });
      if (same != record.benchmarks.end()) {
        throw std::runtime_error("benchmark " + result.name + " is in suites " + same->suite + " and " + s.name +
                                 "; bench them in separate invocations");
      }
      if (result.skipped) spdlog::warn("{} skipped: {}", result.name, printable(result.skip_message));
      record.benchmarks.push_back(std::move(result));
    }
  }
  if (record.benchmarks.empty()) {
    throw input_error("no benchmark ran" + (flags.filter.empty() ? std::string() : ": --filter '" + flags.filter +
                                                                                        "' matches none in the suites"));
  }
  record.identity["end_time"] = utc_timestamp();

  const fs::path path = fs::path(flags.out) / (bench_id + ".h5");
  write_bench_snapshot(path, record);
  if (!flags.json_file.empty()) {
    std::ofstream out(flags.json_file);
    out << merged.dump(2) << '\n';
    if (!out) throw input_error("--json " + flags.json_file + ": cannot write the file");
  }
  spdlog::info("bench snapshot: {}", path.string());
  return {std::move(record), path};
}

}  // namespace trackbench::tracking
