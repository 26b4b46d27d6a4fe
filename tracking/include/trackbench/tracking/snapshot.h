#pragma once
// Run snapshots: one HDF5 file per run holding identity, config, environment, code, data,
// per-epoch metrics and weights (unless --keep-weights none), and the state to resume from.
// docs/snapshot-format.md is the
// field-by-field reference; schema.cpp is the table both this code and that document follow.
//
// The file on disk is always a complete, closed HDF5 file: each change is built in memory and
// written whole to a temporary file, fsynced and renamed over the original, so a kill at any
// moment leaves either the previous or the new version, and a failed write (a full disk) leaves
// the previous one. That file holds the record, every epoch's parameter digests, the last (and
// best) weights and the resume state, so its size does not grow with the weights of old epochs;
// the other epochs a --keep-weights policy keeps are each written once, the same way, into a
// sidecar file beside it (<name>.epochs/epoch_NNNN.h5) whose SHA-256 the snapshot records.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/metrics.h"

namespace trackbench::tracking {

inline constexpr const char* schema_name = "trackbench.run";
// Version 4 added the --keep-weights policies (last, best, every:N), the per-epoch parameter
// digests, the sidecar weight files, what NVML says (environment nvml_reason; each GPU's clocks,
// power limit, ECC and persistence modes and PCI bus id) and the data-parallel job (config
// world_size, global_batch_size, engine, engine_settings, launcher, nodes, rank_hosts and
// rank_devices); version 3 the checksums (HDF5 1.10 metadata checksums, identity record_sha256),
// config precision, cuda_graphs and target, and the root's warmup_seconds, target_reached_epoch
// and time_to_target_seconds; version 2 config keep_weights. Older files are still read without
// the newer fields (each field's `since` in the schema table decides), versions 1 and 2
// unchecksummed, version 1 as keeping weights.
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
// One epoch's arrays, shared read-only (by the writer and its background write: neither copies).
using shared_arrays = std::shared_ptr<const std::vector<array_record>>;

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

// --keep-weights: which epochs' parameters a snapshot keeps. `last` and the resume state are kept
// by every policy but `none`; `best` adds the epoch of the highest validation accuracy so far;
// `every:N` adds epochs N, 2N, ...; `all` keeps every epoch. Every policy records the SHA-256
// of each parameter after every epoch.
struct weights_policy {
  enum class kind { all, last, best, every, none };
  kind keep = kind::last;
  std::int64_t every = 0;  // N of every:N
};
// Parses all, last, best, every:N (N >= 1) or none; throws input_error naming `flag`.
weights_policy parse_weights_policy(const std::string& text, const std::string& flag = "--keep-weights");
std::string to_string(const weights_policy& policy);
// The policy a record's config keep_weights names (version 1 files keep all).
weights_policy weights_policy_of(const run_record& record);
// Whether the snapshot keeps any weights and the state to resume from (every policy but none).
bool keeps_weights(const run_record& record);
// The epochs (1-based, ascending) whose weights `policy` keeps after `epochs` completed ones.
// `best` is the first epoch of the highest validation accuracy among them.
std::vector<int> kept_epochs(const weights_policy& policy, const std::vector<trainer::epoch_metrics>& epochs);

// The SHA-256 (hex) of one parameter's bytes after an epoch.
struct parameter_digest {
  std::string name;
  std::string sha256;
  bool operator==(const parameter_digest& other) const { return name == other.name && sha256 == other.sha256; }
};

// An epoch a resumed run inherits: its digests, and its weights when the parent kept them.
struct inherited_epoch {
  std::vector<parameter_digest> digests;
  std::optional<std::vector<array_record>> weights;
};

// Where the weights of epoch `epoch` go when not in the snapshot itself: <snapshot>.epochs/epoch_NNNN.h5.
std::filesystem::path sidecar_path(const std::filesystem::path& snapshot, int epoch);

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
  // The parameters after `epoch` (1-based), each checked against its stored SHA-256; from the
  // sidecar file when the snapshot keeps them there, after checking the whole file against the
  // SHA-256 the snapshot recorded for it. Throws snapshot_error for an epoch whose weights were
  // not kept, naming the policy, or a missing or corrupt sidecar, naming it.
  std::vector<array_record> weights(int epoch) const;
  // Whether the weights of `epoch` were kept (in the file or a sidecar).
  bool has_weights(int epoch) const;
  // The epochs whose weights were kept, ascending.
  std::vector<int> weight_epochs() const;
  // The kept epochs whose sidecar file is not there (checked by existence; weights() checks digests).
  std::vector<int> missing_sidecars() const;
  // Whether any kept epoch lives in a sidecar (a packed snapshot has none).
  bool has_sidecars() const;
  // The digest of each parameter after `epoch`: recorded for every epoch since schema v4, taken
  // from the weights' own sha256 attributes in older files that kept them; empty otherwise.
  std::vector<parameter_digest> parameter_digests(int epoch) const;
  // Absent for a run that completed no epoch or keeps no weights.
  std::optional<saved_state> state() const;

  struct impl;  // the open file and what was validated; defined in snapshot.cpp

 private:
  friend bool mark_run_failed(const std::filesystem::path& snapshot, const std::string& error);
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

// Writes `reader`'s snapshot as one self-contained file at `out` (which must not exist): every
// kept epoch's weights inside it, no sidecars. Throws snapshot_error (a missing or corrupt
// sidecar) or snapshot_write_error.
void pack_snapshot(const snapshot_reader& reader, const std::filesystem::path& out);

// Records the end of a run whose writer died without recording it (status still "running": the
// process was killed or crashed) as "failed" with `error` and an end time, by rewriting the
// snapshot whole from what it holds (digests, weights, state, sidecars as they are) and renaming
// it into place. The launcher of a job calls it when rank 0, the job's writer, ended first.
// Returns false, changing nothing, when the run recorded its own end. Throws snapshot_error for
// a file it cannot read, snapshot_write_error when the rewrite fails (the file is then as before).
bool mark_run_failed(const std::filesystem::path& snapshot, const std::string& error);

// Whether the file carried checksums (schema version 3 on): files of older versions are read
// unchecksummed, and a corrupted value in them can pass for a real one.
bool checksummed(const run_record& record);

}  // namespace trackbench::tracking
