#pragma once
// Run snapshots: one HDF5 file per run holding identity, config, environment, code, data,
// per-epoch metrics and weights (unless --keep-weights none), and the state to resume from.
// docs/snapshot-format.md is the field-by-field reference; format/schema.h is the table both
// this code and that document follow. snapshot_writer.h writes one, snapshot_reader.h reads one.
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
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "trackbench/trainer/data_profile.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/metrics.h"

namespace trackbench::tracking {

inline constexpr const char* schema_name = "trackbench.run";
// Version 5 added the data profiles (/data/profiles/<split>); version 4 the --keep-weights policies (last, best, every:N), the per-epoch parameter
// digests, the sidecar weight files, what NVML says (environment nvml_reason; each GPU's clocks,
// power limit, ECC and persistence modes and PCI bus id) and the data-parallel job (config
// world_size, global_batch_size, engine, engine_settings, launcher, nodes, rank_hosts and
// rank_devices); version 3 the checksums (HDF5 1.10 metadata checksums, identity record_sha256),
// config precision, cuda_graphs and target, and the root's warmup_seconds, target_reached_epoch
// and time_to_target_seconds; version 2 config keep_weights. Older files are still read without
// the newer fields (each field's `since` in the schema table decides), versions 1 and 2
// unchecksummed, version 1 as keeping weights.
inline constexpr std::int64_t schema_version = 5;

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
  // One per split in schema::profile_splits() order (train, validation, test); empty in files
  // older than schema version 5, which recorded none.
  std::vector<trainer::data_profile> profiles;
};

// The profile of `split` (train, validation, test); nullopt when the record has none.
std::optional<trainer::data_profile> profile_of(const run_record& record, const std::string& split);

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

// The record as one JSON document: the sections, the diff as text and one object per epoch
// with every metric column (absent values as null) and the confusion matrices.
nlohmann::ordered_json to_json(const run_record& record);

// Now, as ISO 8601 UTC with milliseconds: 2026-11-27T02:37:55.120Z.
std::string utc_timestamp();

// "running" in a file means the writer never finished: the process was killed or crashed.
std::string displayed_status(const run_record& record);

// "1 epoch", "2 epochs": a count with its noun, in the plural unless it is one.
std::string count_of(std::int64_t count, const std::string& noun);

// Text from a file, safe to print to a terminal: control characters become \xNN, so a
// crafted snapshot cannot send escape sequences.
std::string printable(const std::string& text);

// The values in order, with `separator` between them: "a, b, c".
std::string joined(const std::vector<std::string>& values, const std::string& separator = ", ");

// A value recorded once per run (schema::run_level_metrics()); nullopt in older files, and
// for a target that was not reached.
std::optional<double> run_level_value(const run_record& run, const std::string& metric);

// Whether the file carried checksums (schema version 3 on): files of older versions are read
// unchecksummed, and a corrupted value in them can pass for a real one.
bool checksummed(const run_record& record);

}  // namespace trackbench::tracking
