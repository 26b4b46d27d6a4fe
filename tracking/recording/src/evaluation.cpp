#include "trackbench/tracking/recording/evaluation.h"

#include <algorithm>
#include <cctype>

#include "trackbench/tracking/format/weights_policy.h"
#include "trackbench/tracking/recording/recorder.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/model.h"

namespace trackbench::tracking {
namespace {

// The classes a model predicted: the column sums of its confusion matrix.
statistics::histogram predicted_classes(const trainer::confusion_matrix& confusion) {
  statistics::histogram counts(confusion.size(), 0);
  for (const auto& row : confusion) {
    for (std::size_t predicted = 0; predicted < row.size(); ++predicted) counts[predicted] += static_cast<std::uint64_t>(row[predicted]);
  }
  return counts;
}

}  // namespace

int select_epoch(const run_record& run, const std::string& epoch, const std::string& name) {
  const auto count = static_cast<int>(run.epochs.size());
  if (count == 0) throw input_error("evaluate " + name + ": the run completed no epoch, so it has no model to evaluate");
  if (epoch == "last") return count;
  if (epoch == "best") {
    if (!run.epochs.front().validation) {
      throw input_error("--epoch best: " + name + " held out no validation images, so no epoch is best; give a number or last");
    }
    int best = 1;
    for (const auto& row : run.epochs) {
      if (row.validation->accuracy > run.epochs[static_cast<std::size_t>(best - 1)].validation->accuracy) best = row.epoch;
    }
    return best;
  }
  const bool digits = !epoch.empty() && epoch.size() <= 6 &&
                      std::all_of(epoch.begin(), epoch.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
  const int number = digits ? std::stoi(epoch) : 0;
  if (number < 1 || number > count) {
    throw input_error("--epoch " + epoch + ": expected best, last or an epoch from 1 to " + std::to_string(count) + " of " + name);
  }
  return number;
}

evaluation_outcome evaluate_recorded(const snapshot_reader& run, const std::string& name, const trainer::dataset& data,
                                     const evaluation_request& request) {
  const auto& record = run.record();
  if (!keeps_weights(record)) {
    throw input_error("evaluate " + name + ": the run was recorded with --keep-weights none, so its snapshot keeps no "
                      "weights to evaluate; train it again with another --keep-weights (last by default)");
  }
  evaluation_outcome outcome;
  outcome.run_id = record.identity.at("run_id").get<std::string>();
  outcome.epoch = select_epoch(record, request.epoch, name);
  if (!run.has_weights(outcome.epoch)) {
    std::string kept;
    for (const int epoch : run.weight_epochs()) kept += (kept.empty() ? "" : ", ") + std::to_string(epoch);
    throw input_error("evaluate " + name + ": the weights of epoch " + std::to_string(outcome.epoch) +
                      " were not kept (--keep-weights " + to_string(weights_policy_of(record)) + "); kept: " + kept);
  }
  const auto weights = run.weights(outcome.epoch);  // each checked against its digest
  outcome.digests = run.parameter_digests(outcome.epoch);
  outcome.run_test = record.epochs[static_cast<std::size_t>(outcome.epoch - 1)].test;

  const auto config = config_from_record(record.config);
  const torch::Device device = trainer::resolve_device(request.device.value_or(config.device));
  if (config.conv == trainer::conv_backend::custom && !device.is_cuda()) {
    throw input_error("evaluate " + name + ": the run's model uses --conv " +
                      trainer::conv_name(config.conv, config.conv_version) + ", the CUDA kernels: evaluate it with --device cuda");
  }
  if (config.conv == trainer::conv_backend::reference && !device.is_cpu()) {
    throw input_error("evaluate " + name + ": the run's model uses --conv reference, which runs on the CPU: use --device cpu");
  }
  // The threads and precision the run evaluated with, so that its own test set gives its own numbers.
  torch::set_num_threads(static_cast<int>(record.config.at("threads_used").get<std::int64_t>()));
  if (device.is_cuda()) {
    const bool tf32 = config.precision == kernels::precision::tf32;
    at::globalContext().setAllowTF32CuDNN(tf32);
    at::globalContext().setAllowTF32CuBLAS(tf32);
  }
  trainer::digit_cnn model(config.conv, config.precision, config.conv_version);
  trainer::load_parameters(model, to_named_tensors(weights));
  model->to(device);
  outcome.device = device.str();
  outcome.batch_size = request.batch_size > 0 ? request.batch_size : config.eval_batch_size;
  outcome.result = trainer::evaluate(model, data.test, outcome.batch_size, device);
  outcome.profile = trainer::profile_of(data.test, "test");
  if (const auto trained = profile_of(record, "train")) {
    outcome.drift = assess_drift(*trained, outcome.profile, predicted_classes(outcome.run_test.confusion),
                                 predicted_classes(outcome.result.metrics.confusion));
  }
  return outcome;
}

std::vector<metric_change> compare_with_run(const evaluation_outcome& outcome) {
  const auto& run = outcome.run_test;
  const auto& now = outcome.result.metrics;
  return {{"accuracy", run.accuracy, now.accuracy, true},
          {"precision", run.precision, now.precision, true},
          {"recall", run.recall, now.recall, true},
          {"f1", run.f1, now.f1, true},
          {"loss", run.loss, now.loss, false}};
}

}  // namespace trackbench::tracking
