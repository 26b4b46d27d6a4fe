#pragma once
// Turns a training run into a snapshot: describes the run (config, environment, code, data),
// converts trainer state to stored arrays and back, and appends each epoch as it completes.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_writer.h"
#include "trackbench/tracking/format/weights_policy.h"
#include "trackbench/tracking/recording/target.h"
#include "trackbench/trainer/train.h"

namespace trackbench::tracking {

// Words joined by spaces, each quoted for a POSIX shell where it needs to be.
std::string format_command_line(const std::vector<std::string>& words);

// "<UTC yyyymmddThhmmss.mmmZ>-<8 random hex digits>": unique, and sorts by start time.
std::string make_run_id();

// The checkout inspected is $TRACKBENCH_CHECKOUT when set, else the source directory this
// binary was built from. Outside git (or without git) every field says "unknown".
struct code_state {
  nlohmann::ordered_json fields;  // the snapshot's /code attributes
  std::string diff;               // `git diff HEAD`, at most max_stored_diff bytes
};
inline constexpr std::size_t max_stored_diff = 1 << 20;
code_state capture_code();

// The ancestry of `commits` in the git checkout `dir`, oldest first, in one `git rev-list
// --topo-order --reverse` (every ancestor, so points of one branch line up); commits the checkout
// does not know, and text that is not a hexadecimal commit, are left out. Empty when `dir` is not
// a checkout or git is missing.
std::vector<std::string> git_ancestry(const std::string& dir, const std::vector<std::string>& commits);

// SHA-256 over the decoded data (train images, train labels, test images, test labels), so the
// same digits match however their files are compressed.
std::string data_content_sha256(const trainer::dataset& data);

// A data set by itself, without a training split: name, source, content digest, image counts
// and files (a bench snapshot's /data; a run snapshot's adds the split).
nlohmann::ordered_json describe_dataset(const trainer::dataset& data);

struct run_origin {
  std::string origin = "train";  // train, resume or reproduce
  std::string parent_run_id;
  std::int64_t resumed_from_epoch = 0;
};

// Everything a snapshot records before the first epoch. `tags` maps keys to text;
// `keep_weights` is the --keep-weights policy; `target` is the run's
// --target (the config records it; whether it was reached comes later).
run_record describe_run(const trainer::trainer& run, const trainer::dataset& data, const run_origin& origin,
                        const std::string& command_line, const nlohmann::ordered_json& tags,
                        const weights_policy& keep_weights, const std::optional<run_target>& target = std::nullopt);

// Everything a bench snapshot records before its benchmarks: identity (end_time still empty;
// measure time, no instruction counter: run_bench sets those),
// environment, code, and `data` (the data set the suites read).
bench_record describe_bench(const trainer::dataset& data, const std::string& command_line, const std::string& filter,
                            int repetitions);

// The config a snapshot records, back as a train_config; throws snapshot_error naming a bad field.
trainer::train_config config_from_record(const nlohmann::ordered_json& config);

std::vector<array_record> to_records(const std::vector<std::pair<std::string, torch::Tensor>>& tensors);
saved_state to_saved_state(const trainer::training_state& state, std::uint64_t next_shuffle_seed);
// The arrays as CPU tensors by name (copies).
std::vector<std::pair<std::string, torch::Tensor>> to_named_tensors(const std::vector<array_record>& records);
trainer::training_state to_training_state(const std::vector<array_record>& parameters, const saved_state& state);

// Thrown from inside training when a stop was requested (SIGINT, SIGTERM).
class run_interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Appends each completed epoch, with its parameters (their digests are recorded whatever the
// policy) and the state to resume from unless the snapshot keeps no weights, to the snapshot; passes progress on to `inner` (the console) and stops
// the run when asked to.
class snapshot_recorder : public trainer::training_observer {
 public:
  snapshot_recorder(snapshot_writer& writer, trainer::trainer& run, trainer::training_observer* inner,
                    std::function<bool()> stop_requested);
  void on_step(const trainer::step_progress& progress) override;
  void on_epoch(const trainer::epoch_metrics& metrics) override;
  // Time spent copying weights and state out of the model for the snapshot; the writer
  // counts the writing itself.
  double seconds_capturing() const { return seconds_capturing_; }

 private:
  snapshot_writer& writer_;
  trainer::trainer& run_;
  trainer::training_observer* inner_;
  std::function<bool()> stop_requested_;
  double seconds_capturing_ = 0.0;
};

}  // namespace trackbench::tracking
