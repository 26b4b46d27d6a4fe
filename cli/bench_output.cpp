#include "bench_output.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iterator>
#include <optional>

#include "console.h"
#include "trackbench/tracking/analysis/statistics.h"

namespace trackbench::cli {
namespace {

// 12.3M: three significant digits with an SI prefix.
std::string si(double value) {
  static const char* prefixes[] = {"", "k", "M", "G", "T", "P"};
  std::size_t prefix = 0;
  while (std::fabs(value) >= 1000.0 && prefix + 1 < std::size(prefixes)) {
    value /= 1000.0;
    ++prefix;
  }
  return fmt::format("{:.3g}{}", value, prefixes[prefix]);
}

bool contains_flop(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find("flop") != std::string::npos;
}

// The counters a reader scans for first, as medians over the repetitions.
std::string key_counters(const tracking::bench_result& result) {
  std::string shown;
  const auto median_of = [&](const std::string& counter) -> std::optional<double> {
    std::vector<double> values;
    for (const auto& sample : result.samples) {
      for (const auto& [name, value] : sample.counters) {
        if (name == counter) values.push_back(value);
      }
    }
    if (values.empty()) return std::nullopt;
    return tracking::statistics::median(values);
  };
  const auto add = [&](const std::string& counter, const std::string& unit) {
    if (const auto value = median_of(counter)) shown += (shown.empty() ? "" : "  ") + si(*value) + " " + unit;
  };
  add("items_per_second", "items/s");
  add("images/s", "images/s");
  // The scaling benchmarks' images/s against that many 1-rank jobs.
  if (const auto efficiency = median_of("efficiency")) {
    shown += fmt::format("{}efficiency {:.0f}%", shown.empty() ? "" : "  ", 100.0 * *efficiency);
  }
  if (!result.samples.empty()) {
    for (const auto& [name, value] : result.samples.front().counters) {
      if (contains_flop(name)) add(name, "FLOP/s");
    }
  }
  add("bytes_per_second", "B/s");
  return shown;
}

}  // namespace

std::string format_seconds(double seconds) {
  const double magnitude = std::fabs(seconds);
  if (magnitude >= 1.0 || magnitude == 0.0) return fmt::format("{:.3g} s", seconds);
  if (magnitude >= 1e-3) return fmt::format("{:.3g} ms", seconds * 1e3);
  if (magnitude >= 1e-6) return fmt::format("{:.3g} us", seconds * 1e6);
  return fmt::format("{:.3g} ns", seconds * 1e9);
}

void print_bench_table(const tracking::bench_record& record) {
  std::size_t width = 9;
  for (const auto& result : record.benchmarks) width = std::max(width, result.name.size());
  width = std::min<std::size_t>(width, 72);
  const bool counted = std::any_of(record.benchmarks.begin(), record.benchmarks.end(),
                                   [](const auto& result) { return result.instructions_per_iteration.has_value(); });
  const auto instructions = [&](const tracking::bench_result& result) {
    if (!counted) return std::string();
    return fmt::format("{:>12}  ", result.instructions_per_iteration ? si(*result.instructions_per_iteration) : "-");
  };
  fmt::print("{:<{}}  {:>10}  {:>7}  {:>4}  {}{}\n", "benchmark", width, "median", "spread", "reps",
             counted ? fmt::format("{:>12}  ", "instr/iter") : "", "counters");
  for (const auto& result : record.benchmarks) {
    const std::string name = printable(result.name);
    if (result.skipped) {
      fmt::print("{:<{}}  skipped: {}\n", name, width, printable(result.skip_message));
      continue;
    }
    if (result.samples.empty()) {  // instructions counted, no time measured
      fmt::print("{:<{}}  {:>10}  {:>7}  {:>4}  {}\n", name, width, "-", "-", 0, instructions(result));
      continue;
    }
    const auto times = result.real_seconds();
    fmt::print("{:<{}}  {:>10}  {:>6.1f}%  {:>4}  {}{}\n", name, width, format_seconds(tracking::statistics::median(times)),
               100.0 * tracking::statistics::relative_spread(times), times.size(), instructions(result),
               printable(key_counters(result)));
  }
}

}  // namespace trackbench::cli
