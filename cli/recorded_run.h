#pragma once
// A training run that records itself in a snapshot: shared by train, train --resume and reproduce.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/compare.h"
#include "trackbench/tracking/recorder.h"
#include "trackbench/tracking/snapshot.h"
#include "trackbench/trainer/train.h"

namespace trackbench::cli {

struct recording_options {
  std::filesystem::path out_dir = "runs";
  nlohmann::ordered_json tags = nlohmann::ordered_json::object();
  std::string command_line;
  bool quiet = false;
  tracking::weights_policy keep_weights;  // --keep-weights
  std::optional<tracking::run_target> target;  // --target: stop after the first epoch that reaches it
};

struct recorded_run {
  std::filesystem::path snapshot;  // empty on a rank other than 0, which records nothing
  std::string status;  // completed, interrupted or failed
  int exit_code = 0;   // 0, or 128 + the signal that stopped it
};

// Trains `config` on `data` into a new snapshot in options.out_dir, up to `last_epoch` (0: all
// of config.epochs), or up to the first epoch that reaches options.target. With `parent` (a resume), epochs 1..origin.resumed_from_epoch and the state
// after them come from the parent's snapshot and training continues from there. Throws what
// training throws, after marking the snapshot. In a data-parallel job every rank calls it; rank
// 0 alone writes the snapshot.
recorded_run run_recorded(const trainer::train_config& config, const trainer::dataset& data,
                          const tracking::run_origin& origin, const tracking::snapshot_reader* parent,
                          const recording_options& options, int last_epoch = 0);

// Loads the data a snapshot was trained on (from `data_dir` when given) and checks its digest.
// Throws input_error on a mismatch unless `allow_mismatch`, when it only warns.
trainer::dataset load_recorded_data(const tracking::run_record& record, trainer::train_config& config,
                                    const std::string& data_dir, bool allow_mismatch);

// "key=value" -> tags[key] = value; throws input_error naming --tag.
void add_tag(nlohmann::ordered_json& tags, const std::string& assignment);

}  // namespace trackbench::cli
