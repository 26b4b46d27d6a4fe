// reproduce: re-run a recorded run with its config, seed and threads, and check every epoch.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "commands.h"
#include "console.h"
#include "launcher.h"
#include "recorded_run.h"
#include "trackbench/tracking/compare.h"
#include "trackbench/tracking/environment.h"
#include "trackbench/tracking/guarded_read.h"
#include "trackbench/tracking/job.h"
#include "trackbench/tracking/recorder.h"
#include "trackbench/tracking/snapshot.h"
#include "trackbench/trainer/distributed.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::cli {
namespace {

// Where a run that is not bitwise deterministic (CUDA without --deterministic) must land.
constexpr double accuracy_tolerance_points = 1.0;
constexpr double loss_tolerance = 0.05;

struct reproduce_flags {
  std::string snapshot;
  std::string data_dir;
  std::string out = "runs";
  int nproc = 1;
  std::vector<std::string> tags;
  bool strict = false;
  bool allow_data_mismatch = false;
};

// Recorded facts that can change a result; a difference is warned about, or refused with --strict.
bool affects_results(const std::string& field) {
  static const std::set<std::string> fields{
      "code.build_commit",          "code.commit",          "code.tree",
      "code.diff_sha256",           "environment.cpu_model", "environment.compiler",
      "environment.cxx_flags",      "environment.build_type", "environment.libtorch_version",
      "environment.libtorch_cuda_version", "environment.cudnn_version", "environment.cuda_runtime_version",
      "environment.nvidia_driver_version"};
  return fields.count(field) > 0 || (field.rfind("environment.gpus[", 0) == 0 && field.find("].name") != std::string::npos);
}

void check_environment(const tracking::run_record& recorded, bool strict) {
  tracking::run_record now;
  now.environment = tracking::to_json(tracking::capture_environment());
  now.code = tracking::capture_code().fields;
  tracking::run_record then;
  then.environment = recorded.environment;
  then.code = recorded.code;
  std::vector<std::string> changes;
  for (const auto& difference : tracking::differing_fields({&then, &now})) {
    if (!affects_results(difference.field)) continue;
    changes.push_back(fmt::format("{}: recorded '{}', now '{}'", difference.field, printable(difference.values[0]),
                                  printable(difference.values[1])));
  }
  for (const auto& change : changes) spdlog::warn("{}", change);
  if (strict && !changes.empty()) {
    throw input_error("--strict: " + std::to_string(changes.size()) +
                      " recorded code or environment facts differ from this machine (listed above)");
  }
}

// `digests`: whether the parameter digests agree (nullopt: not recorded); `values`: whether both
// snapshots kept this epoch's weights, so they were compared value by value too.
std::string describe(const tracking::epoch_match& match, std::optional<bool> digests, bool values) {
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
  if (flags.nproc > 1) return run_local_ranks(flags.nproc, without_nproc(globals.arguments));
  // Every weight and the state are checked against their digests here, before any training.
  const auto original = tracking::load_run_snapshot(flags.snapshot, "reproduce", tracking::read_depth::arrays);
  const auto& record = original.record();
  if (record.epochs.empty()) throw input_error(flags.snapshot + ": the run completed no epoch; there is nothing to reproduce");
  auto config = tracking::config_from_record(record.config);
  tracking::require_world_size(record.config, trainer::detect_launch().world_size, "reproduce " + flags.snapshot);
  check_environment(record, flags.strict);
  trainer::dataset data;
  try {
    data = load_recorded_data(record, config, flags.data_dir, flags.allow_data_mismatch);
  } catch (const input_error& e) {
    throw input_error(std::string(e.what()) + ", or pass --allow-data-mismatch");
  }

  recording_options options;
  options.out_dir = flags.out;
  for (const auto& tag : flags.tags) add_tag(options.tags, tag);
  options.command_line = globals.command_line;
  options.quiet = globals.quiet;
  // The same policy, so the reproduction keeps the same epochs' weights to compare values with;
  // every epoch's digests are compared whatever it is.
  options.keep_weights = tracking::weights_policy_of(record);
  options.target = tracking::target_from_record(record.config);
  const int epochs = static_cast<int>(record.epochs.size());
  spdlog::info("reproducing run {}: {} with seed {} on {}", record.identity["run_id"].get<std::string>(),
               tracking::count_of(epochs, "epoch"), config.seed, tracking::count_of(config.threads, "thread"));
  const tracking::run_origin origin{"reproduce", record.identity["run_id"].get<std::string>(), 0};
  const auto outcome = run_recorded(config, data, origin, nullptr, options, epochs);
  if (outcome.status != "completed" || outcome.snapshot.empty()) return outcome.exit_code;  // or a rank but 0

  const tracking::snapshot_reader repeated(outcome.snapshot);
  const bool bitwise_expected = config.device == trainer::device_kind::cpu || config.deterministic;
  bool bitwise = true;
  bool within_tolerance = true;
  bool weights_unchecked = false;  // an epoch with neither digests nor values (an old --keep-weights none file)
  fmt::print("\nreproduction of {} ({})\n{:>5}  {}\n", record.identity["run_id"].get<std::string>(),
             bitwise_expected ? "bitwise expected: CPU or --deterministic run" : "CUDA run without --deterministic: tolerance applies",
             "epoch", "check");
  // A run with a target stops where it reaches it, which a reproduction out of tolerance may not.
  const int repeated_epochs = static_cast<int>(repeated.record().epochs.size());
  if (repeated_epochs != epochs) {
    fmt::print("the reproduction ran {} epochs, the original {}: {}\n", repeated_epochs, epochs,
               tracking::describe_target(repeated.record()));
    bitwise = false;
  }
  for (int epoch = 1; epoch <= std::min(epochs, repeated_epochs); ++epoch) {
    const bool values = original.has_weights(epoch) && repeated.has_weights(epoch);
    const auto digests = tracking::digests_match(original.parameter_digests(epoch), repeated.parameter_digests(epoch));
    auto match = tracking::match_epoch(record.epochs[static_cast<std::size_t>(epoch - 1)],
                                       repeated.record().epochs[static_cast<std::size_t>(epoch - 1)],
                                       values ? original.weights(epoch) : std::vector<tracking::array_record>{},
                                       values ? repeated.weights(epoch) : std::vector<tracking::array_record>{});
    if (digests && !*digests) match.weights_equal = false;
    weights_unchecked = weights_unchecked || (!digests && !values);
    fmt::print("{}\n", describe(match, digests, values));
    bitwise = bitwise && match.metrics_equal && match.weights_equal;
    within_tolerance = within_tolerance && match.test_accuracy_difference <= accuracy_tolerance_points &&
                       match.test_loss_difference <= loss_tolerance;
  }
  if (bitwise) {
    fmt::print("reproduced: every epoch's metrics {} bitwise equal\n",
               weights_unchecked ? "are (weights not recorded, not compared)" : "and weights are");
    return 0;
  }
  if (!bitwise_expected && within_tolerance) {
    fmt::print("reproduced within tolerance (test accuracy within {} points, test loss within {} at every epoch)\n",
               accuracy_tolerance_points, loss_tolerance);
    return 0;
  }
  spdlog::error("not reproduced: {}", bitwise_expected ? "the run should be bitwise equal and is not"
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
