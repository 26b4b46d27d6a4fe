#pragma once
// The data profiles of a run snapshot, /data/profiles/<split> (schema version 5 on): written,
// read and checked against the rest of the record, and their part of record_sha256.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hdf5_io.h"
#include "snapshot_io.h"
#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::tracking::profile_io {

// Writes /data/profiles with one group per profile; nothing when `profiles` is empty.
void write_profiles(hid_t file, const std::vector<trainer::data_profile>& profiles);
// The profiles of a file of schema `version`: none before version 5 (where /data/profiles is
// refused) or when the file holds none; otherwise exactly one per split, each field within its
// rule. Throws hdf5::error naming the object.
std::vector<trainer::data_profile> read_profiles(hid_t file, std::int64_t version);
// The kind of an object under /data/profiles; nullopt when the schema does not define it.
std::optional<snapshot_io::object_kind> profile_kind(const std::string& path);
// Their part of record_sha256 (docs/snapshot-format.md, "Checksums").
void hash_profiles(snapshot_io::canonical_hash& hash, const std::vector<trainer::data_profile>& profiles);
// What the profiles promise about the record: one per split in order, images and class counts
// as /data says, histograms that add up. Throws hdf5::error naming the field.
void check_profiles(const run_record& record);

}  // namespace trackbench::tracking::profile_io
