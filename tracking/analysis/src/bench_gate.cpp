#include "trackbench/tracking/analysis/bench_gate.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "trackbench/tracking/analysis/statistics.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

using json = nlohmann::ordered_json;

// Benchmarks match by name alone, so a suite renamed or given by another path still compares.
const std::string& key_of(const bench_result& result) { return result.name; }

}  // namespace

bench_change compare_samples(const std::string& name, const std::vector<double>& base, const std::vector<double>& next,
                             const decision_options& options) {
  bench_change c;
  static_cast<decision&>(c) = decide(base, next, options);
  c.name = name;
  c.base_repetitions = base.size();
  c.new_repetitions = next.size();
  c.base_median = statistics::median(base);
  c.new_median = statistics::median(next);
  c.base_spread = statistics::relative_spread(base);
  c.new_spread = statistics::relative_spread(next);
  c.change = c.base_median > 0.0 ? c.new_median / c.base_median - 1.0 : 0.0;
  return c;
}

std::vector<bench_change> compare_benches(const bench_record& base, const bench_record& next,
                                          const decision_options& options) {
  std::map<std::string, const bench_result*> in_next;
  for (const auto& result : next.benchmarks) in_next[key_of(result)] = &result;
  std::set<std::string> in_base;
  std::vector<bench_change> changes;
  for (const auto& before : base.benchmarks) {
    in_base.insert(key_of(before));
    const auto found = in_next.find(key_of(before));
    if (found == in_next.end()) {
      bench_change c;
      c.name = before.name;
      c.verdict = bench_verdict::removed;
      c.base_repetitions = before.samples.size();
      if (!before.samples.empty()) c.base_median = statistics::median(before.real_seconds());
      changes.push_back(std::move(c));
      continue;
    }
    const auto& after = *found->second;
    if (before.skipped || after.skipped || before.samples.empty() || after.samples.empty()) {
      bench_change c;
      c.name = before.name;
      c.verdict = bench_verdict::skipped;
      const auto& side = before.skipped || before.samples.empty() ? before : after;
      c.reason = std::string(&side == &before ? "base" : "new") + ": " +
                 (side.skip_message.empty() ? std::string("no samples") : side.skip_message);
      changes.push_back(std::move(c));
      continue;
    }
    changes.push_back(compare_samples(before.name, before.real_seconds(), after.real_seconds(), options));
  }
  for (const auto& after : next.benchmarks) {
    if (in_base.count(key_of(after)) > 0) continue;
    bench_change c;
    c.name = after.name;
    c.verdict = bench_verdict::added;
    c.new_repetitions = after.samples.size();
    if (!after.samples.empty()) c.new_median = statistics::median(after.real_seconds());
    changes.push_back(std::move(c));
  }
  std::vector<decision*> decisions;
  for (auto& c : changes) decisions.push_back(&c);
  correct_for_suite(decisions);
  return changes;
}

std::vector<std::string> hardware_differences(const bench_record& base, const bench_record& next) {
  std::vector<std::string> differences;
  const auto differ = [&](const std::string& field, const json& a, const json& b) {
    const auto text = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
    if (a != b) differences.push_back(field + ": " + text(a) + " -> " + text(b));
  };
  for (const char* field : {"cpu_model", "cpu_cores", "hardware_threads", "cuda_usable"}) {
    differ(std::string("environment.") + field, base.environment.value(field, json()), next.environment.value(field, json()));
  }
  const json none = json::array();
  const auto& gpus_a = base.environment.contains("gpus") ? base.environment["gpus"] : none;
  const auto& gpus_b = next.environment.contains("gpus") ? next.environment["gpus"] : none;
  differ("environment.gpus (count)", gpus_a.size(), gpus_b.size());
  for (std::size_t i = 0; i < std::min(gpus_a.size(), gpus_b.size()); ++i) {
    for (const char* field : {"name", "compute_capability", "sm_count", "memory_bytes"}) {
      differ("environment.gpus[" + std::to_string(i) + "]." + field, gpus_a[i].value(field, json()),
             gpus_b[i].value(field, json()));
    }
    // An older file, or a GPU NVML could not describe, says nothing about these.
    const auto known = [](const json& value) {
      return !value.is_null() && value != json(-1) && value != json("unavailable") &&
             !(value.is_number_float() && std::isnan(value.get<double>()));
    };
    for (const char* field : {"power_limit_watts", "sm_clock_max_mhz", "memory_clock_max_mhz", "ecc_mode"}) {
      const json a = gpus_a[i].value(field, json());
      const json b = gpus_b[i].value(field, json());
      if (known(a) && known(b)) differ("environment.gpus[" + std::to_string(i) + "]." + field, a, b);
    }
  }
  return differences;
}

bool is_bench_rule(const std::string& text) { return text.rfind("slower:", 0) == 0; }

bench_rule parse_bench_rule(const std::string& text) {
  const auto bad = [&] {
    return input_error("--fail-on '" + text +
                       "': a bench snapshot rule is slower:N% (fail when a benchmark's verdict is slower and its "
                       "median rose by more than N percent), e.g. slower:5%");
  };
  if (!is_bench_rule(text) || text.size() < 9 || text.back() != '%') throw bad();
  const std::string number = text.substr(7, text.size() - 8);
  std::size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    throw bad();
  }
  if (used != number.size() || !std::isfinite(value) || value < 0.0) throw bad();
  return {text, value / 100.0};
}

std::vector<const bench_change*> broken(const bench_rule& rule, const std::vector<bench_change>& changes) {
  std::vector<const bench_change*> out;
  for (const auto& c : changes) {
    if (c.verdict == bench_verdict::slower && c.change > rule.threshold) out.push_back(&c);
  }
  return out;
}

}  // namespace trackbench::tracking
