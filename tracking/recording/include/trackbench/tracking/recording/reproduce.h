#pragma once
// reproduce: re-runs a recorded run with its config, seed and threads and checks every epoch
// against the record. What it tolerates is decided here: a CPU or --deterministic run must be
// bitwise equal; a CUDA run without --deterministic must land within the tolerances below.
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/compare.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/tracking/recording/recorded_run.h"

namespace trackbench::tracking {

// Where a run that is not bitwise deterministic (CUDA without --deterministic) must land.
inline constexpr double reproduce_accuracy_tolerance_points = 1.0;
inline constexpr double reproduce_loss_tolerance = 0.05;

// Whether a recorded code or environment field can change a result (the commit, compiler and
// flags, CPU, LibTorch, CUDA, cuDNN, driver, GPU names): reproduce warns when one differs.
bool affects_results(const std::string& field);
// The fields that affect results and differ between `then` and `now` (their environment and
// code sections), as "field: recorded 'x', now 'y'".
std::vector<std::string> result_affecting_changes(const run_record& then, const run_record& now);

// One epoch of a reproduction checked against the record.
struct epoch_check {
  epoch_match match;             // weights_equal is false when the digests disagree
  std::optional<bool> digests;   // whether the parameter digests agree; nullopt: not recorded
  bool values = false;           // both snapshots kept this epoch's weights, compared value by value
};

enum class reproduce_verdict { bitwise, within_tolerance, not_reproduced };

struct reproduction {
  std::string run_id;
  bool bitwise_expected = false;  // a CPU or --deterministic run
  int original_epochs = 0;
  int repeated_epochs = 0;
  std::string repeated_target;    // describe_target of the reproduction, when the epoch counts differ
  std::vector<epoch_check> epochs;
  bool weights_unchecked = false;  // an epoch with neither digests nor values (an old --keep-weights none file)
  reproduce_verdict verdict = reproduce_verdict::not_reproduced;
};

// Checks the reproduction `repeated` against `original`, epoch by epoch, and decides the verdict.
reproduction check_reproduction(const snapshot_reader& original, const snapshot_reader& repeated);

struct reproduce_options {
  std::string data_dir;              // where the recorded data set is now (empty: where it was)
  bool strict = false;               // refuse when a result-affecting fact differs
  bool allow_data_mismatch = false;  // run even when the data's digest differs
  recording_options recording;       // out_dir, tags, command line, observer; policy and target come from the record
};

// Re-runs the run in `original` (read from `name`; every weight and the state already checked
// against their digests) into a new snapshot and checks it. Returns nullopt on a rank other than
// 0 or when the reproduction did not complete (`outcome` then says how it ended). Throws
// input_error naming `name`: nothing to reproduce, another world size, --strict and a changed
// fact, other data.
std::optional<reproduction> reproduce_recorded(const snapshot_reader& original, const std::string& name,
                                               const reproduce_options& options, recorded_run& outcome);

}  // namespace trackbench::tracking
