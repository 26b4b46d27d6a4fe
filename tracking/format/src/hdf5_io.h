#pragma once
// A thin layer over the HDF5 C API: owned identifiers, errors as exceptions with
// HDF5's own explanation, and the typed attribute and dataset access the snapshot
// schema needs, each read checking type and shape before touching the data.
#include <hdf5.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace trackbench::tracking::hdf5 {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Once per process: no error printing to stderr (errors become exceptions) and no
// dynamically loaded filter plugins, which a crafted file could otherwise ask for.
void initialise();

// An HDF5 identifier closed when it goes out of scope.
class id {
 public:
  id() = default;
  id(hid_t value, herr_t (*close)(hid_t)) : value_(value), close_(close) {}
  ~id() { reset(); }
  id(id&& other) noexcept : value_(other.value_), close_(other.close_) { other.value_ = H5I_INVALID_HID; }
  id& operator=(id&& other) noexcept;
  id(const id&) = delete;
  id& operator=(const id&) = delete;

  hid_t get() const { return value_; }
  // Closes now and reports a failure (closing a file flushes it).
  void close();

 private:
  void reset() noexcept;
  hid_t value_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

// Throws error("<what>: <HDF5's innermost message>") when `status` is negative.
hid_t check(hid_t status, const std::string& what);
id file(hid_t value, const std::string& what);
id group(hid_t value, const std::string& what);
id dataset(hid_t value, const std::string& what);
id attribute(hid_t value, const std::string& what);
id dataspace(hid_t value, const std::string& what);
id datatype(hid_t value, const std::string& what);
id plist(hid_t value, const std::string& what);

id create_group(hid_t parent, const std::string& name);

// Attributes, scalar. Strings are variable-length UTF-8; booleans an int8 enum {FALSE, TRUE}.
void write_text(hid_t object, const std::string& name, const std::string& value);
void write_int64(hid_t object, const std::string& name, std::int64_t value);
void write_uint64(hid_t object, const std::string& name, std::uint64_t value);
void write_float64(hid_t object, const std::string& name, double value);
void write_bool(hid_t object, const std::string& name, bool value);

// The readers check the attribute is scalar and of the expected class and size.
// Text longer than max_text_bytes is refused.
inline constexpr std::size_t max_text_bytes = 1 << 20;
std::string read_text(hid_t object, const std::string& name);
std::int64_t read_int64(hid_t object, const std::string& name);
std::uint64_t read_uint64(hid_t object, const std::string& name);
double read_float64(hid_t object, const std::string& name);
bool read_bool(hid_t object, const std::string& name);

enum class element { float32, float64, int64, uint8 };
std::size_t element_size(element type);

// A dataset of fixed shape; chunked and compressed (shuffle + deflate) when `compress`.
// Returns it open, for attributes.
id write_array(hid_t parent, const std::string& name, element type, const std::vector<std::int64_t>& shape,
                 const void* data, bool compress);

// A 1-D (or [n, ...] with fixed trailing dims) dataset that grows along its first dimension.
void create_growing(hid_t parent, const std::string& name, element type, const std::vector<std::int64_t>& row_shape);
void append_rows(hid_t parent, const std::string& name, element type, const std::vector<std::int64_t>& row_shape,
                 std::int64_t rows, const void* data);

// A dataset's stored shape after checking its class and size match `type`, its layout is
// contiguous, compact or chunked (never virtual or external) and its filters are only
// shuffle and deflate.
std::vector<std::int64_t> checked_shape(hid_t dataset_id, element type, const std::string& what);
// A 1-D dataset of variable-length UTF-8 strings: a column of names in a table.
void write_text_column(hid_t parent, const std::string& name, const std::vector<std::string>& values);
// Its `rows` values, after checking it is a 1-D variable-length string dataset of that many
// rows stored as checked_shape requires; a value longer than max_text_bytes is refused.
std::vector<std::string> read_text_column(hid_t dataset_id, std::int64_t rows, const std::string& what);

// Overwrites a whole dataset of the same shape.
void write_whole(hid_t dataset_id, element type, const void* data, const std::string& what);
// Reads a whole dataset whose shape was checked; `out` must hold its elements.
void read_array(hid_t dataset_id, element type, void* out, const std::string& what);

}  // namespace trackbench::tracking::hdf5
