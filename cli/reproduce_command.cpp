// reproduce: re-run a recorded run with its config, seed and threads, and check every epoch
// (the policy: tracking/recording/reproduce.h).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"
#include "console.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/recording/launch.h"
#include "trackbench/tracking/recording/reproduce.h"

namespace trackbench::cli {
namespace {

struct reproduce_flags {
  std::string snapshot;
  std::string data_dir;
  std::string out = "runs";
  int nproc = 1;
  std::vector<std::string> tags;
  bool strict = false;
  bool allow_data_mismatch = false;
};

std::string describe(const tracking::epoch_check& check) {
  const auto& match = check.match;
  const auto& digests = check.digests;
  const bool values = check.values;
  const std::string metrics = match.metrics_equal ? "bitwise equal"
                                                  : fmt::format("differ (largest: {} by {:.3g})", match.worst_metric,
                                                                match.metric_difference);
  const std::string compared = digests && values ? "digests and values" : digests ? "digests; values not kept" : "values";
  const std::string weights = !digests && !values ? "not compared (neither digests nor values recorded)"
                              : match.weights_equal ? "bitwise equal (" + compared + ")"
                              : values ? fmt::format("differ (largest |dw| {:.3g} in {})", match.weight_difference,
                                                     match.worst_weight)
                                       : "differ (" + compared + ")";
  return fmt::format("{:>5}  metrics {:<48}  weights {}", match.epoch, metrics, weights);
}

int reproduce(const reproduce_flags& flags, const global_options& globals) {
  if (flags.nproc > 1) return tracking::run_local_ranks(flags.nproc, tracking::without_nproc(globals.arguments));
  // Every weight and the state are checked against their digests here, before any training.
  const auto original = tracking::load_run_snapshot(flags.snapshot, "reproduce", tracking::read_depth::arrays);
  tracking::reproduce_options options;
  options.data_dir = flags.data_dir;
  options.strict = flags.strict;
  options.allow_data_mismatch = flags.allow_data_mismatch;
  options.recording.out_dir = flags.out;
  for (const auto& tag : flags.tags) tracking::add_tag(options.recording.tags, tag);
  options.recording.command_line = globals.command_line;
  console_observer console(globals.quiet);
  options.recording.observer = &console;
  options.recording.on_completed = print_run_summary;
  tracking::recorded_run outcome;
  const auto checked = tracking::reproduce_recorded(original, flags.snapshot, options, outcome);
  if (!checked) return outcome.exit_code;

  fmt::print("\nreproduction of {} ({})\n{:>5}  {}\n", checked->run_id,
             checked->bitwise_expected ? "bitwise expected: CPU or --deterministic run"
                                       : "CUDA run without --deterministic: tolerance applies",
             "epoch", "check");
  if (checked->repeated_epochs != checked->original_epochs) {
    fmt::print("the reproduction ran {} epochs, the original {}: {}\n", checked->repeated_epochs,
               checked->original_epochs, checked->repeated_target);
  }
  for (const auto& epoch : checked->epochs) fmt::print("{}\n", describe(epoch));
  switch (checked->verdict) {
    case tracking::reproduce_verdict::bitwise:
      fmt::print("reproduced: every epoch's metrics {} bitwise equal\n",
                 checked->weights_unchecked ? "are (weights not recorded, not compared)" : "and weights are");
      return 0;
    case tracking::reproduce_verdict::within_tolerance:
      fmt::print("reproduced within tolerance (test accuracy within {} points, test loss within {} at every epoch)\n",
                 tracking::reproduce_accuracy_tolerance_points, tracking::reproduce_loss_tolerance);
      return 0;
    case tracking::reproduce_verdict::not_reproduced:
      break;
  }
  spdlog::error("not reproduced: {}", checked->bitwise_expected ? "the run should be bitwise equal and is not"
                                                                : "the differences exceed the tolerance");
  return 1;
}

}  // namespace

command add_reproduce_command(CLI::App& app, const global_options& globals) {
  auto* sub = app.add_subcommand(
      "reproduce", "Re-run a recorded run with its config, seed and threads, and check every epoch's metrics and weights");
  auto flags = std::make_shared<reproduce_flags>();
  sub->add_option("snapshot", flags->snapshot, "Run snapshot (.h5) to reproduce")->required()->check(CLI::ExistingFile);
  sub->add_option("--data-dir", flags->data_dir, "Where the recorded data set is now (default: where it was)")
      ->check(CLI::ExistingDirectory);
  sub->add_option("--out", flags->out, "Folder the reproduction's snapshot goes to")->capture_default_str();
  sub->add_option("--tag", flags->tags, "Tag the reproduction: key=value (repeatable; default: none)");
  sub->add_flag("--strict", flags->strict,
                "Refuse to run when the code commit or environment differs from the record (default: warn)");
  sub->add_option("--nproc", flags->nproc,
                  "Ranks to start on this machine through mpirun: the recorded world_size (docs/distributed.md)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  sub->add_flag("--allow-data-mismatch", flags->allow_data_mismatch,
                "Run even when the data's content digest differs from the record (default: refuse)");
  return {sub, [flags, &globals] { return reproduce(*flags, globals); }};
}

}  // namespace trackbench::cli
