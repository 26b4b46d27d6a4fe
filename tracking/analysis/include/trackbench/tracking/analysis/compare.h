#pragma once
// Comparing runs: what differs between their records, their metrics side by side, pass/fail
// rules for CI, and the epoch-by-epoch check of a reproduction.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::tracking {

// One field whose value is not the same in every run: "config.learning_rate", with each
// run's value as text ("" when a run lacks it).
struct field_difference {
  std::string field;
  std::vector<std::string> values;
};
// Over the config, environment (GPUs as environment.gpu<i>.<field>), code and data sections.
std::vector<field_difference> differing_fields(const std::vector<const run_record*>& runs);

// A run's value of a metric for comparison: accuracies, precision, recall and F1 in percent;
// times and throughput as the median over epochs (the first epoch carries warm-up);
// peak memory as the maximum; everything else at the final epoch; the run-level values
// warmup_seconds, target_reached_epoch and time_to_target_seconds as recorded. nullopt when
// not recorded (a target not reached, a file older than schema version 3).
std::optional<double> summary_metric(const run_record& run, const std::string& metric);
// The same metric for one epoch, scaled alike; nullopt when the epoch does not record it.
std::optional<double> epoch_metric(const trainer::epoch_metrics& epoch, const std::string& metric);
// Metric names summary_metric accepts: the metric columns, the short aliases test_acc,
// val_acc, train_acc, val_loss, and the run-level values.
std::vector<std::string> summary_metric_names();

// "test_acc:-0.5": fail when a run's value is more than 0.5 below the first run's;
// "epoch_seconds:+10%": fail when it is more than 10% above it.
struct gate_rule {
  std::string text;
  std::string metric;
  bool increase = false;  // + limits a rise, - a drop
  double amount = 0.0;
  bool relative = false;  // amount is a percentage of the first run's value
};
// Throws input_error naming --fail-on and what was expected.
gate_rule parse_rule(const std::string& text);

struct rule_outcome {
  gate_rule rule;
  std::string run_id;
  double baseline = 0.0;
  double value = 0.0;
  bool passed = false;
  std::string explanation;
};
// Checks each rule for every run after the first against the first. Throws input_error when a
// run does not record the metric a rule names.
std::vector<rule_outcome> check_rules(const std::vector<const run_record*>& runs, const std::vector<gate_rule>& rules);

// Per epoch of a reproduction: are the deterministic metrics (every column but times and
// memory, plus the confusion matrices) and the weights bitwise equal, and if not, by how much
// they differ at most.
struct epoch_match {
  int epoch = 0;
  bool metrics_equal = false;
  bool weights_equal = false;
  std::string worst_metric;  // largest absolute difference, when not equal
  double metric_difference = 0.0;
  std::string worst_weight;
  double weight_difference = 0.0;
  double test_accuracy_difference = 0.0;  // in points
  double test_loss_difference = 0.0;
};
epoch_match match_epoch(const trainer::epoch_metrics& recorded, const trainer::epoch_metrics& repeated,
                        const std::vector<array_record>& recorded_weights,
                        const std::vector<array_record>& repeated_weights);
// Whether two epochs' parameter digests agree, which is bitwise identity of the weights; nullopt
// when either side recorded none (a schema v1-v3 snapshot kept with --keep-weights none).
std::optional<bool> digests_match(const std::vector<parameter_digest>& recorded,
                                  const std::vector<parameter_digest>& repeated);

}  // namespace trackbench::tracking
