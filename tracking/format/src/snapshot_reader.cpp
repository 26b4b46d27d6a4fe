#include "trackbench/tracking/format/snapshot_reader.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "profile_io.h"
#include "record_readers.h"
#include "snapshot_layout.h"
#include "snapshot_reader_impl.h"
#include "trackbench/tracking/format/schema.h"
#include "trackbench/trainer/checksum.h"

namespace trackbench::tracking {

namespace fs = std::filesystem;
using namespace snapshot_layout;
using snapshot_io::attribute_names;
using snapshot_io::children;
using snapshot_io::component_under;
using snapshot_io::object_kind;
using snapshot_io::open_group;
using snapshot_io::plain_name;
using snapshot_io::read_fields;

namespace {

std::optional<object_kind> schema_kind(const std::string& path) {
  static const std::set<std::string> groups{"tags",  "config",          "metrics",  "weights",
                                            "state", "state/optimizer", "state/rng", "parameter_sha256"};
  if (groups.count(path) > 0) return object_kind::group;
  if (path == "sidecar_sha256") return object_kind::dataset;
  if (path.rfind("parameter_sha256/", 0) == 0) {
    return plain_name(path.substr(path.find('/') + 1)) ? std::optional(object_kind::dataset) : std::nullopt;
  }
  if (const auto group = component_under(path, "weights"); group && is_epoch_group(*group)) return object_kind::group;
  const auto slash = path.rfind('/');
  const bool weight = slash != std::string::npos && component_under(path.substr(0, slash), "weights") &&
                      is_epoch_group(path.substr(8, slash - 8));
  if (const auto name = component_under(path, weight ? path.substr(0, slash) : "state/optimizer")) {
    return plain_name(*name) ? std::optional(object_kind::dataset) : std::nullopt;
  }
  if (path == "state/rng/cpu" || path == "state/rng/cuda") return object_kind::dataset;
  if (path == "metrics/test_confusion" || path == "metrics/validation_confusion") return object_kind::dataset;
  for (const auto& column : schema::metric_columns()) {
    if (path == "metrics/" + column.name) return object_kind::dataset;
  }
  if (const auto profile = profile_io::profile_kind(path)) return profile;
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
    const int epoch = is_epoch_group(group_name) ? std::stoi(group_name.substr(6)) : 0;
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
  record.profiles = profile_io::read_profiles(file.get(), version);
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

run_record read_run_record(hdf5::id file, const std::string& name) {
  return std::move(open_snapshot(name, [&] { return std::move(file); })->record);
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
