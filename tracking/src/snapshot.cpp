#include "trackbench/tracking/snapshot.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <system_error>

#include "hdf5_io.h"
#include "schema.h"
#include "trackbench/trainer/checksum.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using schema::value_type;

constexpr std::int64_t max_epochs = 100000;
constexpr std::int64_t max_array_bytes = std::int64_t{1} << 30;
constexpr std::size_t max_links = 100000;
constexpr std::size_t max_attributes = 256;
constexpr int class_count = 10;

hdf5::element to_hdf5(element_type type) {
  switch (type) {
    case element_type::float32:
      return hdf5::element::float32;
    case element_type::int64:
      return hdf5::element::int64;
    case element_type::uint8:
      return hdf5::element::uint8;
  }
  return hdf5::element::float32;
}

std::string epoch_group(std::int64_t epoch) {
  char name[32];
  std::snprintf(name, sizeof name, "epoch_%04lld", static_cast<long long>(epoch));
  return name;
}

}  // namespace

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03lldZ", text, static_cast<long long>(millis));
  return out;
}

namespace {

// ---- writing -------------------------------------------------------------------------------

// The sections are built by this program; a missing or mistyped field is a bug, not bad input.
void write_fields(hid_t group, const std::vector<schema::field>& fields, const json& values, const std::string& where) {
  for (const auto& field : fields) {
    const auto found = values.find(field.name);
    if (found == values.end()) throw std::logic_error("snapshot section " + where + " lacks field " + field.name);
    const auto& value = *found;
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

void write_array_record(hid_t parent, const array_record& array, bool compress) {
  const hdf5::id set = hdf5::write_array(parent, array.name, to_hdf5(array.type), array.shape, array.bytes.data(), compress);
  hdf5::write_text(set.get(), "sha256", array.sha256());
}

// The resume state is replaced every epoch. Its arrays keep their shape, so they are
// rewritten in place (uncompressed) rather than deleted, which would leave dead space.
void overwrite_array_record(hid_t parent, const array_record& array) {
  if (hdf5::check(H5Lexists(parent, array.name.c_str(), H5P_DEFAULT), array.name) <= 0) {
    write_array_record(parent, array, false);
    return;
  }
  const hdf5::id set = hdf5::dataset(H5Dopen2(parent, array.name.c_str(), H5P_DEFAULT), array.name);
  if (hdf5::checked_shape(set.get(), to_hdf5(array.type), array.name) != array.shape) {
    throw hdf5::error("state array " + array.name + " changed shape");
  }
  hdf5::write_whole(set.get(), to_hdf5(array.type), array.bytes.data(), array.name);
  hdf5::write_text(set.get(), "sha256", array.sha256());
}

void write_sections(hid_t file, const run_record& record) {
  const hdf5::id root = hdf5::group(H5Gopen2(file, "/", H5P_DEFAULT), "/");
  write_fields(root.get(), schema::identity_fields(), record.identity, "identity");

  const hdf5::id tags = hdf5::create_group(file, "tags");
  for (const auto& [key, value] : record.tags.items()) hdf5::write_text(tags.get(), key, value.get<std::string>());

  const hdf5::id config = hdf5::create_group(file, "config");
  write_fields(config.get(), schema::config_fields(), record.config, "config");

  const hdf5::id environment = hdf5::create_group(file, "environment");
  write_fields(environment.get(), schema::environment_fields(), record.environment, "environment");
  const hdf5::id gpus = hdf5::create_group(environment.get(), "gpus");
  for (const auto& gpu : record.environment.at("gpus")) {
    const hdf5::id one = hdf5::create_group(gpus.get(), std::to_string(gpu.at("index").get<std::int64_t>()));
    write_fields(one.get(), schema::gpu_fields(), gpu, "environment.gpus");
  }

  const hdf5::id code = hdf5::create_group(file, "code");
  write_fields(code.get(), schema::code_fields(), record.code, "code");
  hdf5::write_array(code.get(), "diff", hdf5::element::uint8, {static_cast<std::int64_t>(record.code_diff.size())},
                    record.code_diff.data(), true);

  const hdf5::id data = hdf5::create_group(file, "data");
  write_fields(data.get(), schema::data_fields(), record.data, "data");
  const hdf5::id files = hdf5::create_group(data.get(), "files");
  for (const auto& entry : record.data.at("files")) {
    const hdf5::id one = hdf5::create_group(files.get(), entry.at("name").get<std::string>());
    write_fields(one.get(), schema::data_file_fields(), entry, "data.files");
  }

  const hdf5::id metrics = hdf5::create_group(file, "metrics");
  for (const auto& column : schema::metric_columns()) {
    hdf5::create_growing(metrics.get(), column.name, column.integer ? hdf5::element::int64 : hdf5::element::float64, {});
  }
  hdf5::create_growing(metrics.get(), "test_confusion", hdf5::element::int64, {class_count, class_count});
  hdf5::create_growing(metrics.get(), "validation_confusion", hdf5::element::int64, {class_count, class_count});
  hdf5::create_group(file, "weights");
  hdf5::create_group(file, "state");
}

void append_metrics(hid_t file, const trainer::epoch_metrics& metrics) {
  const hdf5::id group = hdf5::group(H5Gopen2(file, "metrics", H5P_DEFAULT), "metrics");
  for (const auto& column : schema::metric_columns()) {
    const double value = column.get(metrics);
    if (column.integer) {
      const auto stored = static_cast<std::int64_t>(value);
      hdf5::append_rows(group.get(), column.name, hdf5::element::int64, {}, 1, &stored);
    } else {
      hdf5::append_rows(group.get(), column.name, hdf5::element::float64, {}, 1, &value);
    }
  }
  const trainer::confusion_matrix empty{};
  hdf5::append_rows(group.get(), "test_confusion", hdf5::element::int64, {class_count, class_count}, 1,
                    metrics.test.confusion.data());
  hdf5::append_rows(group.get(), "validation_confusion", hdf5::element::int64, {class_count, class_count}, 1,
                    metrics.validation ? metrics.validation->confusion.data() : empty.data());
}

void write_state(hid_t file, const saved_state& state) {
  const hdf5::id group = hdf5::group(H5Gopen2(file, "state", H5P_DEFAULT), "state");
  hdf5::write_int64(group.get(), "epochs_done", state.epochs_done);
  hdf5::write_uint64(group.get(), "next_shuffle_seed", state.next_shuffle_seed);
  auto open_or_create = [&](const char* name) {
    if (hdf5::check(H5Lexists(group.get(), name, H5P_DEFAULT), name) > 0) {
      return hdf5::group(H5Gopen2(group.get(), name, H5P_DEFAULT), name);
    }
    return hdf5::create_group(group.get(), name);
  };
  const hdf5::id optimizer = open_or_create("optimizer");
  for (const auto& array : state.optimizer) overwrite_array_record(optimizer.get(), array);
  const hdf5::id rng = open_or_create("rng");
  overwrite_array_record(rng.get(), state.cpu_generator);
  if (state.cuda_generator) overwrite_array_record(rng.get(), *state.cuda_generator);
}

// Makes a rename in `dir` durable.
void fsync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + dir.string());
  const int status = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (status != 0) throw std::system_error(saved, std::generic_category(), "fsync " + dir.string());
}

// Writes and fsyncs a new file; the error names the path and the system's reason (ENOSPC, EFBIG).
void write_new_file(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "create " + path.string());
  std::size_t done = 0;
  int failure = 0;
  while (done < bytes.size() && failure == 0) {
    const ssize_t put = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) failure = put < 0 ? errno : EIO;
    else done += static_cast<std::size_t>(put);
  }
  if (failure == 0 && ::fsync(fd) != 0) failure = errno;
  ::close(fd);
  if (failure != 0) throw std::system_error(failure, std::generic_category(), "write " + path.string());
}

// ---- reading -------------------------------------------------------------------------------

enum class object_kind { group, dataset };

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

herr_t collect_attribute(hid_t object, const char* name, const H5A_info_t* info, void* out) {
  (void)object;
  (void)info;
  auto& names = *static_cast<std::vector<std::string>*>(out);
  if (names.size() >= max_attributes) return 1;
  names.emplace_back(name);
  return 0;
}

std::vector<std::string> attribute_names(hid_t object, const std::string& what) {
  std::vector<std::string> names;
  hsize_t index = 0;
  hdf5::check(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, &index, collect_attribute, &names),
              "attributes of " + what);
  if (names.size() >= max_attributes) throw hdf5::error(what + " has too many attributes");
  return names;
}

// Names a user or the model chose: tag keys, parameter and file names.
bool plain_name(const std::string& name) {
  static const std::regex pattern("[A-Za-z0-9_.+-]{1,128}");
  return name != "." && name != ".." && std::regex_match(name, pattern);
}

// The kind of object the schema puts at `path` (relative to the root), if any.
std::optional<object_kind> schema_kind(const std::string& path) {
  static const std::set<std::string> groups{"tags",    "config",  "environment", "environment/gpus", "code",
                                            "data",    "data/files", "metrics",  "weights",          "state",
                                            "state/optimizer", "state/rng"};
  if (groups.count(path) > 0) return object_kind::group;
  static const std::regex gpu("environment/gpus/[0-9]{1,3}");
  static const std::regex weights_epoch("weights/epoch_[0-9]{4,6}");
  static const std::regex weight("weights/epoch_[0-9]{4,6}/[^/]+");
  static const std::regex data_file("data/files/[^/]+");
  static const std::regex optimizer("state/optimizer/[^/]+");
  if (std::regex_match(path, gpu) || std::regex_match(path, weights_epoch)) return object_kind::group;
  if (std::regex_match(path, data_file)) {
    return plain_name(path.substr(path.rfind('/') + 1)) ? std::optional(object_kind::group) : std::nullopt;
  }
  if (std::regex_match(path, weight) || std::regex_match(path, optimizer)) {
    return plain_name(path.substr(path.rfind('/') + 1)) ? std::optional(object_kind::dataset) : std::nullopt;
  }
  if (path == "code/diff" || path == "state/rng/cpu" || path == "state/rng/cuda") return object_kind::dataset;
  if (path == "metrics/test_confusion" || path == "metrics/validation_confusion") return object_kind::dataset;
  for (const auto& column : schema::metric_columns()) {
    if (path == "metrics/" + column.name) return object_kind::dataset;
  }
  for (const auto& field : schema::data_fields()) {
    if (field.type == value_type::int64_array && path == "data/" + field.name) return object_kind::dataset;
  }
  return std::nullopt;
}

// Reads the schema's fields of one group, refusing attributes the schema does not define;
// fields added after the file's schema `version` are neither expected nor allowed.
json read_fields(hid_t object, const std::vector<schema::field>& all_fields, const std::string& where,
                 std::int64_t version) {
  std::vector<schema::field> fields;
  for (const auto& field : all_fields) {
    if (field.since <= version) fields.push_back(field);
  }
  std::set<std::string> expected;
  for (const auto& field : fields) {
    if (field.type != value_type::int64_array) expected.insert(field.name);
  }
  for (const auto& name : attribute_names(object, where)) {
    if (expected.count(name) == 0) throw hdf5::error(where + " has attribute '" + name + "', which the schema does not define");
  }
  json values = json::object();
  for (const auto& field : fields) {
    const std::string what = where + " '" + field.name + "'";
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
  }
  return values;
}

hdf5::id open_group(hid_t parent, const std::string& name) {
  return hdf5::group(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), "group " + name);
}

// Child names of a group, in name order.
std::vector<std::string> children(hid_t group) {
  std::vector<visited_link> links;
  hsize_t index = 0;
  hdf5::check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, collect_link, &links), "listing a group");
  std::vector<std::string> names;
  for (const auto& link : links) names.push_back(link.path);
  return names;
}

std::vector<double> read_column(hid_t group, const std::string& name, bool integer, std::int64_t rows) {
  const hdf5::id set = hdf5::dataset(H5Dopen2(group, name.c_str(), H5P_DEFAULT), "metrics/" + name);
  const auto type = integer ? hdf5::element::int64 : hdf5::element::float64;
  if (hdf5::checked_shape(set.get(), type, "metrics/" + name) != std::vector<std::int64_t>{rows}) {
    throw hdf5::error("metrics/" + name + " must have one value per epoch (" + std::to_string(rows) + ")");
  }
  std::vector<double> values(static_cast<std::size_t>(rows));
  if (integer) {
    std::vector<std::int64_t> stored(static_cast<std::size_t>(rows));
    if (rows > 0) hdf5::read_array(set.get(), type, stored.data(), "metrics/" + name);
    for (std::size_t i = 0; i < stored.size(); ++i) {
      // Counts and bytes; beyond 2^50 a value is corrupt, and would not survive the trip through double.
      if (stored[i] < -1 || stored[i] > (std::int64_t{1} << 50)) {
        throw hdf5::error("metrics/" + name + " row " + std::to_string(i) + " holds an impossible value");
      }
      values[i] = static_cast<double>(stored[i]);
    }
  } else if (rows > 0) {
    hdf5::read_array(set.get(), type, values.data(), "metrics/" + name);
  }
  return values;
}

std::vector<trainer::confusion_matrix> read_confusion(hid_t group, const std::string& name, std::int64_t rows) {
  const std::string what = "metrics/" + name;
  const hdf5::id set = hdf5::dataset(H5Dopen2(group, name.c_str(), H5P_DEFAULT), what);
  if (hdf5::checked_shape(set.get(), hdf5::element::int64, what) != std::vector<std::int64_t>{rows, class_count, class_count}) {
    throw hdf5::error(what + " must be [epochs, 10, 10]");
  }
  std::vector<trainer::confusion_matrix> matrices(static_cast<std::size_t>(rows));
  if (rows > 0) hdf5::read_array(set.get(), hdf5::element::int64, matrices.data(), what);
  return matrices;
}

struct array_layout {
  std::string name;
  element_type type;
  std::vector<std::int64_t> shape;
};

// Checks one stored array (its type, shape, size and only a sha256 attribute) without reading it.
array_layout check_array(hid_t parent, const std::string& name, element_type type, const std::string& what) {
  const hdf5::id set = hdf5::dataset(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), what);
  auto shape = hdf5::checked_shape(set.get(), to_hdf5(type), what);
  if (shape.size() > 4) throw hdf5::error(what + " has rank " + std::to_string(shape.size()) + "; at most 4 expected");
  std::int64_t count = 1;
  for (const auto dim : shape) {
    if (dim < 1) throw hdf5::error(what + " is empty");
    if (dim > max_array_bytes) throw hdf5::error(what + " is larger than 1 GiB");
    count *= dim;  // at most 2^30 * 2^30: checked below before it can grow further
    if (count * static_cast<std::int64_t>(hdf5::element_size(to_hdf5(type))) > max_array_bytes) {
      throw hdf5::error(what + " is larger than 1 GiB");
    }
  }
  const auto attributes = attribute_names(set.get(), what);
  if (attributes != std::vector<std::string>{"sha256"}) throw hdf5::error(what + " must carry exactly a sha256 attribute");
  const std::string digest = hdf5::read_text(set.get(), "sha256");
  if (digest.size() != 64) throw hdf5::error(what + " has a malformed sha256 attribute");
  return {name, type, std::move(shape)};
}

array_record read_array_record(hid_t parent, const array_layout& layout, const std::string& what) {
  const hdf5::id set = hdf5::dataset(H5Dopen2(parent, layout.name.c_str(), H5P_DEFAULT), what);
  array_record record{layout.name, layout.type, layout.shape, {}};
  record.bytes.resize(static_cast<std::size_t>(record.element_count()) * hdf5::element_size(to_hdf5(layout.type)));
  hdf5::read_array(set.get(), to_hdf5(layout.type), record.bytes.data(), what);
  const std::string stored = hdf5::read_text(set.get(), "sha256");
  if (record.sha256() != stored) throw hdf5::error(what + " does not match its SHA-256 (the file is corrupt)");
  return record;
}

element_type optimizer_type(const std::string& name) {
  return name.size() > 5 && name.compare(name.size() - 5, 5, ".step") == 0 ? element_type::int64 : element_type::float32;
}

}  // namespace

std::int64_t array_record::element_count() const {
  std::int64_t count = 1;
  for (const auto dim : shape) count *= dim;
  return count;
}

std::string array_record::sha256() const { return trainer::sha256_hex(bytes.data(), bytes.size()); }

bool keeps_weights(const run_record& record) { return record.config.at("keep_weights").get<std::string>() == "all"; }

std::string displayed_status(const run_record& record) {
  const auto status = record.identity.value("status", std::string());
  return status == "running" ? "interrupted" : status;
}

nlohmann::ordered_json to_json(const run_record& record) {
  json epochs = json::array();
  for (const auto& metrics : record.epochs) {
    json row = json::object();
    for (const auto& column : schema::metric_columns()) {
      const double value = column.get(metrics);
      if (column.integer) {
        row[column.name] = static_cast<std::int64_t>(value);
      } else if (std::isfinite(value)) {
        row[column.name] = value;
      } else {
        row[column.name] = nullptr;
      }
    }
    row["test_confusion"] = metrics.test.confusion;
    row["validation_confusion"] = metrics.validation ? json(metrics.validation->confusion) : json(nullptr);
    epochs.push_back(std::move(row));
  }
  json out = record.identity;
  out["tags"] = record.tags;
  out["config"] = record.config;
  out["environment"] = record.environment;
  out["code"] = record.code;
  out["code"]["diff"] = record.code_diff;
  out["data"] = record.data;
  out["epochs"] = std::move(epochs);
  return out;
}

// ---- snapshot_writer ---------------------------------------------------------------------

namespace {

double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Writes the image beside the target, fsyncs it and renames it over the target.
void write_durably(const fs::path& target, const std::vector<std::uint8_t>& image) {
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

}  // namespace

// HDF5 works on an image in memory (its core driver) and never writes to disk itself: it does
// not survive a failing disk write cleanly, and a commit must replace the file whole anyway.
struct snapshot_writer::in_memory_file {
  hdf5::id file;
  std::vector<std::uint8_t> image;  // reused, so later commits do not reallocate
  std::future<double> writing;      // of `image`, while valid; gives the CPU seconds it took
  std::size_t epochs_on_disk = 0;
  std::size_t epochs_being_written = 0;
  double background_cpu_seconds = 0.0;
};

snapshot_write_error snapshot_writer::failed_write(const std::string& reason) {
  failed_ = true;
  const std::size_t kept = file_ ? file_->epochs_on_disk : 0;
  return snapshot_write_error("writing snapshot " + path_.string() + " failed: " + reason + "; " + path_.string() +
                              " keeps its previous content (" + std::to_string(kept) + " epochs)");
}

void snapshot_writer::refuse_after_failure() const {
  if (failed_) throw snapshot_write_error("writing snapshot " + path_.string() + ": an earlier write of it failed");
}

void snapshot_writer::wait_for_disk() {
  if (!file_ || !file_->writing.valid()) return;
  try {
    file_->background_cpu_seconds += file_->writing.get();
    file_->epochs_on_disk = file_->epochs_being_written;
  } catch (const std::exception& e) {
    throw failed_write(e.what());
  }
}

template <typename Change>
void snapshot_writer::commit(Change&& change, std::size_t epochs_after, bool wait_after) {
  const auto start = std::chrono::steady_clock::now();
  refuse_after_failure();
  wait_for_disk();  // frees the image buffer; an earlier failure surfaces here
  try {
    if (!file_) {
      hdf5::initialise();
      const hdf5::id access = hdf5::plist(H5Pcreate(H5P_FILE_ACCESS), "file access");
      hdf5::check(H5Pset_fapl_core(access.get(), std::size_t{8} << 20, false), "core driver");
      file_ = std::make_unique<in_memory_file>();
      const std::string name = path_.string() + " (in memory)";
      file_->file = hdf5::file(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()),
                               "creating " + path_.string());
    }
    change(file_->file.get());
    hdf5::check(H5Fflush(file_->file.get(), H5F_SCOPE_GLOBAL), "flushing");
    const ssize_t size = H5Fget_file_image(file_->file.get(), nullptr, 0);
    hdf5::check(static_cast<hid_t>(size), "file image size");
    auto& image = file_->image;
    image.resize(static_cast<std::size_t>(size));
    hdf5::check(static_cast<hid_t>(H5Fget_file_image(file_->file.get(), image.data(), image.size())), "file image");
  } catch (const std::exception& e) {
    throw failed_write(e.what());  // the file in memory may hold part of the change
  }
  file_->epochs_being_written = epochs_after;
  file_->writing = std::async(std::launch::async, [this] {
    const double cpu_start = thread_cpu_seconds();
    write_durably(path_, file_->image);
    return thread_cpu_seconds() - cpu_start;
  });
  if (wait_after) wait_for_disk();
  seconds_writing_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

snapshot_writer::snapshot_writer(fs::path path, run_record record) : path_(std::move(path)), record_(std::move(record)) {
  record_.identity["status"] = "running";
  record_.identity["error"] = "";
  record_.identity["end_time"] = "";
  record_.epochs.clear();
  if (fs::exists(path_)) throw snapshot_write_error("snapshot " + path_.string() + " already exists");
  commit([&](hid_t file) { write_sections(file, record_); }, 0, true);
}

snapshot_writer::~snapshot_writer() {
  try {
    wait_for_disk();
  } catch (const snapshot_write_error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());  // plain stdio: the reader's fuzz build has no spdlog
  }
}

void snapshot_writer::wait() {
  refuse_after_failure();
  const auto start = std::chrono::steady_clock::now();
  wait_for_disk();
  seconds_writing_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double snapshot_writer::seconds_writing_in_background() const {
  return file_ ? file_->background_cpu_seconds : 0.0;
}

void snapshot_writer::append_epoch(const trainer::epoch_metrics& metrics, const std::vector<array_record>& parameters,
                                   const saved_state& state) {
  append_epochs({metrics}, {parameters}, state);
}

void snapshot_writer::append_epochs(const std::vector<trainer::epoch_metrics>& metrics,
                                    const std::vector<std::vector<array_record>>& parameters, const saved_state& state) {
  if (metrics.size() != parameters.size()) throw std::logic_error("append_epochs: one parameter list per epoch");
  if (!keeps_weights(record_)) throw std::logic_error("append_epochs: the snapshot keeps no weights");
  const auto change = [&](hid_t file) {
    const hdf5::id weights = hdf5::group(H5Gopen2(file, "weights", H5P_DEFAULT), "weights");
    for (std::size_t i = 0; i < metrics.size(); ++i) {
      append_metrics(file, metrics[i]);
      const auto epoch_number = static_cast<std::int64_t>(record_.epochs.size() + i) + 1;
      const hdf5::id epoch = hdf5::create_group(weights.get(), epoch_group(epoch_number));
      for (const auto& parameter : parameters[i]) write_array_record(epoch.get(), parameter, true);
    }
    write_state(file, state);
  };
  commit(change, record_.epochs.size() + metrics.size(), false);
  record_.epochs.insert(record_.epochs.end(), metrics.begin(), metrics.end());
}

void snapshot_writer::append_metrics_only(const trainer::epoch_metrics& metrics) {
  if (keeps_weights(record_)) throw std::logic_error("append_metrics_only: the snapshot keeps weights");
  commit([&](hid_t file) { append_metrics(file, metrics); }, record_.epochs.size() + 1, false);
  record_.epochs.push_back(metrics);
}

void snapshot_writer::finish(const std::string& status, const std::string& error) {
  const auto change = [&](hid_t file) {
    const hdf5::id root = hdf5::group(H5Gopen2(file, "/", H5P_DEFAULT), "/");
    hdf5::write_text(root.get(), "status", status);
    hdf5::write_text(root.get(), "error", error);
    hdf5::write_text(root.get(), "end_time", utc_timestamp());
  };
  commit(change, record_.epochs.size(), true);
  record_.identity["status"] = status;
  record_.identity["error"] = error;
}

// ---- snapshot_reader ---------------------------------------------------------------------

struct snapshot_reader::impl {
  std::string name;
  hdf5::id file;
  run_record record;
  std::vector<array_layout> weight_layout;  // the same in every epoch
  std::vector<array_layout> optimizer_layout;
  std::optional<array_layout> cpu_generator, cuda_generator;
  bool has_state = false;

  void validate_and_read();
  void check_structure();
  void read_weights_layout(hid_t weights);
  void read_state_layout(hid_t state);
};

void snapshot_reader::impl::check_structure() {
  std::vector<visited_link> links;
  hdf5::check(H5Lvisit(file.get(), H5_INDEX_NAME, H5_ITER_INC, collect_link, &links), "walking the file");
  if (links.size() >= max_links) throw hdf5::error("the file holds more objects than a snapshot can");
  for (const auto& link : links) {
    // Long names are refused before any pattern match, and never echoed whole.
    if (link.path.size() > 512) throw hdf5::error("an object name is longer than 512 characters: '" + link.path.substr(0, 64) + "...'");
    if (link.type != H5L_TYPE_HARD) {
      throw hdf5::error("'" + link.path + "' is a " + (link.type == H5L_TYPE_EXTERNAL ? "external" : "soft or user-defined") +
                        " link; snapshots hold only plain objects");
    }
    const auto expected = schema_kind(link.path);
    if (!expected) throw hdf5::error("'" + link.path + "' is not part of the snapshot schema");
    H5O_info_t info{};
    hdf5::check(H5Oget_info_by_name2(file.get(), link.path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), link.path);
    const bool is_group = info.type == H5O_TYPE_GROUP;
    const bool is_dataset = info.type == H5O_TYPE_DATASET;
    if ((*expected == object_kind::group && !is_group) || (*expected == object_kind::dataset && !is_dataset)) {
      throw hdf5::error("'" + link.path + "' should be a " + (*expected == object_kind::group ? "group" : "dataset"));
    }
  }
}

void snapshot_reader::impl::read_weights_layout(hid_t weights) {
  const auto epochs = static_cast<std::int64_t>(record.epochs.size());
  const auto names = children(weights);
  if (static_cast<std::int64_t>(names.size()) != epochs) {
    throw hdf5::error("weights has " + std::to_string(names.size()) + " epochs, metrics " + std::to_string(epochs));
  }
  for (std::int64_t epoch = 1; epoch <= epochs; ++epoch) {
    const std::string group_name = epoch_group(epoch);
    if (names[static_cast<std::size_t>(epoch - 1)] != group_name) throw hdf5::error("weights lacks " + group_name);
    const hdf5::id group = open_group(weights, group_name);
    if (!attribute_names(group.get(), "weights/" + group_name).empty()) {
      throw hdf5::error("weights/" + group_name + " has attributes the schema does not define");
    }
    std::vector<array_layout> layout;
    for (const auto& name : children(group.get())) {
      layout.push_back(check_array(group.get(), name, element_type::float32, "weights/" + group_name + "/" + name));
    }
    if (layout.empty()) throw hdf5::error("weights/" + group_name + " is empty");
    if (epoch == 1) {
      weight_layout = layout;
      continue;
    }
    for (std::size_t i = 0; i < layout.size() || i < weight_layout.size(); ++i) {
      if (i >= layout.size() || i >= weight_layout.size() || layout[i].name != weight_layout[i].name ||
          layout[i].shape != weight_layout[i].shape) {
        throw hdf5::error("weights/" + group_name + " does not hold the same parameters as epoch 1");
      }
    }
  }
}

void snapshot_reader::impl::read_state_layout(hid_t state) {
  const auto epochs = static_cast<std::int64_t>(record.epochs.size());
  const auto names = attribute_names(state, "state");
  if (names.empty() && children(state).empty()) {
    if (epochs > 0) throw hdf5::error("state is missing although " + std::to_string(epochs) + " epochs completed");
    return;
  }
  if (names != std::vector<std::string>{"epochs_done", "next_shuffle_seed"}) {
    throw hdf5::error("state must carry exactly the attributes epochs_done and next_shuffle_seed");
  }
  const std::int64_t done = hdf5::read_int64(state, "epochs_done");
  if (done != epochs) {
    throw hdf5::error("state is for epoch " + std::to_string(done) + " but the metrics end at " + std::to_string(epochs));
  }
  const hdf5::id optimizer = open_group(state, "optimizer");
  for (const auto& name : children(optimizer.get())) {
    optimizer_layout.push_back(check_array(optimizer.get(), name, optimizer_type(name), "state/optimizer/" + name));
  }
  const hdf5::id rng = open_group(state, "rng");
  cpu_generator = check_array(rng.get(), "cpu", element_type::uint8, "state/rng/cpu");
  if (hdf5::check(H5Lexists(rng.get(), "cuda", H5P_DEFAULT), "state/rng") > 0) {
    cuda_generator = check_array(rng.get(), "cuda", element_type::uint8, "state/rng/cuda");
  }
  has_state = true;
}

void snapshot_reader::impl::validate_and_read() {
  const hdf5::id root = open_group(file.get(), "/");
  // Identify the file before judging its layout, so a foreign file or a newer schema gets
  // that explanation rather than a complaint about some object.
  if (hdf5::check(H5Aexists(root.get(), "schema"), "the root group") <= 0) {
    throw hdf5::error("not a trackbench run snapshot: the root group has no 'schema' attribute");
  }
  const std::string schema = hdf5::read_text(root.get(), "schema");
  if (schema != schema_name) {
    throw hdf5::error("not a trackbench run snapshot: schema is '" + schema + "', expected '" + schema_name + "'");
  }
  const std::int64_t version = hdf5::read_int64(root.get(), "schema_version");
  if (version > schema_version) {
    throw hdf5::error("written with snapshot schema version " + std::to_string(version) + "; this trackbench reads up to " +
                      std::to_string(schema_version) + ": use a newer trackbench");
  }
  if (version < 1) throw hdf5::error("schema_version " + std::to_string(version) + " is not valid");
  check_structure();

  record.identity = read_fields(root.get(), schema::identity_fields(), "identity", version);
  static const std::set<std::string> statuses{"running", "completed", "failed", "interrupted"};
  if (statuses.count(record.identity["status"].get<std::string>()) == 0) {
    throw hdf5::error("identity 'status' is '" + record.identity["status"].get<std::string>() +
                      "'; expected running, completed, failed or interrupted");
  }
  {
    const hdf5::id tags = open_group(file.get(), "tags");
    if (!children(tags.get()).empty()) throw hdf5::error("tags holds objects; it may only carry attributes");
    for (const auto& key : attribute_names(tags.get(), "tags")) {
      if (!plain_name(key)) throw hdf5::error("tag key '" + key + "' is not a plain name");
      record.tags[key] = hdf5::read_text(tags.get(), key);
    }
  }
  {
    const hdf5::id config = open_group(file.get(), "config");
    record.config = read_fields(config.get(), schema::config_fields(), "config", version);
    if (version < 2) record.config["keep_weights"] = "all";  // version 1 always kept them
    const auto keep = record.config["keep_weights"].get<std::string>();
    if (keep != "all" && keep != "none") {
      throw hdf5::error("config 'keep_weights' is '" + keep + "'; expected all or none");
    }
  }
  {
    const hdf5::id environment = open_group(file.get(), "environment");
    record.environment = read_fields(environment.get(), schema::environment_fields(), "environment", version);
    const hdf5::id gpus = open_group(environment.get(), "gpus");
    record.environment["gpus"] = json::array();
    for (const auto& name : children(gpus.get())) {
      const hdf5::id gpu = open_group(gpus.get(), name);
      auto fields = read_fields(gpu.get(), schema::gpu_fields(), "environment/gpus/" + name, version);
      if (std::to_string(fields["index"].get<std::int64_t>()) != name) {
        throw hdf5::error("environment/gpus/" + name + " has index " + fields["index"].dump());
      }
      record.environment["gpus"].push_back(std::move(fields));
    }
  }
  {
    const hdf5::id code = open_group(file.get(), "code");
    record.code = read_fields(code.get(), schema::code_fields(), "code", version);
    const hdf5::id diff = hdf5::dataset(H5Dopen2(code.get(), "diff", H5P_DEFAULT), "code/diff");
    const auto shape = hdf5::checked_shape(diff.get(), hdf5::element::uint8, "code/diff");
    const auto stored = record.code["diff_stored_bytes"].get<std::int64_t>();
    if (shape != std::vector<std::int64_t>{stored} || stored < 0 || stored > (std::int64_t{1} << 20)) {
      throw hdf5::error("code/diff must hold diff_stored_bytes (at most 1 MiB) bytes");
    }
    if (!attribute_names(diff.get(), "code/diff").empty()) throw hdf5::error("code/diff carries unexpected attributes");
    record.code_diff.resize(static_cast<std::size_t>(stored));
    if (stored > 0) hdf5::read_array(diff.get(), hdf5::element::uint8, record.code_diff.data(), "code/diff");
  }
  {
    const hdf5::id data = open_group(file.get(), "data");
    record.data = read_fields(data.get(), schema::data_fields(), "data", version);
    const hdf5::id files = open_group(data.get(), "files");
    record.data["files"] = json::array();
    for (const auto& name : children(files.get())) {
      const hdf5::id entry = open_group(files.get(), name);
      json fields{{"name", name}};
      fields.update(read_fields(entry.get(), schema::data_file_fields(), "data/files/" + name, version));
      record.data["files"].push_back(std::move(fields));
    }
  }
  {
    const hdf5::id metrics = open_group(file.get(), "metrics");
    if (!attribute_names(metrics.get(), "metrics").empty()) throw hdf5::error("metrics carries unexpected attributes");
    const hdf5::id epoch_column = hdf5::dataset(H5Dopen2(metrics.get(), "epoch", H5P_DEFAULT), "metrics/epoch");
    const auto shape = hdf5::checked_shape(epoch_column.get(), hdf5::element::int64, "metrics/epoch");
    if (shape.size() != 1 || shape[0] > max_epochs) throw hdf5::error("metrics/epoch must be 1-D with at most 100000 rows");
    const std::int64_t rows = shape[0];
    record.epochs.resize(static_cast<std::size_t>(rows));
    for (const auto& column : schema::metric_columns()) {
      const auto values = read_column(metrics.get(), column.name, column.integer, rows);
      for (std::size_t i = 0; i < values.size(); ++i) column.set(record.epochs[i], values[i]);
    }
    const auto test = read_confusion(metrics.get(), "test_confusion", rows);
    const auto validation = read_confusion(metrics.get(), "validation_confusion", rows);
    for (std::size_t i = 0; i < record.epochs.size(); ++i) {
      auto& row = record.epochs[i];
      if (row.epoch != static_cast<int>(i) + 1) {
        throw hdf5::error("metrics/epoch row " + std::to_string(i) + " is " + std::to_string(row.epoch) + ", expected " +
                          std::to_string(i + 1));
      }
      row.test.confusion = test[i];
      if (row.validation) row.validation->confusion = validation[i];
    }
  }
  {
    const hdf5::id weights = open_group(file.get(), "weights");
    const hdf5::id state = open_group(file.get(), "state");
    if (keeps_weights(record)) {
      read_weights_layout(weights.get());
      read_state_layout(state.get());
    } else {
      if (!children(weights.get()).empty()) throw hdf5::error("weights holds epochs although config keep_weights is none");
      if (!children(state.get()).empty() || !attribute_names(state.get(), "state").empty()) {
        throw hdf5::error("state is not empty although config keep_weights is none");
      }
    }
  }
}

namespace {

template <typename Open>
std::unique_ptr<snapshot_reader::impl> open_snapshot(const std::string& name, Open&& open) {
  hdf5::initialise();
  auto state = std::make_unique<snapshot_reader::impl>();
  state->name = name;
  try {
    state->file = open();
    state->validate_and_read();
  } catch (const hdf5::error& e) {
    throw snapshot_error(name + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw snapshot_error(name + ": " + e.what());
  }
  return state;
}

}  // namespace

snapshot_reader::snapshot_reader(const fs::path& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) throw snapshot_error(path.string() + ": no such snapshot file");
  impl_ = open_snapshot(path.string(), [&] {
    if (H5Fis_hdf5(path.c_str()) <= 0) throw hdf5::error("not an HDF5 file (or truncated before its superblock)");
    return hdf5::file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "cannot open as HDF5");
  });
}

snapshot_reader::snapshot_reader(const std::vector<std::uint8_t>& image, const std::string& name) {
  impl_ = open_snapshot(name, [&] {
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
  });
}

snapshot_reader::~snapshot_reader() = default;
snapshot_reader::snapshot_reader(snapshot_reader&&) noexcept = default;

const run_record& snapshot_reader::record() const { return impl_->record; }

std::vector<array_record> snapshot_reader::weights(int epoch) const {
  if (!keeps_weights(impl_->record)) {
    throw snapshot_error(impl_->name + ": keeps no weights (the run was recorded with --keep-weights none)");
  }
  if (epoch < 1 || epoch > static_cast<int>(impl_->record.epochs.size())) {
    throw snapshot_error(impl_->name + ": has no weights for epoch " + std::to_string(epoch));
  }
  try {
    const std::string group_name = "weights/" + epoch_group(epoch);
    const hdf5::id group = open_group(impl_->file.get(), group_name);
    std::vector<array_record> out;
    for (const auto& layout : impl_->weight_layout) {
      out.push_back(read_array_record(group.get(), layout, group_name + "/" + layout.name));
    }
    return out;
  } catch (const hdf5::error& e) {
    throw snapshot_error(impl_->name + ": " + e.what());
  }
}

std::optional<saved_state> snapshot_reader::state() const {
  if (!impl_->has_state) return std::nullopt;
  try {
    const hdf5::id group = open_group(impl_->file.get(), "state");
    saved_state state;
    state.epochs_done = hdf5::read_int64(group.get(), "epochs_done");
    state.next_shuffle_seed = hdf5::read_uint64(group.get(), "next_shuffle_seed");
    const hdf5::id optimizer = open_group(group.get(), "optimizer");
    for (const auto& layout : impl_->optimizer_layout) {
      state.optimizer.push_back(read_array_record(optimizer.get(), layout, "state/optimizer/" + layout.name));
    }
    const hdf5::id rng = open_group(group.get(), "rng");
    state.cpu_generator = read_array_record(rng.get(), *impl_->cpu_generator, "state/rng/cpu");
    if (impl_->cuda_generator) state.cuda_generator = read_array_record(rng.get(), *impl_->cuda_generator, "state/rng/cuda");
    return state;
  } catch (const hdf5::error& e) {
    throw snapshot_error(impl_->name + ": " + e.what());
  }
}

}  // namespace trackbench::tracking
