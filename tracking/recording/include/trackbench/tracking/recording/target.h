#pragma once
// train --target METRIC:VALUE: the training target a run stops at, and what a record says of it.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::tracking {

// Training stops after the first epoch whose metric reaches VALUE (test_accuracy:0.97,
// val_loss:0.05), in the metric's own unit (fractions as fractions).
struct run_target {
  std::string metric;     // a metric column's name, aliases resolved
  double value = 0.0;
  bool at_most = false;   // losses: reached at <= value; accuracy, precision, recall, F1: at >=
};
// Throws input_error naming --target and what was expected: an accuracy, precision, recall,
// F1 or loss metric, a finite value, a fraction within (0, 1], a loss >= 0.
run_target parse_target(const std::string& text);
std::string to_string(const run_target& target);  // "test_accuracy:0.97"
// Whether `epoch` reaches the target; an absent value (no validation split) never does.
bool target_reached(const run_target& target, const trainer::epoch_metrics& epoch);
// "test_accuracy:0.97 reached at epoch 3, 12.4 s after training began", or "... not reached in
// 5 epochs"; empty for a run without a target.
std::string describe_target(const run_record& run);
// The --target a snapshot's config records; nullopt when none (or before schema version 3).
// Throws snapshot_error when it does not parse.
std::optional<run_target> target_from_record(const nlohmann::ordered_json& config);

}  // namespace trackbench::tracking
