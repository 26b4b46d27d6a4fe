#pragma once
// Snapshots in older schema layouts, as trackbench wrote them before: a packed v4 snapshot that
// keeps all or none, less parameter_sha256 and sidecar_sha256, the NVML fields (environment
// nvml_reason and each GPU's), the data-parallel fields (config world_size, global_batch_size,
// engine, engine_settings, launcher, nodes, rank_hosts, rank_devices), record_sha256, config
// precision, cuda_graphs and target and the root's warmup_seconds,
// target_reached_epoch and time_to_target_seconds is the v2 layout (in the checksummed HDF5
// format, which v2 readers read too), and a v2 snapshot that keeps its weights, less config
// keep_weights, is the v1 layout. Tests and the fuzz seeds make older files this way to check
// they are still read.
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace trackbench::testing {

// Rewrites `path` (a snapshot, not open elsewhere) in place as schema `version` (1 or 2; for
// 1 it must keep its weights). It must keep all or none: a packed snapshot, whose weights are
// all inside it; its v4 digests are dropped.
inline void downgrade_to_schema(const std::filesystem::path& path, std::int64_t version) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (file < 0) throw std::runtime_error("cannot open " + path.string() + " for writing");
  const hid_t attribute = H5Aopen(file, "schema_version", H5P_DEFAULT);
  bool ok = attribute >= 0 && H5Awrite(attribute, H5T_NATIVE_INT64, &version) >= 0;
  if (attribute >= 0) H5Aclose(attribute);
  // Version 5's data profiles.
  if (H5Lexists(file, "data/profiles", H5P_DEFAULT) > 0) ok = ok && H5Ldelete(file, "data/profiles", H5P_DEFAULT) >= 0;
  for (const char* name : {"world_size", "global_batch_size", "engine", "engine_settings", "launcher", "nodes",
                           "rank_hosts", "rank_devices"}) {
    ok = ok && H5Adelete_by_name(file, "config", name, H5P_DEFAULT) >= 0;
  }
  ok = ok && H5Adelete(file, "record_sha256") >= 0;
  for (const char* name : {"precision", "cuda_graphs", "target"}) {
    ok = ok && H5Adelete_by_name(file, "config", name, H5P_DEFAULT) >= 0;
  }
  for (const char* name : {"warmup_seconds", "target_reached_epoch", "time_to_target_seconds"}) {
    ok = ok && H5Adelete(file, name) >= 0;
  }
  // Version 4's NVML fields.
  ok = ok && H5Adelete_by_name(file, "environment", "nvml_reason", H5P_DEFAULT) >= 0;
  for (int index = 0; index < 1000; ++index) {
    const std::string gpu = "environment/gpus/" + std::to_string(index);
    if (H5Lexists(file, gpu.c_str(), H5P_DEFAULT) <= 0) continue;
    for (const char* name : {"pci_bus_id", "sm_clock_mhz", "sm_clock_max_mhz", "memory_clock_mhz", "memory_clock_max_mhz",
                             "power_limit_watts", "ecc_mode", "persistence_mode", "nvml_reason"}) {
      ok = ok && H5Adelete_by_name(file, gpu.c_str(), name, H5P_DEFAULT) >= 0;
    }
  }
  if (version < 2) ok = ok && H5Adelete_by_name(file, "config", "keep_weights", H5P_DEFAULT) >= 0;
  for (const char* name : {"parameter_sha256", "sidecar_sha256"}) ok = ok && H5Ldelete(file, name, H5P_DEFAULT) >= 0;
  ok = H5Fclose(file) >= 0 && ok;
  if (!ok) throw std::runtime_error("cannot rewrite " + path.string() + " as schema v" + std::to_string(version));
}

inline void downgrade_to_schema_v1(const std::filesystem::path& path) { downgrade_to_schema(path, 1); }
inline void downgrade_to_schema_v2(const std::filesystem::path& path) { downgrade_to_schema(path, 2); }

namespace old_format {

struct copy_context {
  hid_t target;
  bool ok = true;
};

// The attributes of `source` onto `target`: scalars of text (variable length) or of at most
// 8 bytes, all a snapshot holds. (H5Ocopy would do it, but HDF5 1.10 crashes copying the
// dense attribute storage of a 1.10-format file into an older-format one.)
inline herr_t copy_attribute(hid_t source, const char* name, const H5A_info_t*, void* data) {
  auto& c = *static_cast<copy_context*>(data);
  const hid_t attribute = H5Aopen(source, name, H5P_DEFAULT);
  const hid_t type = H5Aget_type(attribute);
  const hid_t space = H5Aget_space(attribute);
  const hid_t copy = H5Acreate2(c.target, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (H5Tis_variable_str(type) > 0) {
    char* text = nullptr;
    c.ok = c.ok && H5Aread(attribute, type, &text) >= 0 && H5Awrite(copy, type, &text) >= 0;
    H5free_memory(text);
  } else {
    unsigned char value[8] = {};
    c.ok = c.ok && H5Tget_size(type) <= sizeof value && H5Aread(attribute, type, value) >= 0 &&
           H5Awrite(copy, type, value) >= 0;
  }
  H5Aclose(copy);
  H5Sclose(space);
  H5Tclose(type);
  H5Aclose(attribute);
  return 0;
}

inline void copy_attributes(hid_t source, hid_t target, bool& ok) {
  copy_context c{target};
  H5Aiterate2(source, H5_INDEX_NAME, H5_ITER_INC, nullptr, copy_attribute, &c);
  ok = ok && c.ok;
}

// Each child of a group: groups recursively, datasets with their creation properties (chunks,
// filters) and whole contents, then their attributes.
inline herr_t copy_child(hid_t source, const char* name, const H5L_info_t*, void* data) {
  auto& c = *static_cast<copy_context*>(data);
  H5O_info_t info{};
  H5Oget_info_by_name2(source, name, &info, H5O_INFO_BASIC, H5P_DEFAULT);
  if (info.type == H5O_TYPE_GROUP) {
    const hid_t from = H5Gopen2(source, name, H5P_DEFAULT);
    const hid_t to = H5Gcreate2(c.target, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    copy_attributes(from, to, c.ok);
    copy_context inner{to};
    H5Literate(from, H5_INDEX_NAME, H5_ITER_INC, nullptr, copy_child, &inner);
    c.ok = c.ok && inner.ok && from >= 0 && to >= 0;
    H5Gclose(to);
    H5Gclose(from);
    return 0;
  }
  const hid_t from = H5Dopen2(source, name, H5P_DEFAULT);
  const hid_t type = H5Dget_type(from);
  const hid_t space = H5Dget_space(from);
  const hid_t create = H5Dget_create_plist(from);
  const hid_t to = H5Dcreate2(c.target, name, type, space, H5P_DEFAULT, create, H5P_DEFAULT);
  const auto elements = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space));
  if (elements > 0) {
    if (H5Tis_variable_str(type) > 0) {
      std::vector<char*> values(elements, nullptr);
      c.ok = c.ok && H5Dread(from, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0 &&
             H5Dwrite(to, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0;
      H5Dvlen_reclaim(type, space, H5P_DEFAULT, values.data());
    } else {
      std::vector<unsigned char> values(elements * H5Tget_size(type));
      c.ok = c.ok && H5Dread(from, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0 &&
             H5Dwrite(to, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0;
    }
  }
  copy_attributes(from, to, c.ok);
  c.ok = c.ok && to >= 0;
  H5Dclose(to);
  H5Pclose(create);
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(from);
  return 0;
}

}  // namespace old_format

// Copies the snapshot `from` to `to` in the HDF5 file format trackbench wrote before schema v3
// (the library's earliest: superblock 0, object headers 1, no checksums), object by object.
inline void copy_in_old_file_format(const std::filesystem::path& from, const std::filesystem::path& to) {
  const hid_t source = H5Fopen(from.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t target = H5Fcreate(to.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (source < 0 || target < 0) throw std::runtime_error("cannot copy " + from.string() + " to " + to.string());
  bool ok = true;
  old_format::copy_attributes(source, target, ok);
  old_format::copy_context children{target};
  H5Literate(source, H5_INDEX_NAME, H5_ITER_INC, nullptr, old_format::copy_child, &children);
  ok = ok && children.ok;
  ok = H5Fclose(source) >= 0 && ok;
  ok = H5Fclose(target) >= 0 && ok;
  if (!ok) throw std::runtime_error("cannot copy " + from.string() + " in the old file format");
}

}  // namespace trackbench::testing
