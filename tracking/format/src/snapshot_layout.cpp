#include "snapshot_layout.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "profile_io.h"
#include "trackbench/tracking/format/schema.h"

namespace trackbench::tracking::snapshot_layout {

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

bool is_epoch_group(const std::string& name) {
  return name.rfind("epoch_", 0) == 0 && snapshot_io::decimal_digits(name.substr(6), 4, 6);
}

std::string epoch_group(std::int64_t epoch) {
  char name[32];
  std::snprintf(name, sizeof name, "epoch_%04lld", static_cast<long long>(epoch));
  return name;
}

std::string to_hex(const std::uint8_t* bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (std::int64_t i = 0; i < digest_bytes; ++i) {
    hex += digits[bytes[i] >> 4];
    hex += digits[bytes[i] & 15];
  }
  return hex;
}

void from_hex(const std::string& hex, std::uint8_t* out) {
  std::fill(out, out + digest_bytes, std::uint8_t{0});
  if (hex.empty()) return;
  if (hex.size() != 2 * digest_bytes) throw std::logic_error("a SHA-256 of " + std::to_string(hex.size()) + " digits");
  const auto nibble = [](char c) { return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10); };
  for (std::int64_t i = 0; i < digest_bytes; ++i) out[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
}

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

namespace {

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
  profile_io::write_profiles(file, record.profiles);
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

}  // namespace

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

void build_sidecar(hid_t file, const std::string& run_id, int epoch, const std::vector<array_record>& arrays,
                   const std::vector<parameter_digest>& digests) {
  const hdf5::id root = hdf5::group(H5Gopen2(file, "/", H5P_DEFAULT), "/");
  hdf5::write_text(root.get(), "run_id", run_id);
  hdf5::write_int64(root.get(), "epoch", epoch);
  for (const auto& array : arrays) write_array_record(root.get(), array, digest_of(digests, array.name), true);
}

}  // namespace trackbench::tracking::snapshot_layout
