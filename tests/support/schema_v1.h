#pragma once
// Snapshots in the layouts of older schema versions, as trackbench wrote them: a v3 snapshot
// less config precision, cuda_graphs and target and the root's warmup_seconds, target_reached_epoch and
// time_to_target_seconds is a v2 one; a v2 snapshot that keeps its weights, less config
// keep_weights, is a v1 one. Tests and the fuzz seeds make older files this way to check they
// are still read.
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace trackbench::testing {

namespace detail {

// Sets schema_version and deletes the named attributes: {group, attribute} pairs.
template <std::size_t N>
void rewrite_as_version(const std::filesystem::path& path, std::int64_t version,
                        const char* const (&removed)[N][2]) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (file < 0) throw std::runtime_error("cannot open " + path.string() + " for writing");
  const hid_t attribute = H5Aopen(file, "schema_version", H5P_DEFAULT);
  bool ok = attribute >= 0 && H5Awrite(attribute, H5T_NATIVE_INT64, &version) >= 0;
  if (attribute >= 0) H5Aclose(attribute);
  for (const auto& [group, name] : removed) ok = ok && H5Adelete_by_name(file, group, name, H5P_DEFAULT) >= 0;
  ok = H5Fclose(file) >= 0 && ok;
  if (!ok) throw std::runtime_error("cannot rewrite " + path.string() + " as schema v" + std::to_string(version));
}

}  // namespace detail

// Rewrites `path` (a snapshot, not open elsewhere) in place as schema v2.
inline void downgrade_to_schema_v2(const std::filesystem::path& path) {
  static const char* const removed[][2] = {{"config", "precision"},
                                           {"config", "cuda_graphs"},
                                           {"config", "target"},
                                           {".", "warmup_seconds"},
                                           {".", "target_reached_epoch"},
                                           {".", "time_to_target_seconds"}};
  detail::rewrite_as_version(path, 2, removed);
}

// Rewrites `path` (a snapshot keeping weights, not open elsewhere) in place as schema v1.
inline void downgrade_to_schema_v1(const std::filesystem::path& path) {
  downgrade_to_schema_v2(path);
  static const char* const removed[][2] = {{"config", "keep_weights"}};
  detail::rewrite_as_version(path, 1, removed);
}

}  // namespace trackbench::testing
