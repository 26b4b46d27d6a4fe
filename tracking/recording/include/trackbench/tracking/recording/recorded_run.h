#pragma once
// A training run that records itself in a snapshot: what train, train --resume and reproduce
// share. It trains, stops at a target or a signal, and records every epoch, its end and why it
// ended; the caller only shows progress (its observer) and the summary (on_completed).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/tracking/format/weights_policy.h"
#include "trackbench/tracking/recording/recorder.h"
#include "trackbench/tracking/recording/target.h"
#include "trackbench/trainer/train.h"

namespace trackbench::tracking {

struct recording_options {
  std::filesystem::path out_dir = "runs";
  nlohmann::ordered_json tags = nlohmann::ordered_json::object();
  std::string command_line;
  weights_policy keep_weights;          // --keep-weights
  std::optional<run_target> target;     // --target: stop after the first epoch that reaches it
  // Sees each step's progress and each epoch (the console); may be null.
  trainer::training_observer* observer = nullptr;
  // Called on rank 0 once the run completed, while its trainer still exists: `seconds` is the
  // whole run's wall time and `snapshot` the file that records it.
  std::function<void(const trainer::trainer& run, const run_record& record, double seconds,
                     const std::filesystem::path& snapshot)>
      on_completed;
};

// Refuses options that cannot record what they ask for (input_error naming the flag): best
// weights without a validation split. train calls it before loading data; resume and reproduce
// take the policy of a record that passed it.
void check_recording_options(const trainer::train_config& config, const recording_options& options);

struct recorded_run {
  std::filesystem::path snapshot;  // empty on a rank other than 0, which records nothing
  std::string status;              // completed, interrupted or failed
  int exit_code = 0;               // 0, or 128 + the signal that stopped it
};

// Trains `config` on `data` into a new snapshot in options.out_dir, up to `last_epoch` (0: all
// of config.epochs), or up to the first epoch that reaches options.target. With `parent` (a
// resume), epochs 1..origin.resumed_from_epoch and the state after them come from the parent's
// snapshot and training continues from there. Installs the stop handlers: SIGINT and SIGTERM
// end it as interrupted. Throws what training throws, after marking the snapshot failed. In a
// data-parallel job every rank calls it; rank 0 alone writes the snapshot.
recorded_run run_recorded(const trainer::train_config& config, const trainer::dataset& data, const run_origin& origin,
                          const snapshot_reader* parent, const recording_options& options, int last_epoch = 0);

// Loads the data a snapshot was trained on (from `data_dir` when given) and checks its digest.
// Throws input_error on a mismatch unless `allow_mismatch`, when it only warns.
trainer::dataset load_recorded_data(const run_record& record, trainer::train_config& config, const std::string& data_dir,
                                    bool allow_mismatch);

// train --resume: continues the run in `parent` (read from `name`) after its last completed
// epoch, into a new snapshot, with its recorded config, weights policy and target; `options`
// gives the rest (out_dir, tags, observer). Throws input_error naming --resume and the reason
// when it cannot continue: no state kept, its target reached, every epoch done, another world
// size, other data.
recorded_run resume_recorded(const snapshot_reader& parent, const std::string& name, const std::string& data_dir,
                             recording_options options);

// "key=value" -> tags[key] = value; throws input_error naming --tag.
void add_tag(nlohmann::ordered_json& tags, const std::string& assignment);

}  // namespace trackbench::tracking
