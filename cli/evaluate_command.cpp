// evaluate: a recorded model on other data, beside the run's own test result, with the drift
// checks and the --fail-on gate (the policy: tracking/recording/evaluation.h, evaluation_gate.h).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"
#include "console.h"
#include "exit_codes.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/recording/evaluation.h"
#include "trackbench/tracking/recording/evaluation_gate.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::cli {
namespace {

struct evaluate_flags {
  std::string snapshot;
  std::string data_dir;
  std::string dataset;
  std::string epoch = "last";
  std::string device;
  std::int64_t batch_size = 0;
  std::vector<std::string> fail_on;
};

void print_outcome(const tracking::evaluation_outcome& outcome, const trainer::dataset& data) {
  const auto& result = outcome.result;
  fmt::print("evaluation of run {} epoch {} on {} ({}), {} test images, on {}: {:.0f} images/s\n", outcome.run_id,
             outcome.epoch, printable(data.name), printable(data.source), data.test.size(), outcome.device,
             result.images_per_second);
  fmt::print("{:<10} {:>10} {:>11} {:>9}\n", "metric", "run", "evaluation", "change");
  for (const auto& line : tracking::compare_with_run(outcome)) {
    if (line.fraction) {
      fmt::print("{:<10} {:>10} {:>11} {:>+9.2f}\n", line.metric, percent(line.run), percent(line.evaluation),
                 100.0 * (line.evaluation - line.run));
    } else {
      fmt::print("{:<10} {:>10.4f} {:>11.4f} {:>+9.4f}\n", line.metric, line.run, line.evaluation, line.evaluation - line.run);
    }
  }
  fmt::print("confusion (rows: actual digit, columns: predicted)\n");
  for (std::size_t actual = 0; actual < result.metrics.confusion.size(); ++actual) {
    std::string row;
    for (const auto count : result.metrics.confusion[actual]) row += fmt::format(" {:>6}", count);
    fmt::print("  {}{}\n", actual, row);
  }
  if (!outcome.drift) {
    fmt::print("drift: not checked; the run records no data profile (schema version 5 added them)\n");
    return;
  }
  fmt::print("drift against the run's training split\n{:<11} {:<10} {:>9} {:>10} {:>10}  {}\n", "check", "effect", "value",
             "threshold", "p", "verdict");
  for (const auto& check : outcome.drift->checks) {
    fmt::print("{:<11} {:<10} {:>9.4f} {:>10.4f} {:>10}  {}\n", check.name, check.effect_name, check.effect,
               check.effect_threshold, check.p_value ? fmt::format("{:.3g}", *check.p_value) : "-",
               tracking::to_string(check.verdict));
  }
}

int evaluate(const evaluate_flags& flags) {
  if (flags.data_dir.empty() == flags.dataset.empty()) {
    throw input_error("evaluate: give the data to evaluate on with exactly one of --data-dir DIR and --dataset NAME");
  }
  std::vector<tracking::evaluation_rule> rules;
  for (const auto& text : flags.fail_on) rules.push_back(tracking::parse_evaluation_rule(text));
  tracking::evaluation_request request;
  request.epoch = flags.epoch;
  if (!flags.device.empty()) request.device = trainer::parse_device(flags.device);
  request.batch_size = flags.batch_size;
  // Every weight is checked against its digest in the guarded reader before any is used.
  const auto run = tracking::load_run_snapshot(flags.snapshot, "evaluate", tracking::read_depth::arrays);
  const auto data = flags.data_dir.empty() ? trainer::load_dataset(flags.dataset, std::nullopt)
                                           : trainer::load_dataset("custom", flags.data_dir);
  const auto outcome = tracking::evaluate_recorded(run, flags.snapshot, data, request);
  print_outcome(outcome, data);
  int code = exit_pass;
  for (const auto& rule : rules) {
    if (const auto broken = tracking::rule_broken(rule, outcome)) {
      fmt::print("FAIL {}\n", *broken);
      code = exit_failure;
    }
  }
  return code;
}

}  // namespace

command add_evaluate_command(CLI::App& app) {
  auto* sub = app.add_subcommand("evaluate", "Evaluate a run's recorded model on a data set's test split, beside the "
                                             "run's own test result, and check the data for drift");
  auto flags = std::make_shared<evaluate_flags>();
  sub->add_option("snapshot", flags->snapshot, "Run snapshot (.h5) whose weights to evaluate")->required();
  sub->add_option("--data-dir", flags->data_dir, "Directory holding the four IDX files (raw or .gz); its test files are "
                                                 "evaluated on");
  sub->add_option("--dataset", flags->dataset, "Data set by name: mnist-sample, mnist, fashion-mnist");
  sub->add_option("--epoch", flags->epoch, "Whose weights: an epoch number, best (highest validation accuracy) or last")
      ->capture_default_str();
  sub->add_option("--device", flags->device, "cpu or cuda (default: the run's --device)");
  sub->add_option("--batch-size", flags->batch_size, "Images per evaluation batch (default: the run's eval batch size)");
  sub->add_option("--fail-on", flags->fail_on,
                  "accuracy:-P (exit 1 when the accuracy is more than P points below the run's test accuracy) or drift "
                  "(exit 1 when any drift check says drift); repeatable");
  return {sub, [flags] { return evaluate(*flags); }};
}

}  // namespace trackbench::cli
