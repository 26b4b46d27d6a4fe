#include "instruction_output.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "console.h"

namespace trackbench::cli {

void print_instruction_gate(const tracking::instruction_gate& gate) {
  if (gate.changes.empty() && gate.rules.empty()) return;
  fmt::print("instructions per iteration (callgrind; a change beyond {:.1f}% is one)\n",
             100.0 * tracking::default_instruction_threshold);
  if (!gate.counter_differences.empty()) {
    fmt::print("COUNTER DIFFERS between the snapshots: instruction verdicts are advisory\n");
    for (const auto& difference : gate.counter_differences) fmt::print("  {}\n", printable(difference));
  }
  std::size_t width = 9;
  for (const auto& c : gate.changes) width = std::max(width, c.name.size());
  width = std::min<std::size_t>(width, 72);
  if (gate.changes.empty()) {
    fmt::print("  no benchmark has counts in both snapshots\n");
  } else {
    fmt::print("{:<{}}  {:>14}  {:>14}  {:>8}  {}\n", "benchmark", width, "base", "new", "change", "verdict");
  }
  for (const auto& c : gate.changes) {
    fmt::print("{:<{}}  {:>14.0f}  {:>14.0f}  {:>+7.2f}%  {}\n", printable(c.name), width, c.base_per_iteration,
               c.new_per_iteration, 100.0 * c.change, tracking::to_string(c.verdict));
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
  for (const auto& c : gate.changes) {
    out["benchmarks"].push_back({{"name", c.name},
                                 {"base_instructions_per_iteration", c.base_per_iteration},
                                 {"new_instructions_per_iteration", c.new_per_iteration},
                                 {"change", c.change},
                                 {"verdict", tracking::to_string(c.verdict)}});
  }
  for (const auto& outcome : gate.rules) {
    json names = json::array();
    for (const auto& c : outcome.broken_by) names.push_back(c.name);
    out["rules"].push_back({{"rule", outcome.rule.text}, {"broken_by", names}, {"passed", outcome.broken_by.empty()}});
  }
  return out;
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
