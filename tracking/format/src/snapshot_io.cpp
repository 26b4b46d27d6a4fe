#include "snapshot_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>
#include <system_error>

namespace trackbench::tracking::snapshot_io {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using schema::value_type;

constexpr std::size_t max_links = 100000;
constexpr std::size_t max_attributes = 256;
constexpr int class_count = 10;

constexpr std::size_t disk_block = 4096;  // a multiple of every logical block size O_DIRECT asks for

// Writes all of [data, data + size) at the file's offset; 0 or the errno of the failure.
int write_all(int fd, const std::uint8_t* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t put = ::write(fd, data + done, size - done);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return put < 0 ? errno : EIO;
    done += static_cast<std::size_t>(put);
  }
  return 0;
}

// Writes and fsyncs a new file; the error names the path and the system's reason (ENOSPC, EFBIG).
// The image's whole blocks go to the disk directly (O_DIRECT): buffered, a 14 MB snapshot cost
// the writing thread 7 to 45 ms of CPU in copying to the page cache and writing it back, beside
// training; directly about 1 ms. The tail, and file systems without direct I/O, go buffered.
void write_new_file(const fs::path& path, const file_image& image) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "create " + path.string());
  const int flags = ::fcntl(fd, F_GETFL);
  std::size_t direct = image.size() / disk_block * disk_block;
  int failure = 0;
  if (direct > 0 && flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_DIRECT) == 0) {
    failure = write_all(fd, image.data(), direct);
    if (failure == EINVAL) {  // refused after all: everything goes buffered, from the start
      failure = ::lseek(fd, 0, SEEK_SET) == 0 ? 0 : errno;
      direct = 0;
    }
    if (::fcntl(fd, F_SETFL, flags) != 0 && failure == 0) failure = errno;
  } else {
    direct = 0;
  }
  if (failure == 0) failure = write_all(fd, image.data() + direct, image.size() - direct);
  if (failure == 0 && ::fsync(fd) != 0) failure = errno;
  ::close(fd);
  if (failure != 0) throw std::system_error(failure, std::generic_category(), "write " + path.string());
}

struct visited_link {
  std::string path;
  H5L_type_t type;
};

herr_t collect_link(hid_t group, const char* name, const H5L_info_t* info, void* out) {
  (void)group;
  auto& links = *static_cast<std::vector<visited_link>*>(out);
  if (links.size() >= max_links) return 1;  // stops the walk; reported by the caller
  links.push_back({name, info->type});
  return 0;
}

// Bob Jenkins' lookup3 hash (hashlittle), which HDF5 uses for its metadata checksums.
std::uint32_t lookup3(const std::uint8_t* key, std::size_t length) {
  const auto rotate = [](std::uint32_t x, int k) { return (x << k) | (x >> (32 - k)); };
  const auto word = [](const std::uint8_t* p) {
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
  };
  std::uint32_t a = 0xdeadbeef + static_cast<std::uint32_t>(length);
  std::uint32_t b = a;
  std::uint32_t c = a;
  for (; length > 12; length -= 12, key += 12) {
    a += word(key);
    b += word(key + 4);
    c += word(key + 8);
    a -= c; a ^= rotate(c, 4);  c += b;
    b -= a; b ^= rotate(a, 6);  a += c;
    c -= b; c ^= rotate(b, 8);  b += a;
    a -= c; a ^= rotate(c, 16); c += b;
    b -= a; b ^= rotate(a, 19); a += c;
    c -= b; c ^= rotate(b, 4);  b += a;
  }
  if (length == 0) return c;
  std::uint8_t tail[12] = {};
  std::memcpy(tail, key, length);
  a += word(tail);
  b += word(tail + 4);
  c += word(tail + 8);
  c ^= b; c -= rotate(b, 14);
  a ^= c; a -= rotate(c, 11);
  b ^= a; b -= rotate(a, 25);
  c ^= b; c -= rotate(b, 16);
  a ^= c; a -= rotate(c, 4);
  b ^= a; b -= rotate(a, 14);
  c ^= b; c -= rotate(b, 24);
  return c;
}

// HDF5 1.10's H5Fget_file_image clears the superblock's status flags (open for writing) in the
// image but keeps the checksum of the flags as they were, so no reader would open the image
// (HDF5 fixed this after 1.10). Superblocks 2 and 3 are signature, version, the sizes of
// offsets and lengths, the flags, four addresses, then the checksum of all that.
void fix_superblock_checksum(file_image& file) {
  std::uint8_t* image = file.data();
  if (file.size() < 12 || image[8] < 2) return;  // superblocks 0 and 1 carry no checksum
  const std::size_t covered = 12 + 4 * std::size_t{image[9]};
  if (file.size() < covered + 4) return;
  const std::uint32_t sum = lookup3(image, covered);
  for (std::size_t i = 0; i < 4; ++i) image[covered + i] = static_cast<std::uint8_t>(sum >> (8 * i));
}

herr_t collect_attribute(hid_t object, const char* name, const H5A_info_t* info, void* out) {
  (void)object;
  (void)info;
  auto& names = *static_cast<std::vector<std::string>*>(out);
  if (names.size() >= max_attributes) return 1;
  names.emplace_back(name);
  return 0;
}

}  // namespace

std::vector<std::string> attribute_names(hid_t object, const std::string& what) {
  std::vector<std::string> names;
  hsize_t index = 0;
  hdf5::check(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, &index, collect_attribute, &names),
              "attributes of " + what);
  if (names.size() >= max_attributes) throw hdf5::error(what + " has too many attributes");
  return names;
}

bool plain_name(const std::string& name) {
  const auto allowed = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '+' ||
           c == '-';
  };
  return !name.empty() && name.size() <= 128 && name != "." && name != ".." && std::all_of(name.begin(), name.end(), allowed);
}

bool decimal_digits(const std::string& text, std::size_t fewest, std::size_t most) {
  return text.size() >= fewest && text.size() <= most &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::string> component_under(const std::string& path, const std::string& parent) {
  if (path.size() <= parent.size() + 1 || path.compare(0, parent.size(), parent) != 0 || path[parent.size()] != '/') {
    return std::nullopt;
  }
  auto name = path.substr(parent.size() + 1);
  if (name.find('/') != std::string::npos) return std::nullopt;
  return name;
}

void fsync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + dir.string());
  const int status = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (status != 0) throw std::system_error(saved, std::generic_category(), "fsync " + dir.string());
}

void file_image::free_memory::operator()(std::uint8_t* p) const { std::free(p); }

void file_image::resize(std::size_t size) {
  if (size > capacity_) {
    const std::size_t capacity = (size + disk_block - 1) / disk_block * disk_block;
    void* memory = std::aligned_alloc(disk_block, capacity);
    if (memory == nullptr) throw std::bad_alloc();
    bytes_.reset(static_cast<std::uint8_t*>(memory));
    capacity_ = capacity;
  }
  size_ = size;
}

hdf5::id create_in_memory(const std::string& name, std::size_t expected_bytes) {
  hdf5::initialise();
  const hdf5::id access = hdf5::plist(H5Pcreate(H5P_FILE_ACCESS), "file access");
  // The core driver grows its memory by this much at a time.
  const std::size_t increment = std::max(std::size_t{8} << 20, expected_bytes + (std::size_t{1} << 20));
  hdf5::check(H5Pset_fapl_core(access.get(), increment, false), "core driver");
  // The 1.10 file format checksums the superblock, object headers (and so the attributes in
  // them), B-trees and heaps, so a flipped byte there is a read error rather than another
  // value. Fixed at 1.10, not "latest", so Debian's HDF5 1.10 and its h5py still read it.
  hdf5::check(H5Pset_libver_bounds(access.get(), H5F_LIBVER_V110, H5F_LIBVER_V110), "file format version");
  return hdf5::file(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()), "creating " + name);
}

void take_image(hid_t file, file_image& image) {
  hdf5::check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flushing");
  const ssize_t size = H5Fget_file_image(file, nullptr, 0);
  hdf5::check(static_cast<hid_t>(size), "file image size");
  image.resize(static_cast<std::size_t>(size));
  hdf5::check(static_cast<hid_t>(H5Fget_file_image(file, image.data(), image.size())), "file image");
  fix_superblock_checksum(image);
}

void write_durably(const fs::path& target, const file_image& image) {
  const fs::path temporary = target.parent_path() / ("." + target.filename().string() + ".tmp");
  try {
    std::error_code ignored;
    fs::remove(temporary, ignored);  // a leftover of a killed write
    write_new_file(temporary, image);
    fs::rename(temporary, target);
    fsync_directory(target.parent_path().empty() ? fs::path(".") : target.parent_path());
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

void write_fields(hid_t group, const std::vector<schema::field>& fields, const json& values, const std::string& where) {
  for (const auto& field : fields) {
    const auto found = values.find(field.name);
    if (found == values.end()) throw std::logic_error("snapshot section " + where + " lacks field " + field.name);
    const auto& value = *found;
    if (const auto broken = schema::rule_violation(field.rule, value)) {
      throw std::logic_error("snapshot section " + where + " field " + field.name + " " + *broken);
    }
    switch (field.type) {
      case value_type::text:
        hdf5::write_text(group, field.name, value.get<std::string>());
        break;
      case value_type::int64:
        hdf5::write_int64(group, field.name, value.get<std::int64_t>());
        break;
      case value_type::uint64:
        hdf5::write_uint64(group, field.name, value.get<std::uint64_t>());
        break;
      case value_type::float64:
        hdf5::write_float64(group, field.name, value.get<double>());
        break;
      case value_type::boolean:
        hdf5::write_bool(group, field.name, value.get<bool>());
        break;
      case value_type::int64_array: {
        const auto counts = value.get<std::vector<std::int64_t>>();
        if (counts.size() != class_count) throw std::logic_error(where + "." + field.name + " needs 10 values");
        hdf5::write_array(group, field.name, hdf5::element::int64, {class_count}, counts.data(), false);
        break;
      }
    }
  }
}

void write_environment(hid_t file, const json& environment) {
  const hdf5::id group = hdf5::create_group(file, "environment");
  write_fields(group.get(), schema::environment_fields(), environment, "environment");
  const hdf5::id gpus = hdf5::create_group(group.get(), "gpus");
  for (const auto& gpu : environment.at("gpus")) {
    const hdf5::id one = hdf5::create_group(gpus.get(), std::to_string(gpu.at("index").get<std::int64_t>()));
    write_fields(one.get(), schema::gpu_fields(), gpu, "environment.gpus");
  }
}

void write_code(hid_t file, const json& code, const std::string& diff) {
  const hdf5::id group = hdf5::create_group(file, "code");
  write_fields(group.get(), schema::code_fields(), code, "code");
  hdf5::write_array(group.get(), "diff", hdf5::element::uint8, {static_cast<std::int64_t>(diff.size())}, diff.data(),
                    true);
}

void write_data(hid_t file, const std::vector<schema::field>& fields, const json& data) {
  const hdf5::id group = hdf5::create_group(file, "data");
  write_fields(group.get(), fields, data, "data");
  const hdf5::id files = hdf5::create_group(group.get(), "files");
  for (const auto& entry : data.at("files")) {
    const hdf5::id one = hdf5::create_group(files.get(), entry.at("name").get<std::string>());
    write_fields(one.get(), schema::data_file_fields(), entry, "data.files");
  }
}

hdf5::id open_file(const fs::path& path) {
  hdf5::initialise();
  if (H5Fis_hdf5(path.c_str()) <= 0) throw hdf5::error("not an HDF5 file (or truncated before its superblock)");
  return hdf5::file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "cannot open as HDF5");
}

hdf5::id open_image(const std::vector<std::uint8_t>& image) {
  hdf5::initialise();
  // Without an image the core driver would read a file of the given name from disk instead.
  if (image.empty()) throw hdf5::error("empty file image");
  const hdf5::id access = hdf5::plist(H5Pcreate(H5P_FILE_ACCESS), "file access");
  hdf5::check(H5Pset_fapl_core(access.get(), 1 << 16, false), "core driver");
  hdf5::check(H5Pset_file_image(access.get(), const_cast<std::uint8_t*>(image.data()), image.size()), "file image");
  // A name no file can have, so only the image is read; unique, because HDF5 hands out an
  // image already open under the same name instead of this one.
  static std::atomic<std::uint64_t> opened{0};
  const std::string unique = "/proc/self/trackbench-file-image-" + std::to_string(++opened);
  return hdf5::file(H5Fopen(unique.c_str(), H5F_ACC_RDONLY, access.get()), "cannot open as HDF5");
}

std::string read_schema(hid_t file) {
  const hdf5::id root = open_group(file, "/");
  if (hdf5::check(H5Aexists(root.get(), "schema"), "the root group") <= 0) {
    throw hdf5::error("not a trackbench snapshot: the root group has no 'schema' attribute");
  }
  return hdf5::read_text(root.get(), "schema");
}

std::int64_t check_identity(hid_t file, const std::string& schema, std::int64_t version, const std::string& kind) {
  const std::string found = read_schema(file);
  if (found != schema) {
    throw hdf5::error("not a trackbench " + kind + " snapshot: schema is '" + found + "', expected '" + schema + "'");
  }
  const hdf5::id root = open_group(file, "/");
  const std::int64_t stored = hdf5::read_int64(root.get(), "schema_version");
  if (stored > version) {
    throw hdf5::error("written with " + (kind == "run" ? std::string() : kind + " ") + "snapshot schema version " +
                      std::to_string(stored) + "; this trackbench reads up to " + std::to_string(version) +
                      ": use a newer trackbench");
  }
  if (stored < 1) throw hdf5::error("schema_version " + std::to_string(stored) + " is not valid");
  return stored;
}

void check_links(hid_t file, const std::function<std::optional<object_kind>(const std::string&)>& kind_of) {
  std::vector<visited_link> links;
  hdf5::check(H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, collect_link, &links), "walking the file");
  if (links.size() >= max_links) throw hdf5::error("the file holds more objects than a snapshot can");
  for (const auto& link : links) {
    // Long names are refused before any pattern match, and never echoed whole.
    if (link.path.size() > 512) throw hdf5::error("an object name is longer than 512 characters: '" + link.path.substr(0, 64) + "...'");
    if (link.type != H5L_TYPE_HARD) {
      throw hdf5::error("'" + link.path + "' is a " + (link.type == H5L_TYPE_EXTERNAL ? "external" : "soft or user-defined") +
                        " link; snapshots hold only plain objects");
    }
    const auto expected = kind_of(link.path);
    if (!expected) throw hdf5::error("'" + link.path + "' is not part of the snapshot schema");
    H5O_info_t info{};
    hdf5::check(H5Oget_info_by_name2(file, link.path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), link.path);
    const bool is_group = info.type == H5O_TYPE_GROUP;
    const bool is_dataset = info.type == H5O_TYPE_DATASET;
    if ((*expected == object_kind::group && !is_group) || (*expected == object_kind::dataset && !is_dataset)) {
      throw hdf5::error("'" + link.path + "' should be a " + (*expected == object_kind::group ? "group" : "dataset"));
    }
  }
}

std::optional<object_kind> section_kind(const std::string& path, const std::vector<schema::field>& data_fields) {
  static const std::set<std::string> groups{"environment", "environment/gpus", "code", "data", "data/files"};
  if (groups.count(path) > 0) return object_kind::group;
  if (const auto gpu = component_under(path, "environment/gpus"); gpu && decimal_digits(*gpu, 1, 3)) return object_kind::group;
  if (const auto file = component_under(path, "data/files")) {
    return plain_name(*file) ? std::optional(object_kind::group) : std::nullopt;
  }
  if (path == "code/diff") return object_kind::dataset;
  for (const auto& field : data_fields) {
    if (field.type == value_type::int64_array && path == "data/" + field.name) return object_kind::dataset;
  }
  return std::nullopt;
}

json read_fields(hid_t object, const std::vector<schema::field>& all_fields, const std::string& where,
                 std::int64_t version) {
  std::set<std::string> expected;
  for (const auto& field : all_fields) {
    if (field.since <= version && field.type != value_type::int64_array) expected.insert(field.name);
  }
  for (const auto& name : attribute_names(object, where)) {
    if (expected.count(name) == 0) throw hdf5::error(where + " has attribute '" + name + "', which the schema does not define");
  }
  json values = json::object();
  for (const auto& field : all_fields) {
    if (field.since > version) {
      if (!field.before.is_null()) values[field.name] = field.before;  // in schema order, like the rest
      continue;
    }
    const std::string what = where + " '" + field.name + "'";
    const bool attribute = field.type != value_type::int64_array;
    if (hdf5::check(attribute ? H5Aexists(object, field.name.c_str()) : H5Lexists(object, field.name.c_str(), H5P_DEFAULT),
                    what) <= 0) {
      throw hdf5::error(where + " lacks '" + field.name + "', which files of this schema version carry");
    }
    try {
      switch (field.type) {
        case value_type::text:
          values[field.name] = hdf5::read_text(object, field.name);
          break;
        case value_type::int64:
          values[field.name] = hdf5::read_int64(object, field.name);
          break;
        case value_type::uint64:
          values[field.name] = hdf5::read_uint64(object, field.name);
          break;
        case value_type::float64:
          values[field.name] = hdf5::read_float64(object, field.name);
          break;
        case value_type::boolean:
          values[field.name] = hdf5::read_bool(object, field.name);
          break;
        case value_type::int64_array: {
          const hdf5::id set = hdf5::dataset(H5Dopen2(object, field.name.c_str(), H5P_DEFAULT), what);
          if (hdf5::checked_shape(set.get(), hdf5::element::int64, what) != std::vector<std::int64_t>{class_count}) {
            throw hdf5::error(what + " must hold 10 values");
          }
          std::vector<std::int64_t> counts(class_count);
          hdf5::read_array(set.get(), hdf5::element::int64, counts.data(), what);
          values[field.name] = counts;
          break;
        }
      }
    } catch (const hdf5::error& e) {
      throw hdf5::error(where + ": " + e.what());
    }
    if (const auto broken = schema::rule_violation(field.rule, values[field.name])) throw hdf5::error(what + " " + *broken);
  }
  return values;
}

hdf5::id open_group(hid_t parent, const std::string& name) {
  return hdf5::group(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), "group " + name);
}

std::vector<std::string> children(hid_t group) {
  std::vector<visited_link> links;
  hsize_t index = 0;
  hdf5::check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, collect_link, &links), "listing a group");
  std::vector<std::string> names;
  for (const auto& link : links) names.push_back(link.path);
  return names;
}

json read_environment(hid_t file, std::int64_t version) {
  const hdf5::id environment = open_group(file, "environment");
  json values = read_fields(environment.get(), schema::environment_fields(), "environment", version);
  const hdf5::id gpus = open_group(environment.get(), "gpus");
  values["gpus"] = json::array();
  for (const auto& name : children(gpus.get())) {
    const hdf5::id gpu = open_group(gpus.get(), name);
    auto fields = read_fields(gpu.get(), schema::gpu_fields(), "environment/gpus/" + name, version);
    if (std::to_string(fields["index"].get<std::int64_t>()) != name) {
      throw hdf5::error("environment/gpus/" + name + " has index " + fields["index"].dump());
    }
    values["gpus"].push_back(std::move(fields));
  }
  return values;
}

json read_code(hid_t file, std::string& diff_text, std::int64_t version) {
  const hdf5::id code = open_group(file, "code");
  json values = read_fields(code.get(), schema::code_fields(), "code", version);
  const hdf5::id diff = hdf5::dataset(H5Dopen2(code.get(), "diff", H5P_DEFAULT), "code/diff");
  const auto shape = hdf5::checked_shape(diff.get(), hdf5::element::uint8, "code/diff");
  const auto stored = values["diff_stored_bytes"].get<std::int64_t>();
  if (shape != std::vector<std::int64_t>{stored} || stored < 0 || stored > (std::int64_t{1} << 20)) {
    throw hdf5::error("code/diff must hold diff_stored_bytes (at most 1 MiB) bytes");
  }
  if (!attribute_names(diff.get(), "code/diff").empty()) throw hdf5::error("code/diff carries unexpected attributes");
  diff_text.resize(static_cast<std::size_t>(stored));
  if (stored > 0) hdf5::read_array(diff.get(), hdf5::element::uint8, diff_text.data(), "code/diff");
  return values;
}

json read_data(hid_t file, const std::vector<schema::field>& fields, std::int64_t version) {
  const hdf5::id data = open_group(file, "data");
  json values = read_fields(data.get(), fields, "data", version);
  const hdf5::id files = open_group(data.get(), "files");
  values["files"] = json::array();
  for (const auto& name : children(files.get())) {
    const hdf5::id entry = open_group(files.get(), name);
    json one{{"name", name}};
    one.update(read_fields(entry.get(), schema::data_file_fields(), "data/files/" + name, version));
    values["files"].push_back(std::move(one));
  }
  return values;
}

void hash_sections(canonical_hash& hash, const json& environment, const json& code, const std::string& diff,
                   const std::vector<schema::field>& data_fields, const json& data, std::int64_t version) {
  hash.fields(schema::environment_fields(), environment, version);
  hash.list(environment.at("gpus"), schema::gpu_fields(), version,
            [](const json& gpu) { return std::to_string(gpu.at("index").get<std::int64_t>()); });
  hash.fields(schema::code_fields(), code, version);
  hash.text(diff);
  hash.fields(data_fields, data, version);
  hash.list(data.at("files"), schema::data_file_fields(), version,
            [](const json& file) { return file.at("name").get<std::string>(); });
}

}  // namespace trackbench::tracking::snapshot_io
