#pragma once
// Writing a run snapshot as the run goes (the file layout: snapshot.h and docs/snapshot-format.md).
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/weights_policy.h"

namespace trackbench::tracking {

// Writes a snapshot as a run goes. Each change is made in memory at once and staged; the next
// check(), wait(), finish() or the destructor commits everything staged as one file (so a run's
// last epoch, its target and its end cost one write, not three), which a background thread
// builds and writes while training goes on: the caller only hands it over. The next commit
// waits for the one in flight and throws its failure.
// After a failed write every later call fails too: the file on disk keeps what the last good
// write left.
class snapshot_writer {
 public:
  // Creates `path` (which must not exist) with the record's sections, status "running" and no
  // epochs, and waits until it is on disk. The folder must exist. Throws snapshot_write_error.
  snapshot_writer(std::filesystem::path path, run_record record);
  // Writes what is staged and waits for it; a failure nobody asked about (no wait() or
  // finish() after the last change) is logged.
  ~snapshot_writer();
  snapshot_writer(const snapshot_writer&) = delete;
  snapshot_writer& operator=(const snapshot_writer&) = delete;

  // Stages one completed epoch: its metrics row, the digests of the model's parameters after
  // it, the parameters themselves where the policy keeps them, and the state to resume from it
  // (replacing the previous one; required unless the policy is none, ignored then). Taken by
  // value: a caller that moves them in spares a copy of the weights and state.
  void append_epoch(const trainer::epoch_metrics& metrics, std::vector<array_record> parameters,
                    std::optional<saved_state> state);
  // Several epochs staged at once (a resume's inherited ones), so the file never holds a state
  // that is not for its last epoch. inherited[i] belongs to metrics[i]; the last one must carry
  // its weights (unless the policy is none).
  void append_epochs(const std::vector<trainer::epoch_metrics>& metrics, std::vector<inherited_epoch> inherited,
                     std::optional<saved_state> state);
  // Stages that the run reached its config target after `epoch` (1-based), `seconds` after
  // training began.
  void record_target_reached(std::int64_t epoch, double seconds);

  // Sets the final status ("completed", "failed", "interrupted"), the error text and the end
  // time, writes it with whatever is staged and waits until it is on disk.
  void finish(const std::string& status, const std::string& error);
  // Writes what is staged and waits until every change so far is on disk.
  void wait();
  // Throws the failure of a background write that has already ended, and commits what is
  // staged unless a write is still in flight; it never waits. Training checks at every step, so
  // an epoch reaches the disk as the next one begins (or, behind a slow write, with a later
  // one), and the run stops at a failed write rather than at the next epoch.
  void check();

  const std::filesystem::path& path() const { return path_; }
  const run_record& record() const { return record_; }
  // Time the caller spent in the writer: changes in memory, and waits for the disk.
  double seconds_writing() const { return seconds_writing_; }
  // CPU time the background writes waited for so far took (not their waits for the disk).
  double seconds_writing_in_background() const;

 private:
  struct in_memory_file;  // the images of the last commit and the write in flight
  // Hands a copy of the record, the kept arrays and the sidecars kept_sidecar_ holds to a
  // background thread, which builds the snapshot and the sidecars and writes them.
  void commit(bool wait_for_disk);
  // Commits what is staged, if anything (without waiting for its write).
  void write_staged();
  void wait_for_disk();
  // Marks the writer failed (nothing more is written) and says what the disk keeps.
  snapshot_write_error failed_write(const std::string& reason);
  void refuse_after_failure() const;

  std::filesystem::path path_;
  run_record record_;
  std::unique_ptr<in_memory_file> file_;
  weights_policy policy_;
  std::vector<std::vector<parameter_digest>> digests_;  // per epoch
  std::vector<std::string> sidecar_sha256_;              // per epoch; empty without a sidecar
  std::map<int, shared_arrays> kept_inline_;               // the last and best epochs' weights
  std::map<int, std::vector<array_record>> kept_sidecar_;  // sidecars the next commit writes
  std::shared_ptr<const saved_state> state_;
  bool staged_ = false;  // record_ holds changes no write has taken yet
  bool failed_ = false;
  double seconds_writing_ = 0.0;
};

}  // namespace trackbench::tracking
