#pragma once
// What run snapshots (snapshot.cpp) and bench snapshots (bench_snapshot.cpp) share: the crash-safe
// write of a file image, opening a file or an image for validation, identifying a file by
// its schema, the link walk that refuses anything a schema does not define, typed field
// tables, and the /environment, /code and /data sections.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <memory>

#include "hdf5_io.h"
#include "trackbench/tracking/format/schema.h"
#include "trackbench/trainer/checksum.h"

namespace trackbench::tracking::snapshot_io {

// ---- writing -----------------------------------------------------------------------------

// A file's bytes in page-aligned memory, so that write_durably can hand whole blocks of it to
// the disk directly. Reused: resize() reallocates only to grow.
class file_image {
 public:
  const std::uint8_t* data() const { return bytes_.get(); }
  std::uint8_t* data() { return bytes_.get(); }
  std::size_t size() const { return size_; }
  // Makes it `size` bytes long; the content is undefined.
  void resize(std::size_t size);

 private:
  struct free_memory {
    void operator()(std::uint8_t* p) const;
  };
  std::unique_ptr<std::uint8_t, free_memory> bytes_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// An empty HDF5 file on the core (in-memory) driver, in the checksummed 1.10 format; HDF5
// never writes to disk itself. `expected_bytes` (the last image of the same file) sizes its
// memory, which otherwise grows by copying.
hdf5::id create_in_memory(const std::string& name, std::size_t expected_bytes = 0);
// Flushes the file and copies its image into `image`.
void take_image(hid_t file, file_image& image);
// Writes the image to .<name>.tmp beside `target`, fsyncs it, renames it over `target` and
// fsyncs the folder: the path names the previous complete file or the new one, never a part.
void write_durably(const std::filesystem::path& target, const file_image& image);
// Makes a change to the entries of folder `dir` (a rename, a new folder) durable.
void fsync_directory(const std::filesystem::path& dir);

// Writes each field of `fields` from `values` as an attribute (int64_array fields as datasets).
// A missing or mistyped field is a bug, not bad input: std::logic_error.
void write_fields(hid_t group, const std::vector<schema::field>& fields, const nlohmann::ordered_json& values,
                  const std::string& where);
// /environment with gpus/<index>; /code with its diff; /data (its `fields`) with files/<name>.
void write_environment(hid_t file, const nlohmann::ordered_json& environment);
void write_code(hid_t file, const nlohmann::ordered_json& code, const std::string& diff);
void write_data(hid_t file, const std::vector<schema::field>& fields, const nlohmann::ordered_json& data);

// ---- reading -----------------------------------------------------------------------------

// A file read-only (it must be a regular file with an HDF5 superblock) or an image in memory.
// Errors are hdf5::error; the caller names the file.
hdf5::id open_file(const std::filesystem::path& path);
hdf5::id open_image(const std::vector<std::uint8_t>& image);
// The root's `schema` attribute; hdf5::error when it has none.
std::string read_schema(hid_t file);
// Checks the root says `schema` at a version from 1 to `version`, and returns the file's
// version; `kind` ("run", "bench") words the error for a foreign file.
std::int64_t check_identity(hid_t file, const std::string& schema, std::int64_t version, const std::string& kind);

enum class object_kind { group, dataset };
// Walks every link (at most 100,000): each must be hard, at most 512 characters, and of the
// kind `kind_of` gives its path; nullopt means the schema does not define it.
void check_links(hid_t file, const std::function<std::optional<object_kind>(const std::string&)>& kind_of);
// The kind of the objects under /environment, /code and /data with `data_fields`.
std::optional<object_kind> section_kind(const std::string& path, const std::vector<schema::field>& data_fields);

hdf5::id open_group(hid_t parent, const std::string& name);
// Child names of a group, in name order.
std::vector<std::string> children(hid_t group);
// Attribute names of an object (at most 256).
std::vector<std::string> attribute_names(hid_t object, const std::string& what);
// Names a user, the model or a benchmark chose: [A-Za-z0-9_.+-]{1,128}, not "." or "..".
bool plain_name(const std::string& name);
// `text` is `fewest` to `most` decimal digits. (Layout checks run for every object of every file
// a listing reads, so they match by hand rather than with std::regex.)
bool decimal_digits(const std::string& text, std::size_t fewest, std::size_t most);
// The last component of `path` when `path` is `parent`/NAME with NAME one non-empty component.
std::optional<std::string> component_under(const std::string& path, const std::string& parent);

// Reads exactly the schema's fields of one group, refusing attributes it does not define;
// fields added after the file's schema `version` (schema::field::since) are neither expected
// nor allowed, and read as the value they stand for (schema::field::before) when they have one.
// A missing field of the file's version is an error naming it.
nlohmann::ordered_json read_fields(hid_t object, const std::vector<schema::field>& fields, const std::string& where,
                                   std::int64_t version);
// The shared sections of a file of run schema `version` (schema::sections_version for a bench file).
nlohmann::ordered_json read_environment(hid_t file, std::int64_t version);
nlohmann::ordered_json read_code(hid_t file, std::string& diff, std::int64_t version);
nlohmann::ordered_json read_data(hid_t file, const std::vector<schema::field>& fields, std::int64_t version);

// ---- record digests ----------------------------------------------------------------------

// The canonical serialisation a snapshot's record_sha256 is taken over (docs/snapshot-format.md,
// "Checksums"): fields in schema order as their name and value (text as a 64-bit length and
// its bytes, numbers as their 8 bytes little-endian, booleans as one byte); lists of named
// objects (GPUs, data files) as their count, then each name and fields in name order.
class canonical_hash {
 public:
  void bytes(const void* data, std::size_t size) { hasher_.update(data, size); }
  void count(std::uint64_t value) { bytes(&value, sizeof value); }
  void text(const std::string& value) {
    count(value.size());
    bytes(value.data(), value.size());
  }
  void number(std::int64_t value) { bytes(&value, sizeof value); }
  void number(double value) { bytes(&value, sizeof value); }

  void fields(const std::vector<schema::field>& fields, const nlohmann::ordered_json& values, std::int64_t version,
              const std::string& skipped = "") {
    for (const auto& field : fields) {
      if (field.since > version || field.name == skipped) continue;
      text(field.name);
      const auto& value = values.at(field.name);
      switch (field.type) {
        case schema::value_type::text:
          text(value.get<std::string>());
          break;
        case schema::value_type::int64:
          number(value.get<std::int64_t>());
          break;
        case schema::value_type::uint64:
          count(value.get<std::uint64_t>());
          break;
        case schema::value_type::float64:
          number(value.get<double>());
          break;
        case schema::value_type::boolean: {
          const std::uint8_t flag = value.get<bool>() ? 1 : 0;
          bytes(&flag, 1);
          break;
        }
        case schema::value_type::int64_array:
          for (const auto element : value.get<std::vector<std::int64_t>>()) number(element);
          break;
      }
    }
  }

  // The objects of `list` in the order of the key `name_of` gives them.
  template <typename Name>
  void list(const nlohmann::ordered_json& items, const std::vector<schema::field>& fields, std::int64_t version,
            Name&& name_of) {
    std::map<std::string, const nlohmann::ordered_json*> sorted;
    for (const auto& item : items) sorted[name_of(item)] = &item;
    count(sorted.size());
    for (const auto& [name, item] : sorted) {
      text(name);
      this->fields(fields, *item, version);
    }
  }

  std::string hex() { return hasher_.hex_digest(); }

 private:
  trainer::sha256_hasher hasher_;
};

// The /environment (with its GPUs), /code (with the diff) and /data (with its files) sections.
void hash_sections(canonical_hash& hash, const nlohmann::ordered_json& environment, const nlohmann::ordered_json& code,
                   const std::string& diff, const std::vector<schema::field>& data_fields,
                   const nlohmann::ordered_json& data, std::int64_t version);

}  // namespace trackbench::tracking::snapshot_io
