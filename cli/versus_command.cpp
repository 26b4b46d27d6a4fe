// versus: another program's timings (Google Benchmark JSON, such as bench/pytorch/compare.py
// writes for trackbench and PyTorch) recorded in a bench snapshot, and each --base side judged
// against the --new side with the decision rule of compare.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "bench_output.h"
#include "commands.h"
#include "console.h"
#include "trackbench/tracking/recording/versus.h"

namespace trackbench::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct versus_flags {
  std::string samples;
  std::string new_side;
  std::vector<std::string> base_sides;
  std::string suite = "imported";
  std::string dataset = "mnist-sample";
  std::string data_dir;
  std::string out = "bench-runs";
  std::optional<double> threshold_percent;  // --threshold; empty: from the samples' noise
  bool as_json = false;
};

json optional_json(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

// "1.02 ms (981/s)": the median time per iteration and, when reported, the median rate.
std::string side_cell(double seconds, const std::optional<double>& items_per_second) {
  return format_seconds(seconds) + (items_per_second ? fmt::format(" ({:.0f}/s)", *items_per_second) : "");
}

std::string interval_cell(const tracking::side_comparison& c) {
  if (!c.speedup) return "- (too few samples)";
  return fmt::format("{:.3f}x [{:.3f}, {:.3f}]", c.change.base_median / c.change.new_median, c.speedup->low,
                     c.speedup->high);
}

int versus(const versus_flags& flags, const global_options& globals) {
  tracking::decision_options decision;
  if (flags.threshold_percent) decision.threshold = *flags.threshold_percent / 100;
  tracking::versus_options options{flags.samples, flags.new_side, flags.base_sides, flags.suite,
                                   flags.dataset,  flags.data_dir, flags.out,        decision,
                                   globals.command_line};
  const auto outcome = tracking::record_versus(options);
  const auto& record = outcome.record;
  const auto& judged = outcome.judged;
  const std::string bench_id = record.identity["bench_id"].get<std::string>();
  const auto& path = outcome.snapshot;
  const auto label_of = [&](const std::string& name) {
    const auto found = std::find_if(record.benchmarks.begin(), record.benchmarks.end(),
                                    [&](const auto& result) { return result.name == name; });
    return found == record.benchmarks.end() ? std::string() : found->label;
  };
  if (flags.as_json) {
    json out{{"snapshot", path.string()},
             {"bench_id", bench_id},
             {"new", flags.new_side},
             {"confidence", tracking::side_confidence},
             {"threshold", optional_json(decision.threshold)},
             {"comparisons", json::array()}};
    for (const auto& [base, comparisons] : judged) {
      for (const auto& c : comparisons) {
        out["comparisons"].push_back(
            {{"base", base},
             {"benchmark", c.prefix},
             {"base_name", c.base_name},
             {"new_name", c.new_name},
             {"base_label", label_of(c.base_name)},
             {"new_label", label_of(c.new_name)},
             {"verdict", tracking::to_string(c.change.verdict)},
             {"reason", c.change.reason},
             {"base_median_seconds", c.change.base_median},
             {"new_median_seconds", c.change.new_median},
             {"base_items_per_second", optional_json(c.base_items_per_second)},
             {"new_items_per_second", optional_json(c.new_items_per_second)},
             {"speedup", c.change.base_median / c.change.new_median},
             {"speedup_estimate", c.speedup ? json(c.speedup->estimate) : json(nullptr)},
             {"speedup_low", c.speedup ? json(c.speedup->low) : json(nullptr)},
             {"speedup_high", c.speedup ? json(c.speedup->high) : json(nullptr)},
             {"interval_exact", c.speedup ? json(c.speedup->exact) : json(nullptr)},
             {"p_value", optional_json(c.change.p_value)},
             {"q_value", optional_json(c.change.q_value)},
             {"threshold", c.change.threshold},
             {"shift", c.change.shift ? json(c.change.shift->estimate - 1.0) : json(nullptr)},
             {"shift_low", c.change.shift ? json(c.change.shift->low - 1.0) : json(nullptr)},
             {"shift_high", c.change.shift ? json(c.change.shift->high - 1.0) : json(nullptr)},
             {"exact", c.change.exact},
             {"change", c.change.change},
             {"base_spread", c.change.base_spread},
             {"new_spread", c.change.new_spread},
             {"base_repetitions", c.change.base_repetitions},
             {"new_repetitions", c.change.new_repetitions}});
      }
    }
    fmt::print("{}\n", out.dump(2, ' ', false, json::error_handler_t::replace));
    return 0;
  }
  fmt::print("bench snapshot {}  {}\n", printable(bench_id), printable(path.string()));
  for (const auto& [base, comparisons] : judged) {
    fmt::print("\n{} against {}: medians per iteration (rate); speed-up = {}'s time / {}'s, with its {:.0f}% "
               "interval; q-value and verdict on {} by the decision rule of compare\n",
               printable(flags.new_side), printable(base), printable(base), printable(flags.new_side),
               100 * tracking::side_confidence, printable(flags.new_side));
    std::size_t width = 9;
    for (const auto& c : comparisons) width = std::max(width, c.prefix.size());
    width = std::min<std::size_t>(width, 48);
    fmt::print("{:<{}}  {:>20}  {:>20}  {:>4}  {:>26}  {:>9}  {}\n", "benchmark", width, printable(base).substr(0, 20),
               printable(flags.new_side).substr(0, 20), "reps", "speed-up [interval]", "q", "verdict");
    for (const auto& c : comparisons) {
      fmt::print("{:<{}}  {:>20}  {:>20}  {:>4}  {:>26}  {:>9}  {}{}\n", printable(c.prefix), width,
                 side_cell(c.change.base_median, c.base_items_per_second),
                 side_cell(c.change.new_median, c.new_items_per_second),
                 std::min(c.change.base_repetitions, c.change.new_repetitions), interval_cell(c),
                 c.change.q_value ? fmt::format("{:.3g}", *c.change.q_value) : "-", tracking::to_string(c.change.verdict),
                 c.change.reason.empty() ? "" : " (" + printable(c.change.reason) + ")");
    }
    const auto& first = comparisons.front();
    for (const auto& name : {first.base_name, first.new_name}) {
      const auto label = label_of(name);
      if (!label.empty()) fmt::print("  {}: {}\n", printable(name), printable(label));
    }
  }
  return 0;
}

}  // namespace

command add_versus_command(CLI::App& app, const global_options& globals) {
  auto* sub = app.add_subcommand(
      "versus",
      "Record timings of two or more programs on the same work (Google Benchmark JSON, benchmarks named "
      "PREFIX/SIDE) in a bench snapshot, and judge each --base side against the --new side as compare judges two "
      "bench snapshots (the runs alternate, so the default threshold is at least 1%), with the speed-up's confidence "
      "interval");
  auto flags = std::make_shared<versus_flags>();
  sub->add_option("samples", flags->samples, "Google Benchmark JSON: one entry per repetition, named PREFIX/SIDE")
      ->required();
  sub->add_option("--new", flags->new_side, "The side judged (PREFIX/NEW), e.g. trackbench")->required();
  sub->add_option("--base", flags->base_sides, "A side it is judged against (PREFIX/BASE), e.g. pytorch_eager; repeatable")
      ->required();
  sub->add_option("--suite", flags->suite, "The suite name the snapshot records for these benchmarks")
      ->capture_default_str();
  sub->add_option("--dataset", flags->dataset, "The data set the timed work read, recorded in the snapshot's /data")
      ->capture_default_str();
  sub->add_option("--data-dir", flags->data_dir, "Its IDX files (default: where --dataset is found by train)");
  sub->add_option("--out", flags->out, "Folder of bench snapshots")->capture_default_str();
  sub->add_option_function<double>(
         "--threshold", [flags](const double& percent) { flags->threshold_percent = percent; },
         "The change, in percent, that the 95% interval of the shift must lie wholly beyond for faster or slower and "
         "wholly within for same (default: the samples' relative spread, at least 1%)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_flag("--json", flags->as_json, "Print the verdicts as JSON (default: off)");
  return {sub, [flags, &globals] { return versus(*flags, globals); }};
}

}  // namespace trackbench::cli
