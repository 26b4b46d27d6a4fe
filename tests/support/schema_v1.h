#pragma once
// Snapshots in the schema v1 layout, as trackbench wrote them before --keep-weights: a v2
// snapshot that keeps its weights, less config keep_weights, is exactly that layout. Tests
// and the fuzz seeds make v1 files this way to check they are still read.
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>

namespace trackbench::testing {

// Rewrites `path` (a snapshot keeping weights, not open elsewhere) in place as schema v1.
inline void downgrade_to_schema_v1(const std::filesystem::path& path) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (file < 0) throw std::runtime_error("cannot open " + path.string() + " for writing");
  const std::int64_t version = 1;
  const hid_t attribute = H5Aopen(file, "schema_version", H5P_DEFAULT);
  bool ok = attribute >= 0 && H5Awrite(attribute, H5T_NATIVE_INT64, &version) >= 0;
  if (attribute >= 0) H5Aclose(attribute);
  ok = ok && H5Adelete_by_name(file, "config", "keep_weights", H5P_DEFAULT) >= 0;
  ok = H5Fclose(file) >= 0 && ok;
  if (!ok) throw std::runtime_error("cannot rewrite " + path.string() + " as schema v1");
}

}  // namespace trackbench::testing
