#include "trackbench/tracking/format/google_benchmark.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {

double seconds_per_unit(const std::string& unit) {
  if (unit == "ns") return 1e-9;
  if (unit == "us") return 1e-6;
  if (unit == "ms") return 1e-3;
  if (unit == "s") return 1.0;
  return 0.0;
}

std::vector<bench_result> parse_google_benchmark(const nlohmann::ordered_json& document, const std::string& suite,
                                                 const std::string& source) {
  const auto bad = [&](const std::string& why) { return input_error(source + ": not Google Benchmark JSON output: " + why); };
  if (!document.is_object() || !document.contains("benchmarks") || !document["benchmarks"].is_array()) {
    throw bad("no 'benchmarks' array");
  }
  // Fields Google Benchmark writes itself; every other number in an entry is a counter.
  static const std::set<std::string> standard{
      "name",       "family_index", "per_family_instance_index", "run_name",       "run_type",   "repetitions",
      "repetition_index", "threads", "iterations",              "real_time",      "cpu_time",   "time_unit",
      "aggregate_name", "aggregate_unit", "label",              "error_occurred", "error_message", "skipped",
      "skip_message", "big_o",      "rms",          "complexity"};
  std::vector<bench_result> results;
  std::map<std::string, std::size_t> index;
  for (const auto& entry : document["benchmarks"]) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string()) throw bad("an entry has no name");
    if (entry.value("run_type", std::string("iteration")) == "aggregate") continue;
    const std::string name = entry["name"].get<std::string>();
    const auto [found, added] = index.emplace(name, results.size());
    if (added) {
      bench_result result;
      result.name = name;
      result.suite = suite;
      result.run_name = entry.value("run_name", name);
      result.time_unit = entry.value("time_unit", std::string("ns"));
      result.manual_time = name.find("/manual_time") != std::string::npos;
      result.label = entry.value("label", std::string());
      results.push_back(std::move(result));
    }
    auto& result = results[found->second];
    const bool errored = entry.value("error_occurred", false);
    const bool skipped = entry.contains("skipped") && entry["skipped"].is_boolean() && entry["skipped"].get<bool>();
    if (errored || skipped) {
      result.skipped = true;
      result.skip_message = entry.value(errored ? "error_message" : "skip_message", std::string("skipped"));
      result.samples.clear();
      continue;
    }
    if (result.skipped) continue;
    const double unit = seconds_per_unit(result.time_unit);
    if (unit == 0.0) throw bad("benchmark " + name + " has time_unit '" + result.time_unit + "'");
    const auto number = [&](const char* field) {
      if (!entry.contains(field) || !entry[field].is_number()) throw bad("benchmark " + name + " has no " + field);
      return entry[field].get<double>();
    };
    bench_sample sample;
    sample.iterations = static_cast<std::int64_t>(number("iterations"));
    sample.real_seconds = number("real_time") * unit;
    sample.cpu_seconds = number("cpu_time") * unit;
    if (sample.iterations < 1 || !std::isfinite(sample.real_seconds) || !std::isfinite(sample.cpu_seconds) ||
        sample.real_seconds < 0 || sample.cpu_seconds < 0) {
      throw bad("benchmark " + name + " reports an impossible iteration count or time");
    }
    for (const auto& [key, value] : entry.items()) {
      if (standard.count(key) == 0 && value.is_number()) sample.counters.emplace_back(key, value.get<double>());
    }
    result.samples.push_back(std::move(sample));
  }
  return results;
}

void append_results(bench_record& record, std::vector<bench_result> results) {
  for (auto& result : results) {
    const auto same = std::find_if(record.benchmarks.begin(), record.benchmarks.end(),
                                   [&](const bench_result& other) { return other.name == result.name; });
    if (same == record.benchmarks.end()) {
      record.benchmarks.push_back(std::move(result));
    } else if (result.skipped) {
      same->skipped = true;
      same->skip_message = result.skip_message;
    } else {
      same->samples.insert(same->samples.end(), result.samples.begin(), result.samples.end());
    }
  }
}

}  // namespace trackbench::tracking
