// The record's own checks: its digest (record_sha256) and the consistency of its values.
#include <cmath>
#include <map>

#include "profile_io.h"
#include "snapshot_layout.h"
#include "trackbench/tracking/format/schema.h"

namespace trackbench::tracking::snapshot_layout {

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
  if (version >= schema::profile_since) profile_io::hash_profiles(hash, record.profiles);
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

namespace {

std::int64_t sum(const std::vector<std::int64_t>& values) {
  std::int64_t total = 0;
  for (const auto value : values) total += value;  // each at most 2^50 (the field's rule), so no overflow
  return total;
}

}  // namespace

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
  profile_io::check_profiles(record);
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

}  // namespace trackbench::tracking::snapshot_layout
