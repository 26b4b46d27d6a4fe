// A run's record in memory: its arrays, its status as shown, and the record as JSON.
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "snapshot_layout.h"
#include "trackbench/tracking/format/schema.h"
#include "trackbench/trainer/checksum.h"

namespace trackbench::tracking {

using json = nlohmann::ordered_json;
using snapshot_layout::epoch_group;

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

std::int64_t array_record::element_count() const {
  std::int64_t count = 1;
  for (const auto dim : shape) count *= dim;
  return count;
}

std::string array_record::sha256() const { return trainer::sha256_hex(bytes.data(), bytes.size()); }

std::filesystem::path sidecar_path(const std::filesystem::path& snapshot, int epoch) {
  return std::filesystem::path(snapshot.string() + ".epochs") / (epoch_group(epoch) + ".h5");
}

std::string count_of(std::int64_t count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& values, const std::string& separator) {
  std::string text;
  for (const auto& value : values) text += (text.empty() ? "" : separator) + value;
  return text;
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
  json profiles = json::object();
  for (const auto& profile : record.profiles) {
    profiles[profile.split] = {{"images", profile.images},
                               {"ink_mean", profile.ink_mean},
                               {"ink_stddev", profile.ink_stddev},
                               {"class_counts", profile.class_counts},
                               {"mean_image", profile.mean_image},
                               {"intensity_histogram", profile.intensity_histogram},
                               {"ink_histogram", profile.ink_histogram}};
  }
  // null in files older than the profiles (schema version 5)
  out["data"]["profiles"] = record.profiles.empty() ? json(nullptr) : std::move(profiles);
  out["epochs"] = std::move(epochs);
  return out;
}

std::optional<trainer::data_profile> profile_of(const run_record& record, const std::string& split) {
  for (const auto& profile : record.profiles) {
    if (profile.split == split) return profile;
  }
  return std::nullopt;
}

std::optional<double> run_level_value(const run_record& run, const std::string& metric) {
  const auto found = run.identity.find(metric);
  if (found == run.identity.end() || !found->is_number()) return std::nullopt;
  const double value = found->get<double>();
  if (std::isnan(value) || (metric == "target_reached_epoch" && value < 1.0)) return std::nullopt;
  return value;
}

}  // namespace trackbench::tracking
