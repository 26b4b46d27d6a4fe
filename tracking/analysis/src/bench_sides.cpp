#include "trackbench/tracking/analysis/bench_sides.h"

#include <algorithm>
#include <map>

#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

// The prefix of `name` when it ends in "/<side>", else empty.
std::optional<std::string> prefix_of(const std::string& name, const std::string& side) {
  const std::string suffix = "/" + side;
  if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  return name.substr(0, name.size() - suffix.size());
}

std::optional<double> median_counter(const bench_result& result, const std::string& counter) {
  std::vector<double> values;
  for (const auto& sample : result.samples) {
    for (const auto& [name, value] : sample.counters) {
      if (name == counter) values.push_back(value);
    }
  }
  if (values.size() != result.samples.size() || values.empty()) return std::nullopt;
  return statistics::median(values);
}

const bench_result& measured(const bench_result& result) {
  if (result.skipped || result.samples.empty()) {
    throw input_error("benchmark " + result.name + " has no samples" +
                      (result.skip_message.empty() ? std::string() : ": " + result.skip_message));
  }
  return result;
}

}  // namespace

std::vector<side_comparison> compare_sides(const bench_record& record, const std::string& base_side,
                                           const std::string& new_side, const decision_options& options) {
  if (base_side.empty() || new_side.empty() || base_side == new_side) {
    throw input_error("the two sides must be named and differ, got '" + base_side + "' and '" + new_side + "'");
  }
  std::map<std::string, const bench_result*> news;
  for (const auto& result : record.benchmarks) {
    if (const auto prefix = prefix_of(result.name, new_side)) news[*prefix] = &result;
  }
  std::vector<side_comparison> comparisons;
  std::map<std::string, bool> paired;
  for (const auto& result : record.benchmarks) {
    const auto prefix = prefix_of(result.name, base_side);
    if (!prefix) continue;
    const auto partner = news.find(*prefix);
    if (partner == news.end()) {
      throw input_error("benchmark " + result.name + " has no partner " + *prefix + "/" + new_side);
    }
    paired[*prefix] = true;
    const auto& base = measured(result);
    const auto& next = measured(*partner->second);
    side_comparison c;
    c.prefix = *prefix;
    c.base_name = base.name;
    c.new_name = next.name;
    const auto base_times = base.real_seconds();
    const auto new_times = next.real_seconds();
    c.change = compare_samples(*prefix, base_times, new_times, options);
    const auto positive = [](double seconds) { return seconds > 0.0; };
    if (std::all_of(base_times.begin(), base_times.end(), positive) &&
        std::all_of(new_times.begin(), new_times.end(), positive)) {
      c.speedup = statistics::ratio_confidence_interval(base_times, new_times, side_confidence);
    }
    c.base_items_per_second = median_counter(base, "items_per_second");
    c.new_items_per_second = median_counter(next, "items_per_second");
    comparisons.push_back(std::move(c));
  }
  for (const auto& [prefix, result] : news) {
    if (paired.count(prefix) == 0) {
      throw input_error("benchmark " + result->name + " has no partner " + prefix + "/" + base_side);
    }
  }
  if (comparisons.empty()) {
    throw input_error("no benchmark is named .../" + base_side + " with a partner .../" + new_side);
  }
  std::vector<decision*> decisions;
  for (auto& c : comparisons) decisions.push_back(&c.change);
  correct_for_suite(decisions);
  return comparisons;
}

}  // namespace trackbench::tracking
