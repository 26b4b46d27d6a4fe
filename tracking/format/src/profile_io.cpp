#include "profile_io.h"

#include <algorithm>

#include "trackbench/tracking/format/schema.h"

namespace trackbench::tracking::profile_io {
namespace {

using json = nlohmann::ordered_json;

// The values of array `name` of a profile, as stored: counts as int64, the mean image as float64.
template <typename Visit>
void each_array(const trainer::data_profile& profile, Visit&& visit) {
  for (const auto& array : schema::profile_arrays()) {
    if (array.name == "class_counts") visit(array, profile.class_counts);
    if (array.name == "mean_image") visit(array, profile.mean_image);
    if (array.name == "intensity_histogram") visit(array, profile.intensity_histogram);
    if (array.name == "ink_histogram") visit(array, profile.ink_histogram);
  }
}

std::vector<std::uint64_t>& counts_of(trainer::data_profile& profile, const std::string& name) {
  if (name == "class_counts") return profile.class_counts;
  if (name == "intensity_histogram") return profile.intensity_histogram;
  return profile.ink_histogram;
}

std::uint64_t sum(const std::vector<std::uint64_t>& values) {
  std::uint64_t total = 0;
  for (const auto value : values) total += value;  // each at most 784 x 2^50 (its rule): no overflow of ten or 784 of them
  return total;
}

}  // namespace

void write_profiles(hid_t file, const std::vector<trainer::data_profile>& profiles) {
  if (profiles.empty()) return;
  const hdf5::id data = snapshot_io::open_group(file, "data");
  const hdf5::id group = hdf5::create_group(data.get(), "profiles");
  for (const auto& profile : profiles) {
    const std::string where = "data/profiles/" + profile.split;
    const hdf5::id one = hdf5::create_group(group.get(), profile.split);
    snapshot_io::write_fields(one.get(), schema::profile_fields(),
                              json{{"images", static_cast<std::int64_t>(profile.images)},
                                   {"ink_mean", profile.ink_mean},
                                   {"ink_stddev", profile.ink_stddev}},
                              where);
    each_array(profile, [&](const schema::profile_array& array, const auto& values) {
      if (static_cast<std::int64_t>(values.size()) != array.length) {
        throw std::logic_error(where + "/" + array.name + " needs " + std::to_string(array.length) + " values");
      }
      hdf5::write_array(one.get(), array.name, array.integer ? hdf5::element::int64 : hdf5::element::float64,
                        {array.length}, values.data(), array.length > 16);
    });
  }
}

std::optional<snapshot_io::object_kind> profile_kind(const std::string& path) {
  using kind = snapshot_io::object_kind;
  if (path == "data/profiles") return kind::group;
  const auto& splits = schema::profile_splits();
  for (const auto& split : splits) {
    const std::string group = "data/profiles/" + split;
    if (path == group) return kind::group;
    for (const auto& array : schema::profile_arrays()) {
      if (path == group + "/" + array.name) return kind::dataset;
    }
  }
  return std::nullopt;
}

std::vector<trainer::data_profile> read_profiles(hid_t file, std::int64_t version) {
  const hdf5::id data = snapshot_io::open_group(file, "data");
  if (hdf5::check(H5Lexists(data.get(), "profiles", H5P_DEFAULT), "data/profiles") <= 0) return {};
  if (version < schema::profile_since) {
    throw hdf5::error("data/profiles is not part of snapshot schema version " + std::to_string(version));
  }
  const hdf5::id group = snapshot_io::open_group(data.get(), "profiles");
  if (!snapshot_io::attribute_names(group.get(), "data/profiles").empty()) {
    throw hdf5::error("data/profiles carries unexpected attributes");
  }
  const auto present = snapshot_io::children(group.get());
  std::vector<trainer::data_profile> profiles;
  for (const auto& split : schema::profile_splits()) {
    const std::string where = "data/profiles/" + split;
    if (std::find(present.begin(), present.end(), split) == present.end()) {
      throw hdf5::error("data/profiles lacks '" + split + "'; a file with profiles carries train, validation and test");
    }
    const hdf5::id one = snapshot_io::open_group(group.get(), split);
    const json fields = snapshot_io::read_fields(one.get(), schema::profile_fields(), where, version);
    trainer::data_profile profile;
    profile.split = split;
    profile.images = fields.at("images").get<std::uint64_t>();
    profile.ink_mean = fields.at("ink_mean").get<double>();
    profile.ink_stddev = fields.at("ink_stddev").get<double>();
    for (const auto& array : schema::profile_arrays()) {
      const std::string what = where + "/" + array.name;
      if (hdf5::check(H5Lexists(one.get(), array.name.c_str(), H5P_DEFAULT), what) <= 0) {
        throw hdf5::error(where + " lacks '" + array.name + "'");
      }
      const hdf5::id set = hdf5::dataset(H5Dopen2(one.get(), array.name.c_str(), H5P_DEFAULT), what);
      const auto type = array.integer ? hdf5::element::int64 : hdf5::element::float64;
      if (hdf5::checked_shape(set.get(), type, what) != std::vector<std::int64_t>{array.length}) {
        throw hdf5::error(what + " must hold " + std::to_string(array.length) + " values");
      }
      if (!snapshot_io::attribute_names(set.get(), what).empty()) throw hdf5::error(what + " carries unexpected attributes");
      json values;
      if (array.integer) {
        std::vector<std::int64_t> stored(static_cast<std::size_t>(array.length));
        hdf5::read_array(set.get(), type, stored.data(), what);
        values = stored;
        if (const auto broken = schema::rule_violation(array.rule, values)) throw hdf5::error(what + " " + *broken);
        counts_of(profile, array.name).assign(stored.begin(), stored.end());
      } else {
        profile.mean_image.resize(static_cast<std::size_t>(array.length));
        hdf5::read_array(set.get(), type, profile.mean_image.data(), what);
        values = profile.mean_image;
        if (const auto broken = schema::rule_violation(array.rule, values)) throw hdf5::error(what + " " + *broken);
      }
    }
    profiles.push_back(std::move(profile));
  }
  return profiles;
}

void hash_profiles(snapshot_io::canonical_hash& hash, const std::vector<trainer::data_profile>& profiles) {
  hash.count(profiles.size());
  for (const auto& profile : profiles) {
    hash.text(profile.split);
    hash.count(profile.images);
    hash.number(profile.ink_mean);
    hash.number(profile.ink_stddev);
    each_array(profile, [&](const schema::profile_array&, const auto& values) {
      hash.bytes(values.data(), values.size() * sizeof values[0]);
    });
  }
}

void check_profiles(const run_record& record) {
  if (record.profiles.empty()) return;
  const auto& splits = schema::profile_splits();
  if (record.profiles.size() != splits.size()) throw std::logic_error("a record holds profiles of some splits only");
  const auto& data = record.data;
  const std::vector<std::pair<const char*, const char*>> expected{{"split_train_count", "train_class_counts"},
                                                                  {"split_validation_count", "validation_class_counts"},
                                                                  {"test_count", "test_class_counts"}};
  for (std::size_t i = 0; i < splits.size(); ++i) {
    const auto& profile = record.profiles[i];
    const std::string where = "data/profiles/" + splits[i];
    if (profile.split != splits[i]) throw std::logic_error(where + " holds the profile of " + profile.split);
    const auto images = data.at(expected[i].first).get<std::int64_t>();
    if (profile.images != static_cast<std::uint64_t>(images)) {
      throw hdf5::error(where + " 'images' is " + std::to_string(profile.images) + " but data '" + expected[i].first +
                        "' is " + std::to_string(images));
    }
    const auto counts = data.at(expected[i].second).get<std::vector<std::int64_t>>();
    if (!std::equal(counts.begin(), counts.end(), profile.class_counts.begin(), profile.class_counts.end(),
                    [](std::int64_t a, std::uint64_t b) { return static_cast<std::uint64_t>(a) == b; })) {
      throw hdf5::error(where + "/class_counts differs from data '" + expected[i].second + "'");
    }
    const auto check_sum = [&](const char* name, const std::vector<std::uint64_t>& values, std::uint64_t wanted) {
      if (sum(values) != wanted) {
        throw hdf5::error(where + "/" + name + " sums to " + std::to_string(sum(values)) + ", expected " +
                          std::to_string(wanted));
      }
    };
    check_sum("intensity_histogram", profile.intensity_histogram, profile.images * 784);
    check_sum("ink_histogram", profile.ink_histogram, profile.images);
  }
}

}  // namespace trackbench::tracking::profile_io
