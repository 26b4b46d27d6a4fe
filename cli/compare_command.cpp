// compare: runs side by side, with pass/fail rules that gate CI.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>

#include "bench_output.h"
#include "commands.h"
#include "console.h"
#include "trackbench/tracking/bench.h"
#include "trackbench/tracking/compare.h"
#include "trackbench/tracking/guarded_read.h"
#include "trackbench/tracking/snapshot.h"

namespace trackbench::cli {
namespace {

using json = nlohmann::ordered_json;

struct compare_flags {
  std::vector<std::string> snapshots;
  std::vector<std::string> rules;
  bool as_json = false;
  bool allow_hardware_mismatch = false;
  double min_change_percent = tracking::default_min_change * 100;
  bool min_change_given = false;  // --min-change on the command line: refused for run snapshots
};

// The metrics shown side by side; rules may name any summary metric.
const std::vector<std::string> shown_metrics{"test_acc",   "test_loss",     "test_f1",           "val_acc",
                                             "val_loss",   "train_loss",    "epoch_seconds",     "images_per_second",
                                             "peak_rss_bytes", "peak_cuda_bytes", "warmup_seconds",
                                             "target_reached_epoch", "time_to_target_seconds"};
// Per-epoch columns shown for each run.
const std::vector<std::string> epoch_metrics{"test_accuracy", "test_loss", "epoch_seconds"};

std::string label(std::size_t index) { return std::string(1, static_cast<char>('A' + index)); }

std::string number(const std::optional<double>& value) { return value ? fmt::format("{:.6g}", *value) : "-"; }

std::string with_delta(const std::optional<double>& value, const std::optional<double>& baseline) {
  if (!value || !baseline) return number(value);
  return fmt::format("{:.6g} ({:+.3g})", *value, *value - *baseline);
}

std::optional<double> epoch_value(const tracking::run_record& run, std::size_t epoch, const std::string& metric) {
  if (epoch >= run.epochs.size()) return std::nullopt;
  return tracking::epoch_metric(run.epochs[epoch], metric);
}

json optional_json(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

std::string p_text(const std::optional<double>& p) { return p ? fmt::format("{:.3g}", *p) : "-"; }

int compare_bench(const compare_flags& flags, const tracking::bench_record& base, const tracking::bench_record& next) {
  std::vector<tracking::bench_rule> rules;
  for (const auto& text : flags.rules) {
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
  const bool failed = any_broken && !advisory;

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

int compare(const compare_flags& flags) {
  if (flags.snapshots.size() < 2) throw input_error("compare needs at least two snapshots");
  if (flags.snapshots.size() > 26) throw input_error("compare takes at most 26 snapshots");
  std::vector<tracking::loaded_snapshot> loaded;
  for (const auto& path : flags.snapshots) loaded.push_back(tracking::load_snapshot(path));
  const auto is_bench = [](const tracking::loaded_snapshot& s) { return s.bench.has_value(); };
  const auto first_bench = std::find_if(loaded.begin(), loaded.end(), is_bench);
  if (first_bench != loaded.end()) {
    const auto first_run = std::find_if_not(loaded.begin(), loaded.end(), is_bench);
    if (first_run != loaded.end()) {
      throw input_error("compare: " + first_bench->path + " is a bench snapshot but " + first_run->path +
                        " is not; compare run snapshots with run snapshots and bench snapshots with bench snapshots");
    }
    if (loaded.size() != 2) {
      throw input_error("compare takes exactly two bench snapshots, BASE and NEW; got " + std::to_string(loaded.size()));
    }
    return compare_bench(flags, *loaded[0].bench, *loaded[1].bench);
  }
  if (flags.min_change_given) {
    throw input_error("--min-change applies to bench snapshots only; run snapshots are gated by --fail-on rules such "
                      "as epoch_seconds:+10%");
  }
  std::vector<tracking::gate_rule> rules;
  for (const auto& text : flags.rules) {
    if (tracking::is_bench_rule(text)) {
      throw input_error("--fail-on '" + text +
                        "' is a bench snapshot rule; run snapshots take METRIC:+X or METRIC:-X[%], e.g. test_acc:-0.5");
    }
    rules.push_back(tracking::parse_rule(text));
  }
  std::vector<const tracking::run_record*> runs;
  for (const auto& snapshot : loaded) runs.push_back(&snapshot.run->record());

  const auto differences = tracking::differing_fields(runs);
  const auto outcomes = tracking::check_rules(runs, rules);
  const bool passed = std::all_of(outcomes.begin(), outcomes.end(), [](const auto& o) { return o.passed; });
  std::size_t epochs = 0;
  for (const auto* run : runs) epochs = std::max(epochs, run->epochs.size());

  if (flags.as_json) {
    json out{{"runs", json::array()}, {"differences", json::array()}, {"final", json::object()},
             {"epochs", json::array()}, {"rules", json::array()}, {"passed", passed}};
    for (std::size_t i = 0; i < runs.size(); ++i) {
      out["runs"].push_back({{"label", label(i)},
                             {"path", flags.snapshots[i]},
                             {"run_id", runs[i]->identity["run_id"]},
                             {"status", tracking::displayed_status(*runs[i])},
                             {"epochs", runs[i]->epochs.size()}});
    }
    for (const auto& difference : differences) out["differences"].push_back({{"field", difference.field}, {"values", difference.values}});
    for (const auto& metric : shown_metrics) {
      json values = json::array();
      for (const auto* run : runs) values.push_back(optional_json(tracking::summary_metric(*run, metric)));
      out["final"][metric] = values;
    }
    for (std::size_t e = 0; e < epochs; ++e) {
      json row{{"epoch", e + 1}};
      for (const auto& metric : epoch_metrics) {
        json values = json::array();
        for (const auto* run : runs) values.push_back(optional_json(epoch_value(*run, e, metric)));
        row[metric] = values;
      }
      out["epochs"].push_back(row);
    }
    for (const auto& o : outcomes) {
      out["rules"].push_back({{"rule", o.rule.text}, {"run_id", o.run_id}, {"baseline", o.baseline}, {"value", o.value},
                              {"passed", o.passed}, {"explanation", o.explanation}});
    }
    fmt::print("{}\n", out.dump(2, ' ', false, json::error_handler_t::replace));
  } else {
    fmt::print("runs (deltas are against A)\n");
    for (std::size_t i = 0; i < runs.size(); ++i) {
      fmt::print("  {}  {}  {}  {}  {}\n", label(i), printable(runs[i]->identity["run_id"].get<std::string>()),
                 tracking::displayed_status(*runs[i]),
                 tracking::count_of(static_cast<std::int64_t>(runs[i]->epochs.size()), "epoch"),
                 printable(flags.snapshots[i]));
    }
    fmt::print("differences in config, environment, code and data{}\n", differences.empty() ? ": none" : "");
    for (const auto& difference : differences) {
      std::string values;
      for (std::size_t i = 0; i < difference.values.size(); ++i) {
        values += fmt::format("{}{}: {}", i ? "  " : "", label(i), printable(difference.values[i]));
      }
      fmt::print("  {:<36} {}\n", difference.field, values);
    }
    fmt::print("final metrics (times: median per epoch; memory: peak; accuracies in %; warm-up and time to target: "
               "once per run)\n");
    for (const auto& metric : shown_metrics) {
      std::string row = fmt::format("  {:<22}", metric);
      const auto baseline = tracking::summary_metric(*runs.front(), metric);
      for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto value = tracking::summary_metric(*runs[i], metric);
        row += fmt::format(" {:>22}", i == 0 ? number(value) : with_delta(value, baseline));
      }
      fmt::print("{}\n", row);
    }
    fmt::print("per epoch: test accuracy (%), test loss, epoch seconds\n");
    for (std::size_t e = 0; e < epochs; ++e) {
      std::string row = fmt::format("  {:>5}", e + 1);
      for (const auto& metric : epoch_metrics) {
        const auto baseline = epoch_value(*runs.front(), e, metric);
        for (std::size_t i = 0; i < runs.size(); ++i) {
          const auto value = epoch_value(*runs[i], e, metric);
          row += fmt::format(" {:>20}", i == 0 ? number(value) : with_delta(value, baseline));
        }
        row += "  |";
      }
      fmt::print("{}\n", row);
    }
    if (!outcomes.empty()) fmt::print("rules\n");
    for (const auto& o : outcomes) {
      fmt::print("  {}  {:<24} run {}: {}\n", o.passed ? "pass" : "FAIL", o.rule.text, printable(o.run_id), o.explanation);
    }
  }
  for (const auto& o : outcomes) {
    if (!o.passed) spdlog::error("rule {} failed for run {}: {}", o.rule.text, printable(o.run_id), o.explanation);
  }
  return passed ? 0 : 1;
}

}  // namespace

command add_compare_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "compare",
      "Compare runs: differences in config, environment, code and data; metrics side by side; rules for CI. "
      "Or two bench snapshots: per benchmark medians, change, Mann-Whitney U p-value and verdict");
  auto flags = std::make_shared<compare_flags>();
  sub->add_option("snapshots", flags->snapshots,
                  "Two or more run snapshots, or two bench snapshots; the first is the baseline")->required();
  sub->add_option("--fail-on", flags->rules,
                  "Rule METRIC:+X or METRIC:-X[%]: fail (exit 1) when a run's metric rises (+) or drops (-) by more "
                  "than X (points for accuracies, or X% of the baseline) against the first run. For bench snapshots slower:N%: "
                  "fail when a benchmark's verdict is slower and its median rose by more than N%. Repeatable (default: none)");
  sub->add_flag("--allow-hardware-mismatch", flags->allow_hardware_mismatch,
                "Bench snapshots: let --fail-on fail even when the two were measured on different hardware (CPU "
                "model, cores, threads, GPUs); otherwise their timing verdicts are advisory (default: off)");
  sub->add_option("--min-change", flags->min_change_percent,
                  "Bench snapshots: the smallest change, in percent of the base median, called faster or slower "
                  "(also never one within twice the samples' own spread); consecutive runs of one build on a shared "
                  "machine drift by a few percent")
      ->default_val(flags->min_change_percent)
      ->check(CLI::Range(0.0, 100.0));
  sub->add_flag("--json", flags->as_json, "Print the comparison as JSON (default: off)");
  return {sub, [flags, sub] {
            flags->min_change_given = sub->count("--min-change") > 0;
            return compare(*flags);
          }};
}

}  // namespace trackbench::cli
