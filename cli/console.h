#pragma once
// What a person sees during and after a run: logging, a progress bar (plain
// lines when stderr is not a terminal), per-epoch rows and a summary table.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_index.h"
#include "trackbench/trainer/train.h"

namespace trackbench::cli {

// spdlog to stderr at info (debug with verbose, warnings only with quiet), plus a
// full debug log in `log_file` when given.
void configure_logging(bool verbose, bool quiet, const std::string& log_file);

class console_observer : public trainer::training_observer {
 public:
  explicit console_observer(bool quiet);
  void on_step(const trainer::step_progress& progress) override;
  void on_epoch(const trainer::epoch_metrics& metrics) override;

 private:
  void clear_bar();

  bool quiet_;
  bool terminal_;
  bool bar_visible_ = false;
  bool header_printed_ = false;
  int last_plain_quarter_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

// The table after a completed run (tracking::recording_options::on_completed): `record` is
// what its snapshot at `snapshot` holds, `total_seconds` the whole run.
void print_run_summary(const trainer::trainer& run, const tracking::run_record& record, double total_seconds,
                       const std::filesystem::path& snapshot);

// The records of `paths` through their folders' catalogs (tracking/format/snapshot_index.h),
// or straight from the files with `no_index` (--no-index); a catalog that could not be used
// is a warning, and where the records came from a debug line.
std::vector<tracking::snapshot_record> read_records(const std::vector<std::filesystem::path>& paths, bool no_index);

std::string format_bytes(std::uint64_t bytes);
std::string format_duration(double seconds);
std::string percent(double fraction);

using tracking::printable;

}  // namespace trackbench::cli
