#include "trackbench/tracking/snapshot.h"

#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <future>
#include <map>
#include <regex>
#include <set>

#include "hdf5_io.h"
#include "schema.h"
#include "snapshot_io.h"
#include "trackbench/trainer/checksum.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using snapshot_io::attribute_names;
using snapshot_io::children;
using snapshot_io::object_kind;
using snapshot_io::open_group;
using snapshot_io::plain_name;
using snapshot_io::read_fields;

constexpr std::int64_t max_epochs = 100000;
constexpr std::int64_t max_array_bytes = std::int64_t{1} << 30;
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
  snapshot_io::write_fields(root.get(), schema::identity_fields(), record.identity, "identity");

  const hdf5::id tags = hdf5::create_group(file, "tags");
  for (const auto& [key, value] : record.tags.items()) hdf5::write_text(tags.get(), key, value.get<std::string>());

  const hdf5::id config = hdf5::create_group(file, "config");
  snapshot_io::write_fields(config.get(), schema::config_fields(), record.config, "config");

  snapshot_io::write_environment(file, record.environment);
  snapshot_io::write_code(file, record.code, record.code_diff);
  snapshot_io::write_data(file, schema::data_fields(), record.data);

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

std::string record_digest(const run_record& record, std::int64_t version);

// Sets record_sha256 in `record` and the file to the digest of the record as it now is.
void write_digest(hid_t file, run_record& record) {
  record.identity["record_sha256"] = record_digest(record, schema_version);
  const hdf5::id root = hdf5::group(H5Gopen2(file, "/", H5P_DEFAULT), "/");
  hdf5::write_text(root.get(), "record_sha256", record.identity["record_sha256"].get<std::string>());
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

// ---- reading -------------------------------------------------------------------------------

// The kind of object the schema puts at `path` (relative to the root), if any.
std::optional<object_kind> schema_kind(const std::string& path) {
  static const std::set<std::string> groups{"tags", "config", "metrics", "weights", "state", "state/optimizer", "state/rng"};
  if (groups.count(path) > 0) return object_kind::group;
  static const std::regex weights_epoch("weights/epoch_[0-9]{4,6}");
  static const std::regex weight("weights/epoch_[0-9]{4,6}/[^/]+");
  static const std::regex optimizer("state/optimizer/[^/]+");
  if (std::regex_match(path, weights_epoch)) return object_kind::group;
  if (std::regex_match(path, weight) || std::regex_match(path, optimizer)) {
    return plain_name(path.substr(path.rfind('/') + 1)) ? std::optional(object_kind::dataset) : std::nullopt;
  }
  if (path == "state/rng/cpu" || path == "state/rng/cuda") return object_kind::dataset;
  if (path == "metrics/test_confusion" || path == "metrics/validation_confusion") return object_kind::dataset;
  for (const auto& column : schema::metric_columns()) {
    if (path == "metrics/" + column.name) return object_kind::dataset;
  }
  return snapshot_io::section_kind(path, schema::data_fields());
}

// One metric column, each value within the column's rule.
std::vector<double> read_column(hid_t group, const schema::metric_column& column, std::int64_t rows) {
  const std::string what = "metrics/" + column.name;
  const hdf5::id set = hdf5::dataset(H5Dopen2(group, column.name.c_str(), H5P_DEFAULT), what);
  const auto type = column.integer ? hdf5::element::int64 : hdf5::element::float64;
  if (hdf5::checked_shape(set.get(), type, what) != std::vector<std::int64_t>{rows}) {
    throw hdf5::error(what + " must have one value per epoch (" + std::to_string(rows) + ")");
  }
  std::vector<double> values(static_cast<std::size_t>(rows));
  if (column.integer) {
    std::vector<std::int64_t> stored(static_cast<std::size_t>(rows));
    if (rows > 0) hdf5::read_array(set.get(), type, stored.data(), what);
    for (std::size_t i = 0; i < stored.size(); ++i) {
      // Beyond 2^50 a count would not survive the trip through double.
      const std::string row = what + " row " + std::to_string(i) + " (epoch " + std::to_string(i + 1) + ")";
      if (stored[i] > (std::int64_t{1} << 50)) throw hdf5::error(row + " holds an impossible value");
      if (const auto broken = schema::rule_violation(column.rule, stored[i])) throw hdf5::error(row + " " + *broken);
      values[i] = static_cast<double>(stored[i]);
    }
  } else if (rows > 0) {
    hdf5::read_array(set.get(), type, values.data(), what);
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (const auto broken = schema::rule_violation(column.rule, values[i])) {
        throw hdf5::error(what + " row " + std::to_string(i) + " (epoch " + std::to_string(i + 1) + ") " + *broken);
      }
    }
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

std::string count_of(std::int64_t count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

bool checksummed(const run_record& record) { return record.identity.contains("record_sha256"); }

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

// record_sha256 (docs/snapshot-format.md, "Checksums"), computed from the record, so the writer
// and the reader agree on it whatever HDF5 makes of the file.
std::string record_digest(const run_record& record, std::int64_t version) {
  snapshot_io::canonical_hash hash;
  hash.fields(schema::identity_fields(), record.identity, version, "record_sha256");
  std::map<std::string, std::string> tags;
  for (const auto& [key, value] : record.tags.items()) tags[key] = value.get<std::string>();
  hash.count(tags.size());
  for (const auto& [key, value] : tags) {
    hash.text(key);
    hash.text(value);
  }
  hash.fields(schema::config_fields(), record.config, version);
  snapshot_io::hash_sections(hash, record.environment, record.code, record.code_diff, schema::data_fields(), record.data,
                             version);
  hash.count(record.epochs.size());
  for (const auto& column : schema::metric_columns()) {
    if (column.since > version) continue;
    for (const auto& epoch : record.epochs) {
      const double value = column.get(epoch);
      if (column.integer) {
        hash.number(static_cast<std::int64_t>(value));
      } else {
        hash.number(value);
      }
    }
  }
  const trainer::confusion_matrix empty{};
  for (const auto& epoch : record.epochs) {
    hash.bytes(&epoch.test.confusion, sizeof(trainer::confusion_matrix));
    hash.bytes(epoch.validation ? &epoch.validation->confusion : &empty, sizeof(trainer::confusion_matrix));
  }
  return hash.hex();
}

std::int64_t sum(const std::vector<std::int64_t>& values) {
  std::int64_t total = 0;
  for (const auto value : values) total += value;  // each at most 2^50 (the field's rule), so no overflow
  return total;
}

// What the values promise about each other: class counts add up to the split sizes, the
// confusion rows to the class counts, and validation metrics exist exactly when a split does.
void check_consistency(const run_record& record) {
  const auto& data = record.data;
  const auto counts = [&](const char* name) { return data.at(name).get<std::vector<std::int64_t>>(); };
  const auto size = [&](const char* name) { return data.at(name).get<std::int64_t>(); };
  const auto expect_sum = [&](const char* counts_name, const char* size_name) {
    const std::int64_t total = sum(counts(counts_name));
    if (total != size(size_name)) {
      throw hdf5::error("data '" + std::string(counts_name) + "' sums to " + std::to_string(total) + " but '" +
                        size_name + "' is " + std::to_string(size(size_name)));
    }
  };
  expect_sum("train_class_counts", "split_train_count");
  expect_sum("validation_class_counts", "split_validation_count");
  expect_sum("test_class_counts", "test_count");
  if (size("split_train_count") + size("split_validation_count") != size("train_count")) {
    throw hdf5::error("data 'split_train_count' " + std::to_string(size("split_train_count")) +
                      " and 'split_validation_count' " + std::to_string(size("split_validation_count")) +
                      " do not add up to 'train_count' " + std::to_string(size("train_count")));
  }
  const bool validated = size("split_validation_count") > 0;
  const auto check_rows = [](const trainer::confusion_matrix& matrix, const std::vector<std::int64_t>& expected,
                             const std::string& what) {
    for (std::size_t actual = 0; actual < expected.size(); ++actual) {
      std::int64_t total = 0;
      for (std::size_t predicted = 0; predicted < expected.size(); ++predicted) {
        const std::int64_t cell = matrix[actual][predicted];
        if (cell < 0 || cell > (std::int64_t{1} << 50)) throw hdf5::error(what + " holds an impossible count " + std::to_string(cell));
        total += cell;
      }
      if (total != expected[actual]) {
        throw hdf5::error(what + " row " + std::to_string(actual) + " sums to " + std::to_string(total) +
                          ", but the class count is " + std::to_string(expected[actual]));
      }
    }
  };
  const auto test_counts = counts("test_class_counts");
  const auto validation_counts = counts("validation_class_counts");
  for (const auto& epoch : record.epochs) {
    const std::string which = "epoch " + std::to_string(epoch.epoch);
    check_rows(epoch.test.confusion, test_counts, "metrics/test_confusion of " + which);
    if (epoch.validation.has_value() != validated) {
      throw hdf5::error("metrics/validation_loss of " + which + (validated ? " is NaN, but " : " is a number, but ") +
                        std::to_string(size("split_validation_count")) + " images were held out for validation");
    }
    if (!validated) continue;
    const auto& v = *epoch.validation;
    for (const double value : {v.accuracy, v.precision, v.recall, v.f1}) {
      if (std::isnan(value)) throw hdf5::error("a validation metric of " + which + " is NaN although validation_loss is not");
    }
    check_rows(v.confusion, validation_counts, "metrics/validation_confusion of " + which);
  }
}

double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
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
  const std::string held = kept == 0   ? "no epoch"
                           : kept == 1 ? "epoch 1"
                                       : "epochs 1 to " + std::to_string(kept);
  return snapshot_write_error("writing snapshot " + path_.string() + " failed: " + reason + "; " + path_.string() +
                              " keeps its previous content (" + held + ")");
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
      file_ = std::make_unique<in_memory_file>();
      file_->file = snapshot_io::create_in_memory(path_.string() + " (in memory)");
    }
    change(file_->file.get());
    snapshot_io::take_image(file_->file.get(), file_->image);
  } catch (const std::logic_error&) {
    failed_ = true;  // a record this program built wrongly (a value outside its field's rule), not the disk
    throw;
  } catch (const std::exception& e) {
    throw failed_write(e.what());  // the file in memory may hold part of the change
  }
  file_->epochs_being_written = epochs_after;
  file_->writing = std::async(std::launch::async, [this] {
    const double cpu_start = thread_cpu_seconds();
    snapshot_io::write_durably(path_, file_->image);
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
  record_.identity["record_sha256"] = record_digest(record_, schema_version);
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

void snapshot_writer::check() {
  refuse_after_failure();
  if (file_ && file_->writing.valid() &&
      file_->writing.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    wait_for_disk();
  }
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
  auto after = record_;
  after.epochs.insert(after.epochs.end(), metrics.begin(), metrics.end());
  const auto change = [&](hid_t file) {
    const hdf5::id weights = hdf5::group(H5Gopen2(file, "weights", H5P_DEFAULT), "weights");
    for (std::size_t i = 0; i < metrics.size(); ++i) {
      append_metrics(file, metrics[i]);
      const auto epoch_number = static_cast<std::int64_t>(record_.epochs.size() + i) + 1;
      const hdf5::id epoch = hdf5::create_group(weights.get(), epoch_group(epoch_number));
      for (const auto& parameter : parameters[i]) write_array_record(epoch.get(), parameter, true);
    }
    write_state(file, state);
    write_digest(file, after);
  };
  commit(change, after.epochs.size(), false);
  record_ = std::move(after);
}

void snapshot_writer::append_metrics_only(const trainer::epoch_metrics& metrics) {
  if (keeps_weights(record_)) throw std::logic_error("append_metrics_only: the snapshot keeps weights");
  auto after = record_;
  after.epochs.push_back(metrics);
  commit(
      [&](hid_t file) {
        append_metrics(file, metrics);
        write_digest(file, after);
      },
      after.epochs.size(), false);
  record_ = std::move(after);
}

void snapshot_writer::record_target_reached(std::int64_t epoch, double seconds) {
  const auto change = [&](hid_t file) {
    const hdf5::id root = hdf5::group(H5Gopen2(file, "/", H5P_DEFAULT), "/");
    hdf5::write_int64(root.get(), "target_reached_epoch", epoch);
    hdf5::write_float64(root.get(), "time_to_target_seconds", seconds);
  };
  commit(change, record_.epochs.size(), false);
  record_.identity["target_reached_epoch"] = epoch;
  record_.identity["time_to_target_seconds"] = seconds;
}

void snapshot_writer::finish(const std::string& status, const std::string& error) {
  auto after = record_;
  after.identity["status"] = status;
  after.identity["error"] = error;
  after.identity["end_time"] = utc_timestamp();
  const auto change = [&](hid_t file) {
    const hdf5::id root = hdf5::group(H5Gopen2(file, "/", H5P_DEFAULT), "/");
    for (const char* name : {"status", "error", "end_time"}) {
      hdf5::write_text(root.get(), name, after.identity[name].get<std::string>());
    }
    write_digest(file, after);
  };
  commit(change, record_.epochs.size(), true);
  record_ = std::move(after);
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
  void read_weights_layout(hid_t weights);
  void read_state_layout(hid_t state);
};

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
  // Identify the file before judging its layout, so a foreign file or a newer schema gets
  // that explanation rather than a complaint about some object.
  const std::int64_t version = snapshot_io::check_identity(file.get(), schema_name, schema_version, "run");
  snapshot_io::check_links(file.get(), schema_kind);
  const hdf5::id root = open_group(file.get(), "/");

  record.identity = read_fields(root.get(), schema::identity_fields(), "identity", version);
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
  }
  record.environment = snapshot_io::read_environment(file.get(), version);
  record.code = snapshot_io::read_code(file.get(), record.code_diff, version);
  record.data = snapshot_io::read_data(file.get(), schema::data_fields(), version);
  {
    const hdf5::id metrics = open_group(file.get(), "metrics");
    if (!attribute_names(metrics.get(), "metrics").empty()) throw hdf5::error("metrics carries unexpected attributes");
    const hdf5::id epoch_column = hdf5::dataset(H5Dopen2(metrics.get(), "epoch", H5P_DEFAULT), "metrics/epoch");
    const auto shape = hdf5::checked_shape(epoch_column.get(), hdf5::element::int64, "metrics/epoch");
    if (shape.size() != 1 || shape[0] > max_epochs) throw hdf5::error("metrics/epoch must be 1-D with at most 100000 rows");
    const std::int64_t rows = shape[0];
    record.epochs.resize(static_cast<std::size_t>(rows));
    for (const auto& column : schema::metric_columns()) {
      if (column.since > version) continue;  // not in files of this version
      const auto values = read_column(metrics.get(), column, rows);
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
  check_consistency(record);
  if (record.identity.contains("record_sha256") &&
      record_digest(record, version) != record.identity["record_sha256"].get<std::string>()) {
    throw hdf5::error("the record does not match its record_sha256: the file is corrupt");
  }
}

namespace {

template <typename Open>
std::unique_ptr<snapshot_reader::impl> open_snapshot(const std::string& name, Open&& open) {
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
  impl_ = open_snapshot(path.string(), [&] { return snapshot_io::open_file(path); });
}

snapshot_reader::snapshot_reader(const std::vector<std::uint8_t>& image, const std::string& name) {
  impl_ = open_snapshot(name, [&] { return snapshot_io::open_image(image); });
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
