// compare: runs side by side, with pass/fail rules that gate CI; two bench snapshots go to
// compare_bench_command.cpp.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>

#include "ci_output.h"
#include "commands.h"
#include "compare_command.h"
#include "console.h"
#include "exit_codes.h"
#include "trackbench/tracking/analysis/bench_gate.h"
#include "trackbench/tracking/analysis/compare.h"
#include "trackbench/tracking/analysis/instruction_gate.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::cli {
namespace {

using json = nlohmann::ordered_json;


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

int compare(const compare_flags& flags) {
  if (flags.snapshots.size() < 2) throw input_error("compare needs at least two snapshots");
  if (flags.snapshots.size() > 26) throw input_error("compare takes at most 26 snapshots");
  const auto loaded = tracking::read_every_snapshot_record({flags.snapshots.begin(), flags.snapshots.end()});
  const auto is_bench = [](const tracking::snapshot_record& s) { return s.bench.has_value(); };
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
    return compare_benches(flags, *loaded[0].bench, *loaded[1].bench);
  }
  if (flags.threshold_percent) {
    throw input_error("--threshold applies to bench snapshots only; run snapshots are gated by --fail-on rules such "
                      "as epoch_seconds:+10%");
  }
  if (flags.fail_on_uncertain) throw input_error("--fail-on-uncertain applies to bench snapshots only");
  std::vector<tracking::gate_rule> rules;
  for (const auto& text : flags.rules) {
    if (tracking::is_bench_rule(text) || tracking::is_instruction_rule(text)) {
      throw input_error("--fail-on '" + text +
                        "' is a bench snapshot rule; run snapshots take METRIC:+X or METRIC:-X[%], e.g. test_acc:-0.5");
    }
    rules.push_back(tracking::parse_rule(text));
  }
  std::vector<const tracking::run_record*> runs;
  for (const auto& snapshot : loaded) runs.push_back(&*snapshot.run);

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
  // A testcase (and a table row) per rule and run.
  std::vector<junit_case> cases;
  std::string table = "| rule | run | baseline | value | result |\n| --- | --- | ---: | ---: | --- |\n";
  for (const auto& o : outcomes) {
    cases.push_back({o.rule.text, o.run_id, o.passed ? std::nullopt : std::optional<std::string>(o.explanation),
                     o.explanation});
    table += fmt::format("| {} | {} | {:.6g} | {:.6g} | {} |\n", markdown_cell(o.rule.text), markdown_cell(o.run_id),
                         o.baseline, o.value, o.passed ? "pass" : "**FAIL**: " + markdown_cell(o.explanation));
  }
  if (!flags.junit.empty()) write_junit(flags.junit, "--junit", "trackbench compare", cases);
  if (!flags.markdown.empty()) write_text(flags.markdown, "--markdown", table);
  for (const auto& o : outcomes) {
    if (!o.passed) spdlog::error("rule {} failed for run {}: {}", o.rule.text, printable(o.run_id), o.explanation);
  }
  return passed ? exit_pass : exit_failure;
}

}  // namespace

command add_compare_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "compare",
      "Compare runs: differences in config, environment, code and data; metrics side by side; rules for CI. "
      "Or two bench snapshots: per benchmark medians, the change with its 95% interval, q-value and verdict. "
      "Exit codes: 0 pass, 1 a --fail-on rule broken, 2 bad input, 3 --fail-on-uncertain and a verdict uncertain, "
      "4 bench snapshots from different hardware (without --allow-hardware-mismatch)");
  auto flags = std::make_shared<compare_flags>();
  sub->add_option("snapshots", flags->snapshots,
                  "Two or more run snapshots, or two bench snapshots; the first is the baseline")->required();
  sub->add_option("--fail-on", flags->rules,
                  "Rule METRIC:+X or METRIC:-X[%]: fail (exit 1) when a run's metric rises (+) or drops (-) by more "
                  "than X (points for accuracies, or X% of the baseline) against the first run. For bench snapshots slower:N%: "
                  "fail when a benchmark's verdict is slower and its median rose by more than N%; instructions:N%: fail when its "
                  "instructions per iteration (bench --measure instructions, in both) rose by more than N% and 0.5%. "
                  "Repeatable (default: none)");
  sub->add_flag("--allow-hardware-mismatch", flags->allow_hardware_mismatch,
                "Bench snapshots: let --fail-on fail even when the two were measured on different hardware (CPU "
                "model, cores, threads, GPUs); otherwise their timing verdicts are advisory (default: off)");
  sub->add_option_function<double>(
         "--threshold", [flags](const double& percent) { flags->threshold_percent = percent; },
                  "Bench snapshots: the change, in percent, that the 95% interval of the shift must lie wholly beyond "
                  "for faster or slower and wholly within for same (default: the samples' relative spread, at least "
                  "5%: consecutive runs of one build on a shared machine drift by a few percent)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_flag("--fail-on-uncertain", flags->fail_on_uncertain,
                "Bench snapshots: exit 3 when some verdict is uncertain and nothing else failed (default: off)");
  sub->add_option("--junit", flags->junit,
                  "Also write JUnit XML to this file: a testcase per benchmark (per rule and run for run snapshots), "
                  "failed when it breaks a --fail-on rule");
  sub->add_option("--markdown", flags->markdown, "Also write a Markdown table to this file, e.g. $GITHUB_STEP_SUMMARY");
  sub->add_flag("--json", flags->as_json, "Print the comparison as JSON (default: off)");
  return {sub, [flags] { return compare(*flags); }};
}

}  // namespace trackbench::cli
