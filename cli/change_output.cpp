#include "change_output.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "bench_output.h"
#include "console.h"

namespace trackbench::cli {
namespace {

using json = nlohmann::ordered_json;

bool measured(const tracking::bench_change& c) {
  return c.verdict != tracking::bench_verdict::added && c.verdict != tracking::bench_verdict::removed &&
         c.verdict != tracking::bench_verdict::skipped;
}

std::string interval_cell(const tracking::bench_change& c) {
  if (!c.shift) return "-";
  return fmt::format("{:+.1f}% [{:+.1f}%, {:+.1f}%]", 100.0 * (c.shift->estimate - 1.0), 100.0 * (c.shift->low - 1.0),
                     100.0 * (c.shift->high - 1.0));
}

std::string number_cell(const std::optional<double>& value) { return value ? fmt::format("{:.3g}", *value) : "-"; }

std::string time_cell(std::size_t repetitions, double seconds) { return repetitions > 0 ? format_seconds(seconds) : "-"; }

json optional_json(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

std::string verdict_text(const tracking::bench_change& c) {
  return tracking::to_string(c.verdict) + (c.reason.empty() ? "" : " (" + c.reason + ")");
}

}  // namespace

std::string change_text(const tracking::bench_change& c) {
  if (!measured(c)) return verdict_text(c);
  return fmt::format("{} -> {}, change {} (95% interval), threshold +-{:.1f}%, q = {}: {}",
                     time_cell(c.base_repetitions, c.base_median), time_cell(c.new_repetitions, c.new_median),
                     interval_cell(c), 100.0 * c.threshold, number_cell(c.q_value), verdict_text(c));
}

void print_change_table(const std::vector<tracking::bench_change>& changes) {
  std::size_t width = 9;
  for (const auto& c : changes) width = std::max(width, c.name.size());
  width = std::min<std::size_t>(width, 72);
  fmt::print("{:<{}}  {:>10}  {:>10}  {:>24}  {:>9}  {:>9}  {}\n", "benchmark", width, "base", "new",
             "change [95% interval]", "threshold", "q", "verdict");
  std::map<std::string, int> counts;
  for (const auto& c : changes) {
    ++counts[tracking::to_string(c.verdict)];
    fmt::print("{:<{}}  {:>10}  {:>10}  {:>24}  {:>9}  {:>9}  {}\n", printable(c.name), width,
               time_cell(c.base_repetitions, c.base_median), time_cell(c.new_repetitions, c.new_median),
               interval_cell(c), measured(c) ? fmt::format("+-{:.1f}%", 100.0 * c.threshold) : "-",
               number_cell(c.q_value), printable(verdict_text(c)));
  }
  std::string summary;
  for (const auto& [verdict, count] : counts) summary += (summary.empty() ? "" : ", ") + fmt::format("{} {}", count, verdict);
  fmt::print("verdicts: {}\n", summary.empty() ? "no benchmarks" : summary);
}

json change_json(const tracking::bench_change& c) {
  const auto bound = [&](double ratio) { return c.shift ? json(ratio - 1.0) : json(nullptr); };
  return {{"name", c.name},
          {"verdict", tracking::to_string(c.verdict)},
          {"reason", c.reason},
          {"base_median_seconds", c.base_median},
          {"new_median_seconds", c.new_median},
          {"change", c.change},
          {"shift", c.shift ? bound(c.shift->estimate) : json(nullptr)},
          {"shift_low", c.shift ? bound(c.shift->low) : json(nullptr)},
          {"shift_high", c.shift ? bound(c.shift->high) : json(nullptr)},
          {"interval_exact", c.shift ? json(c.shift->exact) : json(nullptr)},
          {"threshold", c.threshold},
          {"p_value", optional_json(c.p_value)},
          {"q_value", optional_json(c.q_value)},
          {"exact", c.exact},
          {"base_spread", c.base_spread},
          {"new_spread", c.new_spread},
          {"base_repetitions", c.base_repetitions},
          {"new_repetitions", c.new_repetitions}};
}

std::vector<junit_case> change_junit_cases(const std::string& classname, const std::vector<tracking::bench_change>& changes,
                                           const std::function<bool(const tracking::bench_change&)>& failed) {
  std::vector<junit_case> cases;
  for (const auto& c : changes) {
    junit_case testcase{classname, c.name, std::nullopt, change_text(c)};
    if (failed(c)) testcase.failure = c.name + ": " + change_text(c);
    cases.push_back(std::move(testcase));
  }
  return cases;
}

std::string change_markdown(const std::vector<tracking::bench_change>& changes,
                            const std::function<bool(const tracking::bench_change&)>& failed) {
  std::string text =
      "| benchmark | base | new | change [95% interval] | threshold | q | verdict |\n"
      "| --- | ---: | ---: | ---: | ---: | ---: | --- |\n";
  for (const auto& c : changes) {
    const std::string verdict = markdown_cell(verdict_text(c));
    text += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", markdown_cell(c.name),
                        time_cell(c.base_repetitions, c.base_median), time_cell(c.new_repetitions, c.new_median),
                        interval_cell(c), measured(c) ? fmt::format("+-{:.1f}%", 100.0 * c.threshold) : "-",
                        number_cell(c.q_value), failed(c) ? "**" + verdict + "**" : verdict);
  }
  return text;
}

}  // namespace trackbench::cli
