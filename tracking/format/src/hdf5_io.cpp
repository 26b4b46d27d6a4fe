#include "hdf5_io.h"

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

namespace trackbench::tracking::hdf5 {
namespace {

herr_t collect_innermost(unsigned depth, const H5E_error2_t* entry, void* out) {
  (void)depth;
  if (entry->desc != nullptr && entry->desc[0] != '\0') *static_cast<std::string*>(out) = entry->desc;
  return 0;
}

// HDF5's innermost explanation of the current failure ("errno = 28, ... No space left on device").
std::string current_error() {
  std::string message;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_innermost, &message);
  H5Eclear2(H5E_DEFAULT);
  return message.empty() ? "HDF5 reported an error without a message" : message;
}

hid_t native(element type) {
  switch (type) {
    case element::float32:
      return H5T_NATIVE_FLOAT;
    case element::float64:
      return H5T_NATIVE_DOUBLE;
    case element::int64:
      return H5T_NATIVE_INT64;
    case element::uint8:
      return H5T_NATIVE_UINT8;
  }
  return H5T_NATIVE_FLOAT;
}

const char* element_name(element type) {
  switch (type) {
    case element::float32:
      return "float32";
    case element::float64:
      return "float64";
    case element::int64:
      return "int64";
    case element::uint8:
      return "uint8";
  }
  return "?";
}

id bool_type() {
  id type = datatype(H5Tenum_create(H5T_NATIVE_INT8), "boolean type");
  const std::int8_t no = 0;
  const std::int8_t yes = 1;
  check(H5Tenum_insert(type.get(), "FALSE", &no), "boolean type");
  check(H5Tenum_insert(type.get(), "TRUE", &yes), "boolean type");
  return type;
}

id text_type() {
  id type = datatype(H5Tcopy(H5T_C_S1), "string type");
  check(H5Tset_size(type.get(), H5T_VARIABLE), "string type");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "string type");
  return type;
}

std::vector<hsize_t> to_hsize(const std::vector<std::int64_t>& shape) {
  return {shape.begin(), shape.end()};
}

id simple_space(const std::vector<std::int64_t>& shape) {
  if (shape.empty()) return dataspace(H5Screate(H5S_SCALAR), "scalar dataspace");
  const auto dims = to_hsize(shape);
  return dataspace(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "dataspace");
}

// Creates attribute `name` afresh (replacing one of that name) and writes `value` as `type`.
void write_attribute(hid_t object, const std::string& name, hid_t type, const void* value) {
  const std::string what = "attribute " + name;
  if (check(H5Aexists(object, name.c_str()), what) > 0) check(H5Adelete(object, name.c_str()), what);
  const id space = dataspace(H5Screate(H5S_SCALAR), what);
  const id attr = attribute(H5Acreate2(object, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), what);
  check(H5Awrite(attr.get(), type, value), what);
}

// Opens a scalar attribute whose stored type has class `type_class`; returns it and its type.
std::pair<id, id> open_scalar(hid_t object, const std::string& name, H5T_class_t type_class, const char* expected) {
  const std::string what = "attribute '" + name + "'";
  if (check(H5Aexists(object, name.c_str()), what) <= 0) throw error("missing " + what);
  id attr = attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT), what);
  const id space = dataspace(H5Aget_space(attr.get()), what);
  if (H5Sget_simple_extent_type(space.get()) != H5S_SCALAR) throw error(what + " is not a single value");
  id type = datatype(H5Aget_type(attr.get()), what);
  if (H5Tget_class(type.get()) != type_class) throw error(what + " is not " + expected);
  return {std::move(attr), std::move(type)};
}

template <typename T>
T read_number(hid_t object, const std::string& name, H5T_class_t type_class, hid_t memory_type, const char* expected) {
  const auto [attr, type] = open_scalar(object, name, type_class, expected);
  if (H5Tget_size(type.get()) > 8) throw error("attribute '" + name + "' is wider than 64 bits");
  T value{};
  check(H5Aread(attr.get(), memory_type, &value), "attribute '" + name + "'");
  return value;
}

}  // namespace

void initialise() {
  static std::once_flag once;
  std::call_once(once, [] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    H5PLset_loading_state(0);
  });
}

id& id::operator=(id&& other) noexcept {
  if (this != &other) {
    reset();
    value_ = other.value_;
    close_ = other.close_;
    other.value_ = H5I_INVALID_HID;
  }
  return *this;
}

void id::reset() noexcept {
  if (value_ >= 0 && close_ != nullptr) close_(value_);
  value_ = H5I_INVALID_HID;
}

void id::close() {
  if (value_ < 0) return;
  const hid_t value = value_;
  value_ = H5I_INVALID_HID;
  check(close_(value), "closing");
}

hid_t check(hid_t status, const std::string& what) {
  if (status < 0) throw error(what + ": " + current_error());
  return status;
}

id file(hid_t value, const std::string& what) { return {check(value, what), H5Fclose}; }
id group(hid_t value, const std::string& what) { return {check(value, what), H5Gclose}; }
id dataset(hid_t value, const std::string& what) { return {check(value, what), H5Dclose}; }
id attribute(hid_t value, const std::string& what) { return {check(value, what), H5Aclose}; }
id dataspace(hid_t value, const std::string& what) { return {check(value, what), H5Sclose}; }
id datatype(hid_t value, const std::string& what) { return {check(value, what), H5Tclose}; }
id plist(hid_t value, const std::string& what) { return {check(value, what), H5Pclose}; }

id create_group(hid_t parent, const std::string& name) {
  return group(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "group " + name);
}

void write_text(hid_t object, const std::string& name, const std::string& value) {
  const id type = text_type();
  const char* data = value.c_str();
  write_attribute(object, name, type.get(), &data);
}

void write_int64(hid_t object, const std::string& name, std::int64_t value) {
  write_attribute(object, name, H5T_STD_I64LE, &value);
}

void write_uint64(hid_t object, const std::string& name, std::uint64_t value) {
  write_attribute(object, name, H5T_STD_U64LE, &value);
}

void write_float64(hid_t object, const std::string& name, double value) {
  write_attribute(object, name, H5T_IEEE_F64LE, &value);
}

void write_bool(hid_t object, const std::string& name, bool value) {
  const id type = bool_type();
  const std::int8_t stored = value ? 1 : 0;
  write_attribute(object, name, type.get(), &stored);
}

std::string read_text(hid_t object, const std::string& name) {
  const auto [attr, type] = open_scalar(object, name, H5T_STRING, "text");
  const std::string what = "attribute '" + name + "'";
  if (check(H5Tis_variable_str(type.get()), what) > 0) {
    const id memory = text_type();
    char* data = nullptr;
    check(H5Aread(attr.get(), memory.get(), &data), what);
    if (data == nullptr) return {};
    const std::size_t length = ::strnlen(data, max_text_bytes + 1);
    std::string value(data, length);
    H5free_memory(data);
    if (length > max_text_bytes) throw error(what + " is longer than " + std::to_string(max_text_bytes) + " bytes");
    return value;
  }
  const std::size_t size = H5Tget_size(type.get());
  if (size == 0 || size > max_text_bytes) throw error(what + " has a bad string size " + std::to_string(size));
  const id memory = datatype(H5Tcopy(H5T_C_S1), what);
  check(H5Tset_size(memory.get(), size), what);
  std::string value(size, '\0');
  check(H5Aread(attr.get(), memory.get(), value.data()), what);
  value.resize(::strnlen(value.data(), size));
  return value;
}

std::int64_t read_int64(hid_t object, const std::string& name) {
  return read_number<std::int64_t>(object, name, H5T_INTEGER, H5T_NATIVE_INT64, "an integer");
}

std::uint64_t read_uint64(hid_t object, const std::string& name) {
  return read_number<std::uint64_t>(object, name, H5T_INTEGER, H5T_NATIVE_UINT64, "an integer");
}

double read_float64(hid_t object, const std::string& name) {
  return read_number<double>(object, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, "a floating-point number");
}

bool read_bool(hid_t object, const std::string& name) {
  const auto [attr, type] = open_scalar(object, name, H5T_ENUM, "a boolean (enum FALSE/TRUE)");
  const id memory = bool_type();
  std::int8_t value = 0;
  check(H5Aread(attr.get(), memory.get(), &value), "attribute '" + name + "' as a boolean");
  return value != 0;
}

std::size_t element_size(element type) {
  switch (type) {
    case element::float32:
      return 4;
    case element::float64:
    case element::int64:
      return 8;
    case element::uint8:
      return 1;
  }
  return 1;
}

namespace {

// Chunks of about this size: small enough to spread over the cores, large enough that
// the per-chunk index and headers stay negligible.
constexpr std::size_t target_chunk_bytes = std::size_t{512} << 10;

// What HDF5's shuffle filter followed by its deflate filter store for one chunk: the bytes
// grouped by their position within an element, then a zlib stream. Deflate runs Huffman
// coding only: on shuffled float32 it compresses as well as LZ matching (weights have no
// repeats worth finding) at twice the speed, and any inflate reads it.
std::vector<std::uint8_t> shuffle_and_deflate(const std::uint8_t* chunk, std::size_t bytes, std::size_t element_bytes) {
  std::vector<std::uint8_t> shuffled(bytes);
  const std::size_t elements = bytes / element_bytes;
  for (std::size_t i = 0; i < elements; ++i) {
    for (std::size_t b = 0; b < element_bytes; ++b) shuffled[b * elements + i] = chunk[i * element_bytes + b];
  }
  z_stream stream{};
  if (deflateInit2(&stream, 1, Z_DEFLATED, MAX_WBITS, 8, Z_HUFFMAN_ONLY) != Z_OK) throw error("zlib: deflateInit2 failed");
  std::vector<std::uint8_t> out(deflateBound(&stream, static_cast<uLong>(bytes)));
  stream.next_in = shuffled.data();
  stream.avail_in = static_cast<uInt>(bytes);
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (status != Z_STREAM_END) throw error("zlib: deflate did not finish");
  return out;
}

// Runs job(0..count-1) on up to every core; rethrows the first failure.
template <typename Job>
void run_in_parallel(std::size_t count, const Job& job) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_lock;
  auto work = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      try {
        job(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_lock);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  const std::size_t workers = std::min<std::size_t>(count, std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> helpers;
  for (std::size_t i = 1; i < workers; ++i) helpers.emplace_back(work);
  work();
  for (auto& helper : helpers) helper.join();
  if (failure) std::rethrow_exception(failure);
}

// A chunked, shuffled and deflated dataset whose chunks (slabs along the first dimension)
// are encoded on all cores and stored with H5Dwrite_chunk; HDF5 would filter them one at
// a time on one core.
id write_compressed(hid_t parent, const std::string& name, element type, const std::vector<std::int64_t>& shape,
                    const void* data) {
  const std::string what = "dataset " + name;
  const std::size_t element_bytes = element_size(type);
  std::size_t row_bytes = element_bytes;
  for (std::size_t d = 1; d < shape.size(); ++d) row_bytes *= static_cast<std::size_t>(shape[d]);
  const auto rows = static_cast<std::size_t>(shape[0]);
  const std::size_t rows_per_chunk = std::clamp<std::size_t>(target_chunk_bytes / row_bytes, 1, rows);
  const std::size_t chunk_count = (rows + rows_per_chunk - 1) / rows_per_chunk;
  const std::size_t chunk_bytes = rows_per_chunk * row_bytes;

  std::vector<std::vector<std::uint8_t>> encoded(chunk_count);
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  run_in_parallel(chunk_count, [&](std::size_t i) {
    const std::size_t first = i * rows_per_chunk * row_bytes;
    const std::size_t present = std::min(chunk_bytes, rows * row_bytes - first);
    if (present == chunk_bytes) {
      encoded[i] = shuffle_and_deflate(bytes + first, chunk_bytes, element_bytes);
    } else {
      // HDF5 stores an edge chunk at full size; the rows past the end are never read.
      std::vector<std::uint8_t> padded(chunk_bytes, 0);
      std::memcpy(padded.data(), bytes + first, present);
      encoded[i] = shuffle_and_deflate(padded.data(), chunk_bytes, element_bytes);
    }
  });

  const id space = simple_space(shape);
  const id create = plist(H5Pcreate(H5P_DATASET_CREATE), what);
  auto chunk = to_hsize(shape);
  chunk[0] = rows_per_chunk;
  check(H5Pset_chunk(create.get(), static_cast<int>(chunk.size()), chunk.data()), what);
  check(H5Pset_shuffle(create.get()), what);
  check(H5Pset_deflate(create.get(), 1), what);
  id set = dataset(H5Dcreate2(parent, name.c_str(), native(type), space.get(), H5P_DEFAULT, create.get(), H5P_DEFAULT), what);
  std::vector<hsize_t> offset(shape.size(), 0);
  for (std::size_t i = 0; i < chunk_count; ++i) {
    offset[0] = i * rows_per_chunk;
    check(H5Dwrite_chunk(set.get(), H5P_DEFAULT, 0, offset.data(), encoded[i].size(), encoded[i].data()), what);
  }
  return set;
}

}  // namespace

id write_array(hid_t parent, const std::string& name, element type, const std::vector<std::int64_t>& shape,
               const void* data, bool compress) {
  std::int64_t count = 1;
  for (const auto dim : shape) count *= dim;
  if (compress && !shape.empty() && count > 0) return write_compressed(parent, name, type, shape, data);
  const std::string what = "dataset " + name;
  const id space = simple_space(shape);
  const id create = plist(H5Pcreate(H5P_DATASET_CREATE), what);
  id set = dataset(H5Dcreate2(parent, name.c_str(), native(type), space.get(), H5P_DEFAULT, create.get(), H5P_DEFAULT), what);
  if (count > 0) write_whole(set.get(), type, data, what);
  return set;
}

void create_growing(hid_t parent, const std::string& name, element type, const std::vector<std::int64_t>& row_shape) {
  const std::string what = "dataset " + name;
  std::vector<hsize_t> dims{0};
  std::vector<hsize_t> max_dims{H5S_UNLIMITED};
  std::vector<hsize_t> chunk{16};
  for (const auto dim : row_shape) {
    dims.push_back(static_cast<hsize_t>(dim));
    max_dims.push_back(static_cast<hsize_t>(dim));
    chunk.push_back(static_cast<hsize_t>(dim));
  }
  const id space = dataspace(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max_dims.data()), what);
  const id create = plist(H5Pcreate(H5P_DATASET_CREATE), what);
  check(H5Pset_chunk(create.get(), static_cast<int>(chunk.size()), chunk.data()), what);
  dataset(H5Dcreate2(parent, name.c_str(), native(type), space.get(), H5P_DEFAULT, create.get(), H5P_DEFAULT), what);
}

void append_rows(hid_t parent, const std::string& name, element type, const std::vector<std::int64_t>& row_shape,
                 std::int64_t rows, const void* data) {
  const std::string what = "dataset " + name;
  const id set = dataset(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), what);
  std::vector<hsize_t> dims(row_shape.size() + 1);
  {
    const id space = dataspace(H5Dget_space(set.get()), what);
    if (H5Sget_simple_extent_ndims(space.get()) != static_cast<int>(dims.size())) throw error(what + " has the wrong rank");
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  }
  const hsize_t first = dims[0];
  dims[0] += static_cast<hsize_t>(rows);
  check(H5Dset_extent(set.get(), dims.data()), what);
  const id file_space = dataspace(H5Dget_space(set.get()), what);
  std::vector<hsize_t> start(dims.size(), 0);
  std::vector<hsize_t> count = dims;
  start[0] = first;
  count[0] = static_cast<hsize_t>(rows);
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), what);
  const id memory_space = dataspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), what);
  check(H5Dwrite(set.get(), native(type), memory_space.get(), file_space.get(), H5P_DEFAULT, data), what);
}

namespace {

// The stored shape after checking the layout is contiguous, compact or chunked (never virtual
// or external) and the filters are only shuffle and deflate.
std::vector<std::int64_t> storage_shape(hid_t dataset_id, const std::string& what) {
  const id create = plist(H5Dget_create_plist(dataset_id), what);
  const H5D_layout_t layout = H5Pget_layout(create.get());
  if (layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT) {
    throw error(what + " has a storage layout snapshots do not use (virtual or unknown)");
  }
  if (H5Pget_external_count(create.get()) != 0) throw error(what + " refers to external files");
  const int filters = H5Pget_nfilters(create.get());
  if (filters < 0) throw error(what + ": cannot read its filters");
  for (int i = 0; i < filters; ++i) {
    unsigned flags = 0;
    std::size_t values = 0;
    unsigned config = 0;
    const H5Z_filter_t filter = H5Pget_filter2(create.get(), static_cast<unsigned>(i), &flags, &values, nullptr, 0,
                                               nullptr, &config);
    if (filter != H5Z_FILTER_DEFLATE && filter != H5Z_FILTER_SHUFFLE) {
      throw error(what + " uses filter " + std::to_string(filter) + "; snapshots use only shuffle and deflate");
    }
  }

  const id space = dataspace(H5Dget_space(dataset_id), what);
  const H5S_class_t space_class = H5Sget_simple_extent_type(space.get());
  if (space_class == H5S_SCALAR) return {};
  if (space_class != H5S_SIMPLE) throw error(what + " has no extent");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > H5S_MAX_RANK) throw error(what + " has a bad rank");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), what);
  std::vector<std::int64_t> shape;
  for (const auto dim : dims) {
    if (dim > (hsize_t{1} << 40)) throw error(what + " has an implausible dimension " + std::to_string(dim));
    shape.push_back(static_cast<std::int64_t>(dim));
  }
  return shape;
}

}  // namespace

std::vector<std::int64_t> checked_shape(hid_t dataset_id, element type, const std::string& what) {
  const id stored = datatype(H5Dget_type(dataset_id), what);
  const H5T_class_t type_class = H5Tget_class(stored.get());
  const std::size_t size = H5Tget_size(stored.get());
  const bool float_type = type == element::float32 || type == element::float64;
  const bool class_ok = float_type ? type_class == H5T_FLOAT : type_class == H5T_INTEGER;
  const bool sign_ok = type_class != H5T_INTEGER ||
                       H5Tget_sign(stored.get()) == (type == element::uint8 ? H5T_SGN_NONE : H5T_SGN_2);
  if (!class_ok || size != element_size(type) || !sign_ok) {
    throw error(what + " is not " + element_name(type));
  }
  return storage_shape(dataset_id, what);
}

void write_text_column(hid_t parent, const std::string& name, const std::vector<std::string>& values) {
  const std::string what = "dataset " + name;
  const id type = text_type();
  const id space = simple_space({static_cast<std::int64_t>(values.size())});
  const id set = dataset(H5Dcreate2(parent, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                         what);
  if (values.empty()) return;
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const auto& value : values) pointers.push_back(value.c_str());
  check(H5Dwrite(set.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()), what);
}

std::vector<std::string> read_text_column(hid_t dataset_id, std::int64_t rows, const std::string& what) {
  {
    const id stored = datatype(H5Dget_type(dataset_id), what);
    if (H5Tget_class(stored.get()) != H5T_STRING || check(H5Tis_variable_str(stored.get()), what) <= 0) {
      throw error(what + " is not a column of variable-length strings");
    }
  }
  if (storage_shape(dataset_id, what) != std::vector<std::int64_t>{rows}) {
    throw error(what + " must hold " + std::to_string(rows) + " values");
  }
  std::vector<std::string> values(static_cast<std::size_t>(rows));
  if (rows == 0) return values;
  const id memory = text_type();
  std::vector<char*> pointers(values.size(), nullptr);
  check(H5Dread(dataset_id, memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()), what);
  bool too_long = false;
  for (std::size_t i = 0; i < pointers.size(); ++i) {
    if (pointers[i] == nullptr) continue;
    const std::size_t length = ::strnlen(pointers[i], max_text_bytes + 1);
    too_long = too_long || length > max_text_bytes;
    values[i].assign(pointers[i], std::min(length, max_text_bytes));
  }
  const id space = dataspace(H5Dget_space(dataset_id), what);
  H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, pointers.data());
  if (too_long) throw error(what + " holds a value longer than " + std::to_string(max_text_bytes) + " bytes");
  return values;
}

void write_whole(hid_t dataset_id, element type, const void* data, const std::string& what) {
  check(H5Dwrite(dataset_id, native(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, data), what);
}

void read_array(hid_t dataset_id, element type, void* out, const std::string& what) {
  check(H5Dread(dataset_id, native(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, out), what);
}

}  // namespace trackbench::tracking::hdf5
