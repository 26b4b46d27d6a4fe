#pragma once
// Run snapshots: one HDF5 file per run holding identity, config, environment, code, data,
// per-epoch metrics and weights (unless --keep-weights none), and the state to resume from.
// docs/snapshot-format.md is the
// field-by-field reference; schema.cpp is the table both this code and that document follow.
//
// The file on disk is always a complete, closed HDF5 file: the writer keeps the file in memory,
// and each change is written whole to a temporary file, fsynced and renamed over the original,
// so a kill at any moment leaves either the previous or the new version, and a failed write (a
// full disk) leaves the previous one.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/metrics.h"

namespace trackbench::tracking {

inline constexpr const char* schema_name = "trackbench.run";
// Version 4 added config world_size, global_batch_size, engine, engine_settings, launcher, nodes,
// rank_hosts and rank_devices (data-parallel runs). Version 3 added the checksums (HDF5 1.10 metadata checksums, identity record_sha256), config
// precision, cuda_graphs and target, and the root's warmup_seconds, target_reached_epoch and
// time_to_target_seconds; version 2 config keep_weights. Older files are still read (version 1 as
// keeping weights), unchecksummed and without the newer fields.
inline constexpr std::int64_t schema_version = 4;

// A snapshot that cannot be read: truncated, corrupt, foreign, crafted or from a newer
// schema. The message names the file and the object.
class snapshot_error : public input_error {
 public:
  using input_error::input_error;
};

// Writing a snapshot failed (a full disk, a vanished folder); what was written before stays.
class snapshot_write_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class element_type { float32, int64, uint8 };

// A named array as stored: parameters, optimizer state, generator states.
struct array_record {
  std::string name;
  element_type type = element_type::float32;
  std::vector<std::int64_t> shape;  // empty for a scalar
  std::vector<std::uint8_t> bytes;  // native byte order, row-major
  std::int64_t element_count() const;
  std::string sha256() const;  // of `bytes`
};

// What a resumed run starts from after `epochs_done` epochs.
struct saved_state {
  std::int64_t epochs_done = 0;
  std::uint64_t next_shuffle_seed = 0;  // the seed the shuffle of epoch epochs_done + 1 uses
  std::vector<array_record> optimizer;  // conv1.weight.exp_avg, conv1.weight.step, ...
  array_record cpu_generator;
  std::optional<array_record> cuda_generator;
};

// Everything of a run except its weights and state. Each section is a flat JSON object whose
// keys and value types the schema fixes; lists (GPUs, data files) are arrays of such objects,
// and class counts arrays of integers.
struct run_record {
  nlohmann::ordered_json identity;  // schema, schema_version, run_id, ..., status, error, times
  nlohmann::ordered_json tags = nlohmann::ordered_json::object();  // user key -> text
  nlohmann::ordered_json config;
  nlohmann::ordered_json environment;
  nlohmann::ordered_json code;
  nlohmann::ordered_json data;
  std::string code_diff;  // `git diff HEAD`, cut to code.diff_stored_bytes
  std::vector<trainer::epoch_metrics> epochs;
};

// Whether the run keeps its weights after every epoch and the state to resume from (config
// keep_weights "all"), or only the record ("none": `train --keep-weights none`).
bool keeps_weights(const run_record& record);

// Writes a snapshot as a run goes. Each change is made in memory at once and written to disk
// by a background thread while training goes on; the next call (or wait()) waits for that
// write and throws its failure. After a failed write every later call fails too: the file on
// disk keeps what the last good write left.
class snapshot_writer {
 public:
  // Creates `path` (which must not exist) with the record's sections, status "running" and no
  // epochs, and waits until it is on disk. The folder must exist. Throws snapshot_write_error.
  snapshot_writer(std::filesystem::path path, run_record record);
  // Waits for a write still in progress; a failure nobody asked about (no wait() or finish()
  // after the last change) is logged.
  ~snapshot_writer();
  snapshot_writer(const snapshot_writer&) = delete;
  snapshot_writer& operator=(const snapshot_writer&) = delete;

  // Adds one completed epoch: its metrics row, the model's parameters after it, and the state
  // to resume from it (replacing the previous state). Only for a snapshot that keeps weights.
  void append_epoch(const trainer::epoch_metrics& metrics, const std::vector<array_record>& parameters,
                    const saved_state& state);
  // Several epochs in one write (a resume's inherited ones), so the file never holds a state
  // that is not for its last epoch. parameters[i] belongs to metrics[i].
  void append_epochs(const std::vector<trainer::epoch_metrics>& metrics,
                     const std::vector<std::vector<array_record>>& parameters, const saved_state& state);
  // Adds one completed epoch's metrics row alone, to a snapshot that keeps no weights.
  void append_metrics_only(const trainer::epoch_metrics& metrics);
  // The run reached its config target after `epoch` (1-based), `seconds` after training began.
  void record_target_reached(std::int64_t epoch, double seconds);

  // Sets the final status ("completed", "failed", "interrupted"), the error text and the end
  // time, and waits until it is on disk.
  void finish(const std::string& status, const std::string& error);
  // Waits until every change so far is on disk.
  void wait();
  // Throws the failure of a background write that has already ended, without waiting for one
  // still in flight: training checks at every step, so it stops at the failed write rather
  // than at the next epoch.
  void check();

  const std::filesystem::path& path() const { return path_; }
  const run_record& record() const { return record_; }
  // Time the caller spent in the writer: changes in memory, and waits for the disk.
  double seconds_writing() const { return seconds_writing_; }
  // CPU time the background writes waited for so far took (not their waits for the disk).
  double seconds_writing_in_background() const;

 private:
  struct in_memory_file;  // the HDF5 file, open on the core driver, and the write in flight
  template <typename Change>
  void commit(Change&& change, std::size_t epochs_after, bool wait_for_disk);
  void wait_for_disk();
  // Marks the writer failed (nothing more is written) and says what the disk keeps.
  snapshot_write_error failed_write(const std::string& reason);
  void refuse_after_failure() const;

  std::filesystem::path path_;
  run_record record_;
  std::unique_ptr<in_memory_file> file_;
  bool failed_ = false;
  double seconds_writing_ = 0.0;
};

// Opens and fully validates a snapshot before anything is read from it: only objects, links,
// types, shapes and filters the schema defines are accepted. Throws snapshot_error.
class snapshot_reader {
 public:
  explicit snapshot_reader(const std::filesystem::path& path);
  // The same, from a file image in memory (`name` is used in messages).
  snapshot_reader(const std::vector<std::uint8_t>& image, const std::string& name);
  ~snapshot_reader();
  snapshot_reader(snapshot_reader&&) noexcept;
  snapshot_reader& operator=(snapshot_reader&&) = delete;
  snapshot_reader(const snapshot_reader&) = delete;
  snapshot_reader& operator=(const snapshot_reader&) = delete;

  const run_record& record() const;
  // The parameters after `epoch` (1-based), each checked against its stored SHA-256. Throws
  // snapshot_error for a snapshot that keeps no weights.
  std::vector<array_record> weights(int epoch) const;
  // Absent for a run that completed no epoch or keeps no weights.
  std::optional<saved_state> state() const;

  struct impl;  // the open file and what was validated; defined in snapshot.cpp

 private:
  std::unique_ptr<impl> impl_;
};

// The record as one JSON document: the sections, the diff as text and one object per epoch
// with every metric column (absent values as null) and the confusion matrices.
nlohmann::ordered_json to_json(const run_record& record);

// Now, as ISO 8601 UTC with milliseconds: 2026-11-27T02:37:55.120Z.
std::string utc_timestamp();

// "running" in a file means the writer never finished: the process was killed or crashed.
std::string displayed_status(const run_record& record);

// "1 epoch", "2 epochs": a count with its noun, in the plural unless it is one.
std::string count_of(std::int64_t count, const std::string& noun);

// Whether the file carried checksums (schema version 3 on): files of older versions are read
// unchecksummed, and a corrupted value in them can pass for a real one.
bool checksummed(const run_record& record);

}  // namespace trackbench::tracking
