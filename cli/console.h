#pragma once
// What a person sees during and after a run: logging, a progress bar (plain
// lines when stderr is not a terminal), per-epoch rows and a summary table.
#include <chrono>
#include <string>
#include <vector>

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

// `target`: tracking::describe_target's line for the run; empty when it has none.
void print_summary(const trainer::trainer& run, const std::string& dataset_name,
                   const std::vector<trainer::epoch_metrics>& history, double total_seconds,
                   const std::string& target);

std::string format_bytes(std::uint64_t bytes);
std::string format_duration(double seconds);
std::string percent(double fraction);

// Text from a file, safe to print to a terminal: control characters become \xNN, so a
// crafted snapshot cannot send escape sequences.
std::string printable(const std::string& text);

}  // namespace trackbench::cli
