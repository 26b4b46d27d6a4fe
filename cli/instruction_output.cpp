#include "instruction_output.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "console.h"

namespace trackbench::cli {

void print_instruction_table(const std::vector<tracking::instruction_change>& changes) {
  std::size_t width = 9;
  for (const auto& c : changes) width = std::max(width, c.name.size());
  width = std::min<std::size_t>(width, 72);
  const bool repeated = std::any_of(changes.begin(), changes.end(), [](const auto& c) {
    return c.base_counts.size() > 1 || c.new_counts.size() > 1;
  });
  fmt::print("{:<{}}  {:>14}  {:>14}  {:>8}  {}{}\n", "benchmark", width, "base", "new", "change",
             repeated ? "spread base/new  " : "", "verdict");
  for (const auto& c : changes) {
    const std::string spreads =
        repeated ? fmt::format("{:>6.3f}%/{:.3f}%  ", 100.0 * c.base_spread, 100.0 * c.new_spread) : "";
    fmt::print("{:<{}}  {:>14.0f}  {:>14.0f}  {:>+7.2f}%  {}{}\n", printable(c.name), width, c.base_per_iteration,
               c.new_per_iteration, 100.0 * c.change, spreads, tracking::to_string(c.verdict));
  }
}

nlohmann::ordered_json instruction_change_json(const tracking::instruction_change& c) {
  return {{"name", c.name},
          {"base_instructions_per_iteration", c.base_per_iteration},
          {"new_instructions_per_iteration", c.new_per_iteration},
          {"change", c.change},
          {"verdict", tracking::to_string(c.verdict)},
          {"base_counts", c.base_counts},
          {"new_counts", c.new_counts},
          {"base_spread", c.base_spread},
          {"new_spread", c.new_spread}};
}

void print_instruction_gate(const tracking::instruction_gate& gate) {
  if (gate.changes.empty() && gate.rules.empty()) return;
  fmt::print("instructions per iteration (callgrind; a change beyond {:.1f}% is one)\n",
             100.0 * tracking::default_instruction_threshold);
  if (!gate.counter_differences.empty()) {
    fmt::print("COUNTER DIFFERS between the snapshots: instruction verdicts are advisory\n");
    for (const auto& difference : gate.counter_differences) fmt::print("  {}\n", printable(difference));
  }
  if (gate.changes.empty()) {
    fmt::print("  no benchmark has counts in both snapshots\n");
  } else {
    print_instruction_table(gate.changes);
  }
  if (!gate.rules.empty()) fmt::print("instruction rules{}\n", gate.advisory ? " (advisory: counter or hardware differs)" : "");
  for (const auto& outcome : gate.rules) {
    if (outcome.broken_by.empty()) fmt::print("  pass  {}\n", outcome.rule.text);
    for (const auto& c : outcome.broken_by) {
      fmt::print("  {}  {}  {}: {:+.2f}%\n", gate.advisory ? "ADVISORY FAIL" : "FAIL", outcome.rule.text,
                 printable(c.name), 100.0 * c.change);
    }
  }
}

nlohmann::ordered_json to_json(const tracking::instruction_gate& gate) {
  using json = nlohmann::ordered_json;
  json out{{"threshold", tracking::default_instruction_threshold},
           {"counter_differences", gate.counter_differences},
           {"advisory", gate.advisory},
           {"benchmarks", json::array()},
           {"rules", json::array()},
           {"passed", !gate.failed()}};
  for (const auto& c : gate.changes) out["benchmarks"].push_back(instruction_change_json(c));
  for (const auto& outcome : gate.rules) {
    json names = json::array();
    for (const auto& c : outcome.broken_by) names.push_back(c.name);
    out["rules"].push_back({{"rule", outcome.rule.text}, {"broken_by", names}, {"passed", outcome.broken_by.empty()}});
  }
  return out;
}

std::string instruction_change_text(const tracking::instruction_change& c, double threshold) {
  return fmt::format("{:+.2f}% ({:.0f} -> {:.0f} instructions per iteration), {} +-{:.1f}%", 100.0 * c.change,
                     c.base_per_iteration, c.new_per_iteration,
                     c.verdict == tracking::instruction_verdict::same ? "within" : "beyond", 100.0 * threshold);
}

std::vector<junit_case> instruction_junit_cases(const std::string& classname,
                                                const std::vector<tracking::instruction_change>& changes,
                                                double threshold,
                                                const std::function<bool(const tracking::instruction_change&)>& failed) {
  std::vector<junit_case> cases;
  for (const auto& c : changes) {
    junit_case testcase{classname, c.name, std::nullopt, instruction_change_text(c, threshold)};
    if (failed(c)) testcase.failure = c.name + ": " + instruction_change_text(c, threshold);
    cases.push_back(std::move(testcase));
  }
  return cases;
}

std::string instruction_markdown(const std::vector<tracking::instruction_change>& changes,
                                 const std::function<bool(const tracking::instruction_change&)>& failed) {
  if (changes.empty()) return {};
  std::string text =
      "\n| benchmark | base instructions | new instructions | change | verdict |\n"
      "| --- | ---: | ---: | ---: | --- |\n";
  for (const auto& c : changes) {
    const std::string verdict = tracking::to_string(c.verdict);
    text += fmt::format("| {} | {:.0f} | {:.0f} | {:+.2f}% | {} |\n", markdown_cell(c.name), c.base_per_iteration,
                        c.new_per_iteration, 100.0 * c.change, failed(c) ? "**" + verdict + "**" : verdict);
  }
  return text;
}

std::function<bool(const tracking::instruction_change&)> breaks_an_instruction_rule(const tracking::instruction_gate& gate) {
  return [&gate](const tracking::instruction_change& c) {
    return !gate.advisory && std::any_of(gate.rules.begin(), gate.rules.end(), [&](const auto& outcome) {
             return std::any_of(outcome.broken_by.begin(), outcome.broken_by.end(),
                                [&](const auto& broken) { return broken.name == c.name; });
           });
  };
}

void log_instruction_gate(const tracking::instruction_gate& gate) {
  for (const auto& outcome : gate.rules) {
    for (const auto& c : outcome.broken_by) {
      if (gate.advisory) {
        spdlog::warn("rule {} would fail for {} ({:+.2f}% instructions), but the counter or hardware differs: advisory "
                     "only",
                     outcome.rule.text, printable(c.name), 100.0 * c.change);
      } else {
        spdlog::error("rule {} failed for {}: {:+.2f}% instructions per iteration", outcome.rule.text,
                      printable(c.name), 100.0 * c.change);
      }
    }
  }
}

}  // namespace trackbench::cli
