#include "trackbench/tracking/snapshot.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
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

constexpr std::int64_t digest_bytes = 32;

std::string to_hex(const std::uint8_t* bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (std::int64_t i = 0; i < digest_bytes; ++i) {
    hex += digits[bytes[i] >> 4];
    hex += digits[bytes[i] & 15];
  }
  return hex;
}

// 64 hex digits into 32 bytes; an empty text (no digest) into zeros.
void from_hex(const std::string& hex, std::uint8_t* out) {
  std::fill(out, out + digest_bytes, std::uint8_t{0});
  if (hex.empty()) return;
  if (hex.size() != 2 * digest_bytes) throw std::logic_error("a SHA-256 of " + std::to_string(hex.size()) + " digits");
  const auto nibble = [](char c) { return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10); };
  for (std::int64_t i = 0; i < digest_bytes; ++i) out[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
}

// The digests of `parameters`, in name order (the order the file lists them in).
std::vector<parameter_digest> digests_of(const std::vector<array_record>& parameters) {
  std::vector<parameter_digest> digests;
  for (const auto& parameter : parameters) digests.push_back({parameter.name, parameter.sha256()});
  std::sort(digests.begin(), digests.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return digests;
}

const std::string& digest_of(const std::vector<parameter_digest>& digests, const std::string& name) {
  for (const auto& digest : digests) {
    if (digest.name == name) return digest.sha256;
  }
  throw std::logic_error("no digest recorded for parameter " + name);
}

void write_array_record(hid_t parent, const array_record& array, const std::string& sha256, bool compress) {
  const hdf5::id set = hdf5::write_array(parent, array.name, to_hdf5(array.type), array.shape, array.bytes.data(), compress);
  hdf5::write_text(set.get(), "sha256", sha256);
}

void write_metrics(hid_t file, const std::vector<trainer::epoch_metrics>& epochs) {
  const hdf5::id group = hdf5::create_group(file, "metrics");
  const auto rows = static_cast<std::int64_t>(epochs.size());
  for (const auto& column : schema::metric_columns()) {
    const auto type = column.integer ? hdf5::element::int64 : hdf5::element::float64;
    hdf5::create_growing(group.get(), column.name, type, {});
    if (rows == 0) continue;
    if (column.integer) {
      std::vector<std::int64_t> values;
      for (const auto& epoch : epochs) values.push_back(static_cast<std::int64_t>(column.get(epoch)));
      hdf5::append_rows(group.get(), column.name, type, {}, rows, values.data());
    } else {
      std::vector<double> values;
      for (const auto& epoch : epochs) values.push_back(column.get(epoch));
      hdf5::append_rows(group.get(), column.name, type, {}, rows, values.data());
    }
  }
  const trainer::confusion_matrix empty{};
  std::vector<trainer::confusion_matrix> test, validation;
  for (const auto& epoch : epochs) {
    test.push_back(epoch.test.confusion);
    validation.push_back(epoch.validation ? epoch.validation->confusion : empty);
  }
  for (const auto& [name, matrices] : {std::pair{"test_confusion", &test}, std::pair{"validation_confusion", &validation}}) {
    hdf5::create_growing(group.get(), name, hdf5::element::int64, {class_count, class_count});
    if (rows > 0) hdf5::append_rows(group.get(), name, hdf5::element::int64, {class_count, class_count}, rows, matrices->data());
  }
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
  write_metrics(file, record.epochs);
}

// /parameter_sha256/<name>: uint8[epochs, 32]; /sidecar_sha256: uint8[epochs, 32], zeros where
// the epoch has no sidecar.
void write_digests(hid_t file, const std::vector<std::vector<parameter_digest>>& digests,
                   const std::vector<std::string>& sidecars) {
  const auto rows = static_cast<std::int64_t>(digests.size());
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(rows * digest_bytes));
  const hdf5::id group = hdf5::create_group(file, "parameter_sha256");
  for (std::size_t p = 0; rows > 0 && p < digests.front().size(); ++p) {
    const std::string& name = digests.front()[p].name;
    for (std::int64_t e = 0; e < rows; ++e) {
      from_hex(digest_of(digests[static_cast<std::size_t>(e)], name), &bytes[static_cast<std::size_t>(e * digest_bytes)]);
    }
    hdf5::create_growing(group.get(), name, hdf5::element::uint8, {digest_bytes});
    hdf5::append_rows(group.get(), name, hdf5::element::uint8, {digest_bytes}, rows, bytes.data());
  }
  for (std::int64_t e = 0; e < rows; ++e) from_hex(sidecars[static_cast<std::size_t>(e)], &bytes[static_cast<std::size_t>(e * digest_bytes)]);
  hdf5::create_growing(file, "sidecar_sha256", hdf5::element::uint8, {digest_bytes});
  if (rows > 0) hdf5::append_rows(file, "sidecar_sha256", hdf5::element::uint8, {digest_bytes}, rows, bytes.data());
}

void write_state(hid_t file, const saved_state* state) {
  const hdf5::id group = hdf5::create_group(file, "state");
  if (!state) return;
  hdf5::write_int64(group.get(), "epochs_done", state->epochs_done);
  hdf5::write_uint64(group.get(), "next_shuffle_seed", state->next_shuffle_seed);
  const hdf5::id optimizer = hdf5::create_group(group.get(), "optimizer");
  for (const auto& array : state->optimizer) write_array_record(optimizer.get(), array, array.sha256(), false);
  const hdf5::id rng = hdf5::create_group(group.get(), "rng");
  write_array_record(rng.get(), state->cpu_generator, state->cpu_generator.sha256(), false);
  if (state->cuda_generator) write_array_record(rng.get(), *state->cuda_generator, state->cuda_generator->sha256(), false);
}

// Everything a snapshot file holds, written whole into `file` (fresh, so no space is left dead):
// the record (its record_sha256 already set), the digests, the weights of the epochs in
// `weights` and the state.
void build_snapshot(hid_t file, const run_record& record, const std::vector<std::vector<parameter_digest>>& digests,
                    const std::vector<std::string>& sidecars, const std::map<int, shared_arrays>& weights,
                    const saved_state* state, bool compress) {
  write_sections(file, record);
  write_digests(file, digests, sidecars);
  const hdf5::id group = hdf5::create_group(file, "weights");
  for (const auto& [epoch, arrays] : weights) {
    const hdf5::id one = hdf5::create_group(group.get(), epoch_group(epoch));
    for (const auto& array : *arrays) {
      write_array_record(one.get(), array, digest_of(digests[static_cast<std::size_t>(epoch - 1)], array.name), compress);
    }
  }
  write_state(file, state);
}

// A sidecar: the root's run_id and epoch, and one dataset per parameter with its sha256.
void build_sidecar(hid_t file, const std::string& run_id, int epoch, const std::vector<array_record>& arrays,
                   const std::vector<parameter_digest>& digests) {
  const hdf5::id root = hdf5::group(H5Gopen2(file, "/", H5P_DEFAULT), "/");
  hdf5::write_text(root.get(), "run_id", run_id);
  hdf5::write_int64(root.get(), "epoch", epoch);
  for (const auto& array : arrays) write_array_record(root.get(), array, digest_of(digests, array.name), true);
}

// ---- reading -------------------------------------------------------------------------------

// The kind of object the schema puts at `path` (relative to the root), if any.
std::optional<object_kind> schema_kind(const std::string& path) {
  static const std::set<std::string> groups{"tags",  "config",          "metrics",  "weights",
                                            "state", "state/optimizer", "state/rng", "parameter_sha256"};
  if (groups.count(path) > 0) return object_kind::group;
  if (path == "sidecar_sha256") return object_kind::dataset;
  if (path.rfind("parameter_sha256/", 0) == 0) {
    return plain_name(path.substr(path.find('/') + 1)) ? std::optional(object_kind::dataset) : std::nullopt;
  }
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

weights_policy parse_weights_policy(const std::string& text, const std::string& flag) {
  using kind = weights_policy::kind;
  static const std::map<std::string, kind> plain{{"all", kind::all}, {"last", kind::last}, {"best", kind::best}, {"none", kind::none}};
  if (const auto found = plain.find(text); found != plain.end()) return {found->second, 0};
  static const std::regex every("every:([1-9][0-9]{0,5})");
  std::smatch match;
  if (std::regex_match(text, match, every)) return {kind::every, std::stoll(match[1].str())};
  throw input_error(flag + " '" + text + "': expected all, last, best, every:N (N a whole number from 1 to 999999) or none");
}

std::string to_string(const weights_policy& policy) {
  switch (policy.keep) {
    case weights_policy::kind::all:
      return "all";
    case weights_policy::kind::last:
      return "last";
    case weights_policy::kind::best:
      return "best";
    case weights_policy::kind::every:
      return "every:" + std::to_string(policy.every);
    case weights_policy::kind::none:
      return "none";
  }
  return "none";
}

weights_policy weights_policy_of(const run_record& record) {
  return parse_weights_policy(record.config.at("keep_weights").get<std::string>(), "config keep_weights");
}

bool keeps_weights(const run_record& record) { return weights_policy_of(record).keep != weights_policy::kind::none; }

std::vector<int> kept_epochs(const weights_policy& policy, const std::vector<trainer::epoch_metrics>& epochs) {
  using kind = weights_policy::kind;
  const int last = static_cast<int>(epochs.size());
  std::set<int> kept;
  if (policy.keep == kind::none || last == 0) return {};
  kept.insert(last);
  if (policy.keep == kind::all) {
    for (int epoch = 1; epoch <= last; ++epoch) kept.insert(epoch);
  } else if (policy.keep == kind::every) {
    for (std::int64_t epoch = policy.every; epoch <= last; epoch += policy.every) kept.insert(static_cast<int>(epoch));
  } else if (policy.keep == kind::best) {
    int best = 0;
    for (int epoch = 1; epoch <= last; ++epoch) {
      const auto& validation = epochs[static_cast<std::size_t>(epoch - 1)].validation;
      if (validation && (best == 0 || validation->accuracy > epochs[static_cast<std::size_t>(best - 1)].validation->accuracy)) {
        best = epoch;
      }
    }
    if (best > 0) kept.insert(best);
  }
  return {kept.begin(), kept.end()};
}

fs::path sidecar_path(const fs::path& snapshot, int epoch) {
  return fs::path(snapshot.string() + ".epochs") / (epoch_group(epoch) + ".h5");
}

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
std::string record_digest(const run_record& record, const std::vector<std::vector<parameter_digest>>& digests,
                          const std::vector<std::string>& sidecars, std::int64_t version) {
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
  if (version >= 4) {
    hash.count(digests.size());
    for (const auto& epoch : digests) {
      hash.count(epoch.size());
      for (const auto& digest : epoch) {
        hash.text(digest.name);
        hash.text(digest.sha256);
      }
    }
    for (const auto& sidecar : sidecars) hash.text(sidecar);
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

// HDF5 builds each file on its core driver (in memory) and never writes to disk itself: it does
// not survive a failing disk write cleanly, and a commit must replace the file whole anyway.
struct snapshot_writer::in_memory_file {
  // What one commit's background thread returns.
  struct written {
    double cpu_seconds = 0.0;                                  // building and writing
    std::vector<std::pair<int, std::string>> sidecar_sha256;  // of the sidecars it wrote, by epoch
  };
  snapshot_io::file_image image;  // reused, so later commits do not reallocate
  std::future<written> writing;     // of the commit in flight, while valid
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
    const auto done = file_->writing.get();
    file_->background_cpu_seconds += done.cpu_seconds;
    for (const auto& [epoch, sha256] : done.sidecar_sha256) sidecar_sha256_[static_cast<std::size_t>(epoch - 1)] = sha256;
    file_->epochs_on_disk = file_->epochs_being_written;
  } catch (const std::logic_error&) {
    failed_ = true;  // a record this program built wrongly (a value outside its field's rule), not the disk
    throw;
  } catch (const std::exception& e) {
    throw failed_write(e.what());
  }
}

namespace {

// An in-memory file built by `build`, as an image.
template <typename Build>
void build_image(const std::string& name, snapshot_io::file_image& image, Build&& build) {
  const hdf5::id file = snapshot_io::create_in_memory(name, image.size());
  build(file.get());
  snapshot_io::take_image(file.get(), image);
}

// A whole snapshot file written from the caller's thread: built in memory by `build`, then
// written durably at `path`; a failure is a snapshot_write_error naming `doing` and the path.
template <typename Build>
void write_snapshot_file(const fs::path& path, const std::string& doing, Build&& build) {
  snapshot_io::file_image image;
  try {
    build_image(path.string() + " (in memory)", image, std::forward<Build>(build));
    snapshot_io::write_durably(path, image);
  } catch (const hdf5::error& e) {
    throw snapshot_write_error(doing + " " + path.string() + " failed: " + e.what());
  } catch (const std::system_error& e) {
    throw snapshot_write_error(doing + " " + path.string() + " failed: " + e.what());
  }
}

bool hdf5_is_threadsafe() {
  hbool_t threadsafe = 0;
  return H5is_library_threadsafe(&threadsafe) >= 0 && threadsafe != 0;
}

// Makes the sidecar folder of `sidecar` (durably, the first time).
void make_sidecar_folder(const fs::path& sidecar) {
  const fs::path folder = sidecar.parent_path();
  std::error_code error;
  if (fs::is_directory(folder, error)) return;
  fs::create_directory(folder);
  snapshot_io::fsync_directory(folder.parent_path().empty() ? fs::path(".") : folder.parent_path());
}

}  // namespace

void snapshot_writer::commit(bool wait_after) {
  const auto start = std::chrono::steady_clock::now();
  refuse_after_failure();
  wait_for_disk();  // the image buffer and the sidecars' digests come back; an earlier failure surfaces here
  if (!file_) file_ = std::make_unique<in_memory_file>();
  staged_ = false;
  file_->epochs_being_written = record_.epochs.size();
  // The background thread gets what it reads, owned or shared, so training may stage more meanwhile.
  auto build_and_write = [this, record = record_, digests = digests_, sidecar_sha256 = sidecar_sha256_,
                          kept_inline = kept_inline_, new_sidecars = std::move(kept_sidecar_), state = state_]() mutable {
    const double cpu_start = thread_cpu_seconds();
    in_memory_file::written done;
    const auto run_id = record.identity.at("run_id").get<std::string>();
    std::vector<std::pair<fs::path, snapshot_io::file_image>> sidecars;
    for (const auto& sidecar : new_sidecars) {
      const int epoch = sidecar.first;  // not a structured binding: C++17 lambdas cannot capture those
      snapshot_io::file_image image;
      build_image(path_.string() + " epoch " + std::to_string(epoch) + " (in memory)", image, [&](hid_t file) {
        build_sidecar(file, run_id, epoch, sidecar.second, digests[static_cast<std::size_t>(epoch - 1)]);
      });
      sidecar_sha256[static_cast<std::size_t>(epoch - 1)] = trainer::sha256_hex(image.data(), image.size());
      done.sidecar_sha256.emplace_back(epoch, sidecar_sha256[static_cast<std::size_t>(epoch - 1)]);
      sidecars.emplace_back(sidecar_path(path_, epoch), std::move(image));
    }
    record.identity["record_sha256"] = record_digest(record, digests, sidecar_sha256, schema_version);
    build_image(path_.string() + " (in memory)", file_->image, [&](hid_t file) {
      build_snapshot(file, record, digests, sidecar_sha256, kept_inline, state.get(), false);
    });
    // Sidecars first: the snapshot that names them is renamed into place only once they are.
    for (const auto& [path, image] : sidecars) {
      make_sidecar_folder(path);
      snapshot_io::write_durably(path, image);
    }
    snapshot_io::write_durably(path_, file_->image);
    done.cpu_seconds = thread_cpu_seconds() - cpu_start;
    return done;
  };
  kept_sidecar_.clear();
  // Without HDF5's own lock another thread's HDF5 call could race the build, so it runs here.
  static const bool in_background = hdf5_is_threadsafe();
  file_->writing = std::async(in_background ? std::launch::async : std::launch::deferred, std::move(build_and_write));
  if (wait_after || !in_background) wait_for_disk();
  seconds_writing_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

snapshot_writer::snapshot_writer(fs::path path, run_record record) : path_(std::move(path)) {
  record.identity["status"] = "running";
  record.identity["error"] = "";
  record.identity["end_time"] = "";
  record.epochs.clear();
  policy_ = weights_policy_of(record);
  if (fs::exists(path_)) throw snapshot_write_error("snapshot " + path_.string() + " already exists");
  record_ = std::move(record);
  commit(true);
}

snapshot_writer::~snapshot_writer() {
  try {
    if (!failed_) write_staged();
    wait_for_disk();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());  // plain stdio: the reader's fuzz build has no spdlog
  }
}

void snapshot_writer::write_staged() {
  if (staged_) commit(false);
}

void snapshot_writer::wait() {
  write_staged();
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
  // Training never waits here for a write in flight: what is staged meanwhile goes with the
  // next commit, at a later step (so epochs shorter than a write coalesce) or at the end.
  if (!file_ || !file_->writing.valid()) write_staged();
}

double snapshot_writer::seconds_writing_in_background() const {
  return file_ ? file_->background_cpu_seconds : 0.0;
}

void snapshot_writer::append_epoch(const trainer::epoch_metrics& metrics, std::vector<array_record> parameters,
                                   std::optional<saved_state> state) {
  std::vector<inherited_epoch> one;
  auto digests = digests_of(parameters);
  one.push_back({std::move(digests), std::move(parameters)});
  append_epochs({metrics}, std::move(one), std::move(state));
}

void snapshot_writer::append_epochs(const std::vector<trainer::epoch_metrics>& metrics,
                                    std::vector<inherited_epoch> inherited, std::optional<saved_state> state) {
  using kind = weights_policy::kind;
  if (metrics.size() != inherited.size()) throw std::logic_error("append_epochs: one inherited epoch per metrics row");
  const bool keeping = policy_.keep != kind::none;
  if (keeping && !state) throw std::logic_error("append_epochs: a snapshot that keeps weights needs the state");
  refuse_after_failure();
  auto after = record_;
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    after.epochs.push_back(metrics[i]);
    const int epoch = static_cast<int>(after.epochs.size());
    auto& one = inherited[i];
    auto digests = one.digests.empty() && one.weights ? digests_of(*one.weights) : std::move(one.digests);
    if (digests.empty()) throw std::logic_error("append_epochs: epoch " + std::to_string(epoch) + " has no digests");
    digests_.push_back(std::move(digests));
    sidecar_sha256_.emplace_back();
    if (!keeping || !one.weights) continue;
    if (policy_.keep == kind::all || (policy_.keep == kind::every && epoch % policy_.every == 0)) {
      kept_sidecar_[epoch] = *one.weights;
    }
    kept_inline_[epoch] = std::make_shared<const std::vector<array_record>>(std::move(*one.weights));
  }
  // The snapshot itself holds the last epoch's weights and, with best, the best epoch's.
  const auto kept = kept_epochs(policy_, after.epochs);
  const int last = static_cast<int>(after.epochs.size());
  for (auto it = kept_inline_.begin(); it != kept_inline_.end();) {
    const bool stays = it->first == last || (policy_.keep == kind::best && std::count(kept.begin(), kept.end(), it->first) > 0);
    it = stays ? std::next(it) : kept_inline_.erase(it);
  }
  if (keeping && kept_inline_.count(last) == 0) throw std::logic_error("append_epochs: the last epoch comes without weights");
  if (keeping) state_ = std::make_shared<const saved_state>(std::move(*state));
  record_ = std::move(after);
  staged_ = true;
}

void snapshot_writer::record_target_reached(std::int64_t epoch, double seconds) {
  refuse_after_failure();
  record_.identity["target_reached_epoch"] = epoch;
  record_.identity["time_to_target_seconds"] = seconds;
  staged_ = true;
}

void snapshot_writer::finish(const std::string& status, const std::string& error) {
  refuse_after_failure();
  record_.identity["status"] = status;
  record_.identity["error"] = error;
  record_.identity["end_time"] = utc_timestamp();
  commit(true);
}

// ---- snapshot_reader ---------------------------------------------------------------------

struct snapshot_reader::impl {
  std::string name;
  hdf5::id file;
  run_record record;
  std::int64_t version = 0;
  weights_policy policy;
  std::vector<array_layout> weight_layout;  // the same in every epoch
  std::vector<array_layout> optimizer_layout;
  std::optional<array_layout> cpu_generator, cuda_generator;
  bool has_state = false;
  std::set<int> inline_epochs;                          // under /weights
  std::vector<std::vector<parameter_digest>> digests;  // per epoch; empty where none was recorded
  std::vector<std::string> sidecar_sha256;              // per epoch; empty without a sidecar

  void validate_and_read();
  void read_digests();
  void read_weights_layout(hid_t weights);
  void read_state_layout(hid_t state);
  std::vector<array_record> read_sidecar(int epoch) const;
};

namespace {

// A uint8[rows, 32] dataset of digests as hex, all-zero rows as "".
std::vector<std::string> read_digest_rows(hid_t parent, const std::string& name, std::int64_t rows, const std::string& what) {
  const hdf5::id set = hdf5::dataset(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), what);
  if (hdf5::checked_shape(set.get(), hdf5::element::uint8, what) != std::vector<std::int64_t>{rows, digest_bytes}) {
    throw hdf5::error(what + " must be [epochs, 32]");
  }
  if (!attribute_names(set.get(), what).empty()) throw hdf5::error(what + " carries unexpected attributes");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(rows * digest_bytes));
  if (rows > 0) hdf5::read_array(set.get(), hdf5::element::uint8, bytes.data(), what);
  std::vector<std::string> hex;
  for (std::int64_t row = 0; row < rows; ++row) {
    const auto* first = &bytes[static_cast<std::size_t>(row * digest_bytes)];
    hex.push_back(std::all_of(first, first + digest_bytes, [](std::uint8_t b) { return b == 0; }) ? "" : to_hex(first));
  }
  return hex;
}

}  // namespace

void snapshot_reader::impl::read_digests() {
  const auto epochs = static_cast<std::int64_t>(record.epochs.size());
  digests.assign(static_cast<std::size_t>(epochs), {});
  sidecar_sha256.assign(static_cast<std::size_t>(epochs), "");
  const bool has_objects = hdf5::check(H5Lexists(file.get(), "parameter_sha256", H5P_DEFAULT), "parameter_sha256") > 0 ||
                           hdf5::check(H5Lexists(file.get(), "sidecar_sha256", H5P_DEFAULT), "sidecar_sha256") > 0;
  if (version < 4) {
    if (has_objects) throw hdf5::error("parameter_sha256 and sidecar_sha256 are not part of schema version " + std::to_string(version));
    return;
  }
  const hdf5::id group = open_group(file.get(), "parameter_sha256");
  if (!attribute_names(group.get(), "parameter_sha256").empty()) throw hdf5::error("parameter_sha256 carries unexpected attributes");
  const auto names = children(group.get());
  if (epochs > 0 && names.empty()) throw hdf5::error("parameter_sha256 holds no parameter although epochs completed");
  if (epochs == 0 && !names.empty()) throw hdf5::error("parameter_sha256 holds parameters although no epoch completed");
  for (const auto& name : names) {
    const auto rows = read_digest_rows(group.get(), name, epochs, "parameter_sha256/" + name);
    for (std::int64_t e = 0; e < epochs; ++e) {
      if (rows[static_cast<std::size_t>(e)].empty()) {
        throw hdf5::error("parameter_sha256/" + name + " row " + std::to_string(e) + " (epoch " + std::to_string(e + 1) + ") is empty");
      }
      digests[static_cast<std::size_t>(e)].push_back({name, rows[static_cast<std::size_t>(e)]});
    }
  }
  sidecar_sha256 = read_digest_rows(file.get(), "sidecar_sha256", epochs, "sidecar_sha256");
}

void snapshot_reader::impl::read_weights_layout(hid_t weights) {
  const auto epochs = static_cast<int>(record.epochs.size());
  const auto kept_list = kept_epochs(policy, record.epochs);
  const std::set<int> kept(kept_list.begin(), kept_list.end());
  const std::string because = " (config keep_weights " + to_string(policy) + ")";
  for (const auto& group_name : children(weights)) {
    static const std::regex pattern("epoch_([0-9]{4,6})");
    std::smatch match;
    const int epoch = std::regex_match(group_name, match, pattern) ? std::stoi(match[1].str()) : 0;
    if (epoch < 1 || epoch > epochs || group_name != epoch_group(epoch)) {
      throw hdf5::error("weights/" + group_name + " is not an epoch of the run (" + std::to_string(epochs) + " completed)");
    }
    if (kept.count(epoch) == 0) throw hdf5::error("weights holds " + group_name + ", which is not kept" + because);
    inline_epochs.insert(epoch);
    const hdf5::id group = open_group(weights, group_name);
    if (!attribute_names(group.get(), "weights/" + group_name).empty()) {
      throw hdf5::error("weights/" + group_name + " has attributes the schema does not define");
    }
    std::vector<array_layout> layout;
    auto& recorded = digests[static_cast<std::size_t>(epoch - 1)];
    const bool derive = version < 4;  // older files: the digests are the weights' own
    for (const auto& name : children(group.get())) {
      const std::string what = "weights/" + group_name + "/" + name;
      layout.push_back(check_array(group.get(), name, element_type::float32, what));
      const hdf5::id set = hdf5::dataset(H5Dopen2(group.get(), name.c_str(), H5P_DEFAULT), what);
      const std::string stored = hdf5::read_text(set.get(), "sha256");
      if (derive) {
        recorded.push_back({name, stored});
      } else if (layout.size() > recorded.size() || recorded[layout.size() - 1].name != name ||
                 recorded[layout.size() - 1].sha256 != stored) {
        throw hdf5::error(what + " does not match its parameter_sha256 row");
      }
    }
    if (layout.empty()) throw hdf5::error("weights/" + group_name + " is empty");
    if (layout.size() != recorded.size()) throw hdf5::error("weights/" + group_name + " does not hold every parameter of parameter_sha256");
    if (weight_layout.empty()) {
      weight_layout = layout;
      continue;
    }
    for (std::size_t i = 0; i < layout.size() || i < weight_layout.size(); ++i) {
      if (i >= layout.size() || i >= weight_layout.size() || layout[i].name != weight_layout[i].name ||
          layout[i].shape != weight_layout[i].shape) {
        throw hdf5::error("weights/" + group_name + " does not hold the same parameters as the other epochs");
      }
    }
  }
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const bool sidecar = !sidecar_sha256[static_cast<std::size_t>(epoch - 1)].empty();
    if (sidecar && kept.count(epoch) == 0) {
      throw hdf5::error("sidecar_sha256 names a sidecar for epoch " + std::to_string(epoch) + ", which is not kept" + because);
    }
    if (kept.count(epoch) > 0 && !sidecar && inline_epochs.count(epoch) == 0) {
      throw hdf5::error("weights lacks " + epoch_group(epoch) + ", and no sidecar holds it" + because);
    }
  }
  if (epochs > 0 && inline_epochs.count(epochs) == 0) throw hdf5::error("weights lacks the last epoch, " + epoch_group(epochs));
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
  version = snapshot_io::check_identity(file.get(), schema_name, schema_version, "run");
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
  try {
    policy = weights_policy_of(record);
  } catch (const input_error& e) {
    throw hdf5::error(e.what());
  }
  if (version < 4 && policy.keep != weights_policy::kind::all && policy.keep != weights_policy::kind::none) {
    throw hdf5::error("config 'keep_weights' is '" + to_string(policy) + "'; schema version " + std::to_string(version) +
                      " has all or none");
  }
  read_digests();
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
      record_digest(record, digests, sidecar_sha256, version) != record.identity["record_sha256"].get<std::string>()) {
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

std::vector<array_record> snapshot_reader::impl::read_sidecar(int epoch) const {
  const auto path = sidecar_path(fs::path(name), epoch);
  const std::string which = "the weights of epoch " + std::to_string(epoch) + " are kept in " + path.string();
  std::error_code error;
  if (!fs::exists(path, error)) throw snapshot_error(name + ": " + which + ", which is missing");
  const auto size = fs::file_size(path, error);
  // A sidecar holds one epoch's parameters, each at most 1 GiB: far less than this.
  if (error || !fs::is_regular_file(path, error) || size > (std::uint64_t{16} << 30)) {
    throw snapshot_error(name + ": " + which + ", which is not a regular file of at most 16 GiB");
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  std::ifstream in(path, std::ios::binary);
  if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    throw snapshot_error(name + ": " + which + ", which cannot be read");
  }
  // The whole file is checked before HDF5 parses any of it.
  if (trainer::sha256_hex(bytes.data(), bytes.size()) != sidecar_sha256[static_cast<std::size_t>(epoch - 1)]) {
    throw snapshot_error(name + ": " + which + ", which does not match the SHA-256 recorded for it (corrupt, or from another run)");
  }
  try {
    const hdf5::id sidecar = snapshot_io::open_image(bytes);
    snapshot_io::check_links(sidecar.get(), [](const std::string& path) -> std::optional<object_kind> {
      return path.find('/') == std::string::npos && plain_name(path) ? std::optional(object_kind::dataset) : std::nullopt;
    });
    const hdf5::id root = open_group(sidecar.get(), "/");
    auto attributes = attribute_names(root.get(), "the root");
    std::sort(attributes.begin(), attributes.end());
    if (attributes != std::vector<std::string>{"epoch", "run_id"} ||
        hdf5::read_int64(root.get(), "epoch") != epoch ||
        hdf5::read_text(root.get(), "run_id") != record.identity.at("run_id").get<std::string>()) {
      throw hdf5::error("its root does not name this run and epoch");
    }
    if (children(root.get()).size() != weight_layout.size()) throw hdf5::error("it does not hold the run's parameters");
    std::vector<array_record> out;
    for (const auto& layout : weight_layout) {
      const auto checked = check_array(root.get(), layout.name, layout.type, layout.name);
      if (checked.shape != layout.shape) throw hdf5::error(layout.name + " has another shape than in the snapshot");
      out.push_back(read_array_record(root.get(), layout, layout.name));
      if (out.back().sha256() != digest_of(digests[static_cast<std::size_t>(epoch - 1)], layout.name)) {
        throw hdf5::error(layout.name + " does not match its parameter_sha256 row");
      }
    }
    return out;
  } catch (const hdf5::error& e) {
    throw snapshot_error(name + ": " + which + ": " + e.what());
  } catch (const std::logic_error& e) {
    throw snapshot_error(name + ": " + which + ": " + e.what());
  }
}

std::vector<array_record> snapshot_reader::weights(int epoch) const {
  if (!keeps_weights(impl_->record)) {
    throw snapshot_error(impl_->name + ": keeps no weights (the run was recorded with --keep-weights none)");
  }
  if (epoch < 1 || epoch > static_cast<int>(impl_->record.epochs.size())) {
    throw snapshot_error(impl_->name + ": has no weights for epoch " + std::to_string(epoch));
  }
  if (impl_->inline_epochs.count(epoch) == 0) {
    if (!impl_->sidecar_sha256[static_cast<std::size_t>(epoch - 1)].empty()) return impl_->read_sidecar(epoch);
    throw snapshot_error(impl_->name + ": keeps no weights for epoch " + std::to_string(epoch) + " (recorded with --keep-weights " +
                         to_string(impl_->policy) + ")");
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

bool snapshot_reader::has_weights(int epoch) const {
  const auto kept = weight_epochs();
  return std::count(kept.begin(), kept.end(), epoch) > 0;
}

std::vector<int> snapshot_reader::weight_epochs() const {
  return keeps_weights(impl_->record) ? kept_epochs(impl_->policy, impl_->record.epochs) : std::vector<int>{};
}

bool snapshot_reader::has_sidecars() const {
  return std::any_of(impl_->sidecar_sha256.begin(), impl_->sidecar_sha256.end(), [](const auto& s) { return !s.empty(); });
}

std::vector<int> snapshot_reader::missing_sidecars() const {
  std::vector<int> missing;
  for (const int epoch : weight_epochs()) {
    std::error_code error;
    if (impl_->inline_epochs.count(epoch) == 0 && !fs::exists(sidecar_path(fs::path(impl_->name), epoch), error)) {
      missing.push_back(epoch);
    }
  }
  return missing;
}

std::vector<parameter_digest> snapshot_reader::parameter_digests(int epoch) const {
  if (epoch < 1 || epoch > static_cast<int>(impl_->digests.size())) return {};
  return impl_->digests[static_cast<std::size_t>(epoch - 1)];
}

void pack_snapshot(const snapshot_reader& reader, const fs::path& out) {
  const auto& record = reader.record();
  const auto version = record.identity.at("schema_version").get<std::int64_t>();
  if (version < schema_version) {
    throw snapshot_error("pack takes snapshots of schema version " + std::to_string(schema_version) + "; this one is version " +
                         std::to_string(version) + ", which is self-contained already");
  }
  const auto epochs = record.epochs.size();
  std::vector<std::vector<parameter_digest>> digests;
  for (std::size_t e = 1; e <= epochs; ++e) digests.push_back(reader.parameter_digests(static_cast<int>(e)));
  const std::vector<std::string> no_sidecars(epochs);
  std::map<int, shared_arrays> weights;
  for (const int epoch : reader.weight_epochs()) weights[epoch] = std::make_shared<const std::vector<array_record>>(reader.weights(epoch));
  const auto state = reader.state();
  auto packed = record;
  packed.identity["record_sha256"] = record_digest(packed, digests, no_sidecars, schema_version);
  std::error_code error;
  if (fs::exists(out, error)) throw snapshot_write_error(out.string() + " already exists");
  write_snapshot_file(out, "writing", [&](hid_t file) {
    build_snapshot(file, packed, digests, no_sidecars, weights, state ? &*state : nullptr, true);
  });
}

bool mark_run_failed(const fs::path& snapshot, const std::string& error) {
  const snapshot_reader reader(snapshot);
  const auto& impl = *reader.impl_;
  if (impl.record.identity.at("status").get<std::string>() != "running") return false;
  if (impl.version < schema_version) {
    throw snapshot_error(snapshot.string() + " is of schema version " + std::to_string(impl.version) +
                         "; only a run of this version (" + std::to_string(schema_version) + ") can be marked failed");
  }
  auto after = impl.record;
  after.identity["status"] = "failed";
  after.identity["error"] = error;
  after.identity["end_time"] = utc_timestamp();
  after.identity["record_sha256"] = record_digest(after, impl.digests, impl.sidecar_sha256, schema_version);
  std::map<int, shared_arrays> inline_weights;
  for (const int epoch : impl.inline_epochs) {
    inline_weights[epoch] = std::make_shared<const std::vector<array_record>>(reader.weights(epoch));
  }
  const auto state = reader.state();
  write_snapshot_file(snapshot, "rewriting", [&](hid_t file) {
    build_snapshot(file, after, impl.digests, impl.sidecar_sha256, inline_weights, state ? &*state : nullptr, false);
  });
  return true;
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
