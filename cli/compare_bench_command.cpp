// compare of two bench snapshots: per benchmark medians, change, p-value and verdict, and the
// slower:N% rules, advisory when the hardware differs.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "bench_output.h"
#include "compare_command.h"
#include "console.h"
#include "instruction_output.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::cli {
namespace {

using json = nlohmann::ordered_json;

std::string p_text(const std::optional<double>& p) { return p ? fmt::format("{:.3g}", *p) : "-"; }

}  // namespace

int compare_benches(const compare_flags& flags, const tracking::bench_record& base, const tracking::bench_record& next) {
  // The instruction gate (instruction_output.h) takes the instructions:N% rules; the rest are timing rules.
  const auto instructions = tracking::judge_instructions(base, next, flags.rules, flags.allow_hardware_mismatch);
  std::vector<tracking::bench_rule> rules;
  for (const auto& text : flags.rules) {
    if (tracking::is_instruction_rule(text)) continue;
    if (!tracking::is_bench_rule(text)) {
      throw input_error("--fail-on '" + text + "' is a run snapshot rule; bench snapshots take slower:N%, e.g. slower:5%");
    }
    rules.push_back(tracking::parse_bench_rule(text));
  }
  const auto hardware = tracking::hardware_differences(base, next);
  const auto changes = tracking::compare_benches(base, next, flags.min_change_percent / 100);
  // On other hardware a timing difference says nothing about the code, so the gate stays open.
  const bool advisory = !hardware.empty() && !flags.allow_hardware_mismatch;
  std::vector<std::vector<const tracking::bench_change*>> broken;
  for (const auto& rule : rules) broken.push_back(tracking::broken(rule, changes));
  const bool any_broken = std::any_of(broken.begin(), broken.end(), [](const auto& b) { return !b.empty(); });
  const bool failed = (any_broken && !advisory) || instructions.failed();

  if (flags.as_json) {
    json out{{"kind", "bench"},
             {"base", {{"path", flags.snapshots[0]}, {"bench_id", base.identity["bench_id"]}}},
             {"new", {{"path", flags.snapshots[1]}, {"bench_id", next.identity["bench_id"]}}},
             {"hardware_differences", hardware},
             {"advisory", advisory},
             {"benchmarks", json::array()},
             {"rules", json::array()},
             {"passed", !failed}};
    for (const auto& c : changes) {
      out["benchmarks"].push_back({{"name", c.name},
                                   {"verdict", tracking::to_string(c.verdict)},
                                   {"reason", c.reason},
                                   {"base_median_seconds", c.base_median},
                                   {"new_median_seconds", c.new_median},
                                   {"change", c.change},
                                   {"p_value", c.p_value ? json(*c.p_value) : json(nullptr)},
                                   {"exact", c.exact},
                                   {"base_spread", c.base_spread},
                                   {"new_spread", c.new_spread},
                                   {"base_repetitions", c.base_repetitions},
                                   {"new_repetitions", c.new_repetitions}});
    }
    for (std::size_t r = 0; r < rules.size(); ++r) {
      json names = json::array();
      for (const auto* c : broken[r]) names.push_back(c->name);
      out["rules"].push_back({{"rule", rules[r].text}, {"broken_by", names}, {"passed", broken[r].empty()}});
    }
    out["instructions"] = to_json(instructions);
    fmt::print("{}\n", out.dump(2, ' ', false, json::error_handler_t::replace));
  } else {
    if (!hardware.empty()) {
      fmt::print("HARDWARE DIFFERS between the snapshots: timing verdicts are advisory{}\n",
                 flags.allow_hardware_mismatch ? " (--allow-hardware-mismatch: --fail-on still gates)"
                                               : "; --fail-on does not fail the comparison "
                                                 "(--allow-hardware-mismatch makes it gate anyway)");
      for (const auto& difference : hardware) fmt::print("  {}\n", printable(difference));
    }
    fmt::print("bench snapshots (changes are NEW against BASE; times are medians per iteration)\n");
    fmt::print("  base  {}  {}\n", printable(base.identity["bench_id"].get<std::string>()), printable(flags.snapshots[0]));
    fmt::print("  new   {}  {}\n", printable(next.identity["bench_id"].get<std::string>()), printable(flags.snapshots[1]));
    std::size_t width = 9;
    for (const auto& c : changes) width = std::max(width, c.name.size());
    width = std::min<std::size_t>(width, 72);
    fmt::print("{:<{}}  {:>10}  {:>10}  {:>8}  {:>9}  {}\n", "benchmark", width, "base", "new", "change", "p", "verdict");
    std::map<std::string, int> counts;
    for (const auto& c : changes) {
      ++counts[tracking::to_string(c.verdict)];
      const bool measured = c.verdict != tracking::bench_verdict::added && c.verdict != tracking::bench_verdict::removed &&
                            c.verdict != tracking::bench_verdict::skipped;
      fmt::print("{:<{}}  {:>10}  {:>10}  {:>8}  {:>9}  {}{}\n", printable(c.name), width,
                 c.base_repetitions > 0 ? format_seconds(c.base_median) : "-",
                 c.new_repetitions > 0 ? format_seconds(c.new_median) : "-",
                 measured ? fmt::format("{:+.1f}%", 100.0 * c.change) : "-", p_text(c.p_value),
                 tracking::to_string(c.verdict), c.reason.empty() ? "" : " (" + printable(c.reason) + ")");
    }
    std::string summary;
    for (const auto& [verdict, count] : counts) summary += (summary.empty() ? "" : ", ") + fmt::format("{} {}", count, verdict);
    fmt::print("verdicts: {}\n", summary.empty() ? "no benchmarks" : summary);
    if (!rules.empty()) fmt::print("rules{}\n", advisory ? " (advisory: hardware differs)" : "");
    for (std::size_t r = 0; r < rules.size(); ++r) {
      if (broken[r].empty()) fmt::print("  pass  {}\n", rules[r].text);
      for (const auto* c : broken[r]) {
        fmt::print("  {}  {}  {}: {:+.1f}% (p = {})\n", advisory ? "ADVISORY FAIL" : "FAIL", rules[r].text,
                   printable(c->name), 100.0 * c->change, p_text(c->p_value));
      }
    }
  }
  if (!flags.as_json) print_instruction_gate(instructions);
  log_instruction_gate(instructions);
  for (std::size_t r = 0; r < rules.size(); ++r) {
    for (const auto* c : broken[r]) {
      if (advisory) {
        spdlog::warn("rule {} would fail for {} ({:+.1f}%), but the hardware differs: advisory only", rules[r].text,
                     printable(c->name), 100.0 * c->change);
      } else {
        spdlog::error("rule {} failed for {}: {:+.1f}% slower (p = {})", rules[r].text, printable(c->name),
                      100.0 * c->change, p_text(c->p_value));
      }
    }
  }
  return failed ? 1 : 0;
}

}  // namespace trackbench::cli
