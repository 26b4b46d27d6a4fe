#include "trackbench/tracking/recording/reproduce.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "trackbench/tracking/environment/environment.h"
#include "trackbench/tracking/recording/job.h"
#include "trackbench/tracking/recording/recorder.h"
#include "trackbench/trainer/distributed.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {

bool affects_results(const std::string& field) {
  static const std::set<std::string> fields{
      "code.build_commit",          "code.commit",          "code.tree",
      "code.diff_sha256",           "environment.cpu_model", "environment.compiler",
      "environment.cxx_flags",      "environment.build_type", "environment.libtorch_version",
      "environment.libtorch_cuda_version", "environment.cudnn_version", "environment.cuda_runtime_version",
      "environment.nvidia_driver_version"};
  return fields.count(field) > 0 || (field.rfind("environment.gpus[", 0) == 0 && field.find("].name") != std::string::npos);
}

std::vector<std::string> result_affecting_changes(const run_record& then, const run_record& now) {
  run_record recorded;
  recorded.environment = then.environment;
  recorded.code = then.code;
  run_record current;
  current.environment = now.environment;
  current.code = now.code;
  std::vector<std::string> changes;
  for (const auto& difference : differing_fields({&recorded, &current})) {
    if (!affects_results(difference.field)) continue;
    changes.push_back(difference.field + ": recorded '" + printable(difference.values[0]) + "', now '" +
                      printable(difference.values[1]) + "'");
  }
  return changes;
}

reproduction check_reproduction(const snapshot_reader& original, const snapshot_reader& repeated) {
  const auto& record = original.record();
  const auto config = config_from_record(record.config);
  reproduction result;
  result.run_id = record.identity["run_id"].get<std::string>();
  result.bitwise_expected = config.device == trainer::device_kind::cpu || config.deterministic;
  result.original_epochs = static_cast<int>(record.epochs.size());
  result.repeated_epochs = static_cast<int>(repeated.record().epochs.size());
  // A run with a target stops where it reaches it, which a reproduction out of tolerance may not.
  bool bitwise = result.repeated_epochs == result.original_epochs;
  if (!bitwise) result.repeated_target = describe_target(repeated.record());
  bool within_tolerance = true;
  for (int epoch = 1; epoch <= std::min(result.original_epochs, result.repeated_epochs); ++epoch) {
    epoch_check check;
    check.values = original.has_weights(epoch) && repeated.has_weights(epoch);
    check.digests = digests_match(original.parameter_digests(epoch), repeated.parameter_digests(epoch));
    check.match = match_epoch(record.epochs[static_cast<std::size_t>(epoch - 1)],
                              repeated.record().epochs[static_cast<std::size_t>(epoch - 1)],
                              check.values ? original.weights(epoch) : std::vector<array_record>{},
                              check.values ? repeated.weights(epoch) : std::vector<array_record>{});
    if (check.digests && !*check.digests) check.match.weights_equal = false;
    result.weights_unchecked = result.weights_unchecked || (!check.digests && !check.values);
    bitwise = bitwise && check.match.metrics_equal && check.match.weights_equal;
    within_tolerance = within_tolerance && check.match.test_accuracy_difference <= reproduce_accuracy_tolerance_points &&
                       check.match.test_loss_difference <= reproduce_loss_tolerance;
    result.epochs.push_back(std::move(check));
  }
  result.verdict = bitwise                                            ? reproduce_verdict::bitwise
                   : !result.bitwise_expected && within_tolerance ? reproduce_verdict::within_tolerance
                                                                      : reproduce_verdict::not_reproduced;
  return result;
}

std::optional<reproduction> reproduce_recorded(const snapshot_reader& original, const std::string& name,
                                               const reproduce_options& options, recorded_run& outcome) {
  const auto& record = original.record();
  if (record.epochs.empty()) throw input_error(name + ": the run completed no epoch; there is nothing to reproduce");
  auto config = config_from_record(record.config);
  require_world_size(record.config, trainer::detect_launch().world_size, "reproduce " + name);

  run_record now;
  now.environment = to_json(capture_environment());
  now.code = capture_code().fields;
  const auto changes = result_affecting_changes(record, now);
  for (const auto& change : changes) spdlog::warn("{}", change);
  if (options.strict && !changes.empty()) {
    throw input_error("--strict: " + std::to_string(changes.size()) +
                      " recorded code or environment facts differ from this machine (listed above)");
  }
  trainer::dataset data;
  try {
    data = load_recorded_data(record, config, options.data_dir, options.allow_data_mismatch);
  } catch (const input_error& e) {
    throw input_error(std::string(e.what()) + ", or pass --allow-data-mismatch");
  }

  auto recording = options.recording;
  // The same policy, so the reproduction keeps the same epochs' weights to compare values with;
  // every epoch's digests are compared whatever it is.
  recording.keep_weights = weights_policy_of(record);
  recording.target = target_from_record(record.config);
  const int epochs = static_cast<int>(record.epochs.size());
  spdlog::info("reproducing run {}: {} with seed {} on {}", record.identity["run_id"].get<std::string>(),
               count_of(epochs, "epoch"), config.seed, count_of(config.threads, "thread"));
  const run_origin origin{"reproduce", record.identity["run_id"].get<std::string>(), 0};
  outcome = run_recorded(config, data, origin, nullptr, recording, epochs);
  if (outcome.status != "completed" || outcome.snapshot.empty()) return std::nullopt;  // or a rank but 0
  const snapshot_reader repeated(outcome.snapshot);
  return check_reproduction(original, repeated);
}

}  // namespace trackbench::tracking
