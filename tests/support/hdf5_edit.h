#pragma once
// Edits to an HDF5 file in place, to craft the broken and foreign snapshots readers must refuse.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <functional>

namespace trackbench::testing {

// Opens `path` read-write, applies `change` and closes it.
inline void with_file(const std::filesystem::path& path, const std::function<void(hid_t)>& change) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  change(file);
  ASSERT_GE(H5Fclose(file), 0);
}

inline void set_int_attribute(hid_t object, const char* name, std::int64_t value) {
  H5Adelete(object, name);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attr = H5Acreate2(object, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attr, H5T_NATIVE_INT64, &value);
  H5Aclose(attr);
  H5Sclose(space);
}

inline void set_text_attribute(hid_t object, const char* name, const char* value) {
  H5Adelete(object, name);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attr = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attr, type, &value);
  H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
}

// The same on the group or dataset at `path` below `location` ("config", "environment/gpus/0").
inline void set_int_attribute(hid_t location, const char* path, const char* name, std::int64_t value) {
  const hid_t object = H5Oopen(location, path, H5P_DEFAULT);
  ASSERT_GE(object, 0) << path;
  set_int_attribute(object, name, value);
  H5Oclose(object);
}

inline void set_text_attribute(hid_t location, const char* path, const char* name, const char* value) {
  const hid_t object = H5Oopen(location, path, H5P_DEFAULT);
  ASSERT_GE(object, 0) << path;
  set_text_attribute(object, name, value);
  H5Oclose(object);
}

inline void add_dataset(hid_t parent, const char* name, hid_t create_plist = H5P_DEFAULT) {
  const hsize_t dims[1] = {4};
  const float values[4] = {1, 2, 3, 4};
  const hid_t space = H5Screate_simple(1, dims, nullptr);
  const hid_t set = H5Dcreate2(parent, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, create_plist, H5P_DEFAULT);
  H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
  H5Dclose(set);
  H5Sclose(space);
}

}  // namespace trackbench::testing
