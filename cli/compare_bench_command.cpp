// compare of two bench snapshots: per benchmark medians, the change with its interval, q-value
// and verdict, and the slower:N% rules; a hardware difference makes the verdicts advisory.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "change_output.h"
#include "ci_output.h"
#include "compare_command.h"
#include "console.h"
#include "exit_codes.h"
#include "instruction_output.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::cli {
namespace {

using json = nlohmann::ordered_json;

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
  auto options = tracking::separate_runs_options;
  if (flags.threshold_percent) options.threshold = *flags.threshold_percent / 100;
  const auto changes = tracking::compare_benches(base, next, options);
  // On other hardware a timing difference says nothing about the code, so the gate stays open.
  const bool advisory = !hardware.empty() && !flags.allow_hardware_mismatch;
  std::vector<std::vector<const tracking::bench_change*>> broken;
  for (const auto& rule : rules) broken.push_back(tracking::broken(rule, changes));
  const bool any_broken = std::any_of(broken.begin(), broken.end(), [](const auto& b) { return !b.empty(); });
  const bool any_uncertain = std::any_of(changes.begin(), changes.end(), [](const tracking::bench_change& c) {
    return c.verdict == tracking::bench_verdict::uncertain;
  });
  const bool failed = any_broken && !advisory;
  const auto breaks_a_rule = [&](const tracking::bench_change& c) {
    return !advisory && std::any_of(broken.begin(), broken.end(), [&](const auto& b) {
             return std::find(b.begin(), b.end(), &c) != b.end();
           });
  };
  int exit_code = exit_pass;
  // A count from another Valgrind, ISA limit or CPU is no more comparable than a time from other hardware.
  if (advisory || (instructions.advisory && !instructions.rules.empty())) {
    exit_code = exit_hardware_mismatch;
  } else if (failed || instructions.failed()) {
    exit_code = exit_failure;
  } else if (flags.fail_on_uncertain && any_uncertain) {
    exit_code = exit_inconclusive;
  }

  if (flags.as_json) {
    json out{{"kind", "bench"},
             {"base", {{"path", flags.snapshots[0]}, {"bench_id", base.identity["bench_id"]}}},
             {"new", {{"path", flags.snapshots[1]}, {"bench_id", next.identity["bench_id"]}}},
             {"hardware_differences", hardware},
             {"advisory", advisory},
             {"confidence", tracking::decision_confidence},
             {"benchmarks", json::array()},
             {"rules", json::array()},
             {"passed", exit_code == exit_pass},
             {"exit_code", exit_code}};
    for (const auto& c : changes) out["benchmarks"].push_back(change_json(c));
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
                                               : "; --fail-on does not fail the comparison, which exits 4 "
                                                 "(--allow-hardware-mismatch makes it gate anyway)");
      for (const auto& difference : hardware) fmt::print("  {}\n", printable(difference));
    }
    fmt::print("bench snapshots (changes are NEW against BASE: the Hodges-Lehmann shift with its 95% interval; times "
               "are medians per iteration)\n");
    fmt::print("  base  {}  {}\n", printable(base.identity["bench_id"].get<std::string>()), printable(flags.snapshots[0]));
    fmt::print("  new   {}  {}\n", printable(next.identity["bench_id"].get<std::string>()), printable(flags.snapshots[1]));
    print_change_table(changes);
    if (!rules.empty()) fmt::print("rules{}\n", advisory ? " (advisory: hardware differs)" : "");
    for (std::size_t r = 0; r < rules.size(); ++r) {
      if (broken[r].empty()) fmt::print("  pass  {}\n", rules[r].text);
      for (const auto* c : broken[r]) {
        fmt::print("  {}  {}  {}: {}\n", advisory ? "ADVISORY FAIL" : "FAIL", rules[r].text, printable(c->name),
                   printable(change_text(*c)));
      }
    }
  }
  if (!flags.as_json) print_instruction_gate(instructions);
  log_instruction_gate(instructions);
  if (!flags.markdown.empty()) {
    write_text(flags.markdown, "--markdown",
               change_markdown(changes, breaks_a_rule) +
                   instruction_markdown(instructions.changes, breaks_an_instruction_rule(instructions)));
  }
  if (!flags.junit.empty()) {
    auto cases = change_junit_cases("compare", changes, breaks_a_rule);
    const auto counted = instruction_junit_cases("compare.instructions", instructions.changes,
                                                 tracking::default_instruction_threshold,
                                                 breaks_an_instruction_rule(instructions));
    cases.insert(cases.end(), counted.begin(), counted.end());
    write_junit(flags.junit, "--junit", "trackbench compare", cases);
  }
  for (std::size_t r = 0; r < rules.size(); ++r) {
    for (const auto* c : broken[r]) {
      if (advisory) {
        spdlog::warn("rule {} would fail for {} ({:+.1f}%), but the hardware differs: advisory only", rules[r].text,
                     printable(c->name), 100.0 * c->change);
      } else {
        spdlog::error("rule {} failed for {}: {}", rules[r].text, printable(c->name), printable(change_text(*c)));
      }
    }
  }
  if (exit_code == exit_inconclusive) spdlog::error("--fail-on-uncertain: some verdicts are uncertain");
  return exit_code;
}

}  // namespace trackbench::cli
