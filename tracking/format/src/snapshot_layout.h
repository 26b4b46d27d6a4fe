#pragma once
// How a run snapshot and its sidecars are laid out in HDF5, shared by the writer, the reader and
// the rewrites (pack, mark failed): the building blocks of writing one, and the record's checks.
// docs/snapshot-format.md describes the layout; the schema table (format/schema.h) its fields.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "hdf5_io.h"
#include "snapshot_io.h"
#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::tracking::snapshot_layout {

inline constexpr std::int64_t max_epochs = 100000;
inline constexpr std::int64_t max_array_bytes = std::int64_t{1} << 30;
inline constexpr int class_count = 10;
inline constexpr std::int64_t digest_bytes = 32;

hdf5::element to_hdf5(element_type type);
// "epoch_0003": the group of an epoch's weights, and its sidecar's file name.
std::string epoch_group(std::int64_t epoch);
// Whether `name` is such a group's name: epoch_ and 4 to 6 digits.
bool is_epoch_group(const std::string& name);
// 32 bytes as 64 hex digits.
std::string to_hex(const std::uint8_t* bytes);
// 64 hex digits into 32 bytes; an empty text (no digest) into zeros.
void from_hex(const std::string& hex, std::uint8_t* out);
// The digests of `parameters`, in name order (the order the file lists them in).
std::vector<parameter_digest> digests_of(const std::vector<array_record>& parameters);
const std::string& digest_of(const std::vector<parameter_digest>& digests, const std::string& name);

// Everything a snapshot file holds, written whole into `file` (fresh, so no space is left dead):
// the record (its record_sha256 already set), the digests, the weights of the epochs in
// `weights` and the state.
void build_snapshot(hid_t file, const run_record& record, const std::vector<std::vector<parameter_digest>>& digests,
                    const std::vector<std::string>& sidecars, const std::map<int, shared_arrays>& weights,
                    const saved_state* state, bool compress);
// A sidecar: the root's run_id and epoch, and one dataset per parameter with its sha256.
void build_sidecar(hid_t file, const std::string& run_id, int epoch, const std::vector<array_record>& arrays,
                   const std::vector<parameter_digest>& digests);

// An in-memory file built by `build`, as an image.
template <typename Build>
void build_image(const std::string& name, snapshot_io::file_image& image, Build&& build) {
  const hdf5::id file = snapshot_io::create_in_memory(name, image.size());
  build(file.get());
  snapshot_io::take_image(file.get(), image);
}

// A whole snapshot file written from the caller's thread: built in memory by `build`, then
// written durably at `path`; a failure is a snapshot_write_error naming `doing` and the path.
template <typename Build>
void write_snapshot_file(const std::filesystem::path& path, const std::string& doing, Build&& build) {
  snapshot_io::file_image image;
  try {
    build_image(path.string() + " (in memory)", image, std::forward<Build>(build));
    snapshot_io::write_durably(path, image);
  } catch (const hdf5::error& e) {
    throw snapshot_write_error(doing + " " + path.string() + " failed: " + e.what());
  } catch (const std::system_error& e) {
    throw snapshot_write_error(doing + " " + path.string() + " failed: " + e.what());
  }
}

// record_sha256 (docs/snapshot-format.md, "Checksums"), computed from the record, so the writer
// and the reader agree on it whatever HDF5 makes of the file.
std::string record_digest(const run_record& record, const std::vector<std::vector<parameter_digest>>& digests,
                          const std::vector<std::string>& sidecars, std::int64_t version);
// What the values promise about each other: class counts add up to the split sizes, the
// confusion rows to the class counts, and validation metrics exist exactly when a split does.
// Throws hdf5::error naming the field.
void check_consistency(const run_record& record);

}  // namespace trackbench::tracking::snapshot_layout
