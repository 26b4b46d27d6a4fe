#include "trackbench/tracking/format/bench.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "hdf5_io.h"
#include "snapshot_io.h"
#include "trackbench/tracking/format/google_benchmark.h"
#include "trackbench/tracking/format/schema.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using snapshot_io::object_kind;

// Bounds a crafted file cannot exceed: far above any real invocation.
constexpr std::int64_t max_benchmarks = 100000;
constexpr std::int64_t max_samples = 10000000;
constexpr std::int64_t max_counters = 100000000;
// NaN in the instructions_per_iteration column: not counted.
constexpr double not_counted = std::numeric_limits<double>::quiet_NaN();

// The names of the columns of `type` in /benchmarks.
std::vector<std::string> benchmark_columns(schema::column_type type) {
  std::vector<std::string> names;
  for (const auto& column : schema::bench_benchmark_columns()) {
    if (column.type == type) names.push_back(column.name);
  }
  return names;
}
const std::vector<std::string>& text_columns() {
  static const auto names = benchmark_columns(schema::column_type::text);
  return names;
}
const std::vector<std::string>& flag_columns() {
  static const auto names = benchmark_columns(schema::column_type::flag);
  return names;
}

// The three tables, by group name.
const std::vector<std::pair<std::string, const std::vector<schema::table_column>*>>& tables() {
  static const std::vector<std::pair<std::string, const std::vector<schema::table_column>*>> all{
      {"benchmarks", &schema::bench_benchmark_columns()},
      {"samples", &schema::bench_sample_columns()},
      {"counters", &schema::bench_counter_columns()}};
  return all;
}

// ---- writing -------------------------------------------------------------------------------

void write_int64_column(hid_t group, const std::string& name, const std::vector<std::int64_t>& values) {
  hdf5::write_array(group, name, hdf5::element::int64, {static_cast<std::int64_t>(values.size())}, values.data(), false);
}

void write_float64_column(hid_t group, const std::string& name, const std::vector<double>& values) {
  hdf5::write_array(group, name, hdf5::element::float64, {static_cast<std::int64_t>(values.size())}, values.data(),
                    false);
}

void write_record(hid_t file, const bench_record& record) {
  const hdf5::id root = hdf5::group(H5Gopen2(file, "/", H5P_DEFAULT), "/");
  snapshot_io::write_fields(root.get(), schema::bench_identity_fields(), record.identity, "identity");
  snapshot_io::write_environment(file, record.environment);
  snapshot_io::write_code(file, record.code, record.code_diff);
  snapshot_io::write_data(file, schema::bench_data_fields(), record.data);

  std::map<std::string, std::vector<std::string>> text;
  std::map<std::string, std::vector<std::uint8_t>> flags;
  std::vector<std::int64_t> sample_benchmark, sample_repetition, sample_iterations, counter_sample;
  std::vector<double> real_seconds, cpu_seconds, counter_value, instructions;
  std::vector<std::string> counter_name;
  for (std::size_t b = 0; b < record.benchmarks.size(); ++b) {
    const auto& result = record.benchmarks[b];
    const std::pair<const char*, const std::string*> columns[] = {
        {"name", &result.name},   {"suite", &result.suite}, {"run_name", &result.run_name},
        {"time_unit", &result.time_unit}, {"label", &result.label}, {"skip_message", &result.skip_message}};
    for (const auto& [column, value] : columns) text[column].push_back(*value);
    flags["manual_time"].push_back(result.manual_time ? 1 : 0);
    flags["skipped"].push_back(result.skipped ? 1 : 0);
    instructions.push_back(result.instructions_per_iteration.value_or(not_counted));
    for (std::size_t r = 0; r < result.samples.size(); ++r) {
      const auto& sample = result.samples[r];
      for (const auto& [name, value] : sample.counters) {
        counter_sample.push_back(static_cast<std::int64_t>(sample_benchmark.size()));
        counter_name.push_back(name);
        counter_value.push_back(value);
      }
      sample_benchmark.push_back(static_cast<std::int64_t>(b));
      sample_repetition.push_back(static_cast<std::int64_t>(r));
      sample_iterations.push_back(sample.iterations);
      real_seconds.push_back(sample.real_seconds);
      cpu_seconds.push_back(sample.cpu_seconds);
    }
  }
  const hdf5::id benchmarks = hdf5::create_group(file, "benchmarks");
  for (const auto& column : text_columns()) hdf5::write_text_column(benchmarks.get(), column, text[column]);
  for (const auto& column : flag_columns()) {
    const auto& values = flags[column];
    hdf5::write_array(benchmarks.get(), column, hdf5::element::uint8, {static_cast<std::int64_t>(values.size())},
                      values.data(), false);
  }
  write_float64_column(benchmarks.get(), "instructions_per_iteration", instructions);
  const hdf5::id samples = hdf5::create_group(file, "samples");
  write_int64_column(samples.get(), "benchmark", sample_benchmark);
  write_int64_column(samples.get(), "repetition", sample_repetition);
  write_int64_column(samples.get(), "iterations", sample_iterations);
  write_float64_column(samples.get(), "real_seconds", real_seconds);
  write_float64_column(samples.get(), "cpu_seconds", cpu_seconds);
  const hdf5::id counters = hdf5::create_group(file, "counters");
  write_int64_column(counters.get(), "sample", counter_sample);
  hdf5::write_text_column(counters.get(), "name", counter_name);
  write_float64_column(counters.get(), "value", counter_value);
}

// record_sha256 of a bench snapshot (docs/snapshot-format.md): identity, sections, then each
// benchmark's columns and samples with their counters, in the record's order.
std::string bench_digest(const bench_record& record, std::int64_t version) {
  snapshot_io::canonical_hash hash;
  hash.fields(schema::bench_identity_fields(), record.identity, version, "record_sha256");
  snapshot_io::hash_sections(hash, record.environment, record.code, record.code_diff, schema::bench_data_fields(),
                             record.data, schema::sections_version(version));
  hash.count(record.benchmarks.size());
  for (const auto& result : record.benchmarks) {
    for (const auto* text : {&result.name, &result.suite, &result.run_name, &result.time_unit, &result.label,
                             &result.skip_message}) {
      hash.text(*text);
    }
    const std::uint8_t flags[] = {result.manual_time, result.skipped};
    hash.bytes(flags, sizeof flags);
    if (version >= 4) hash.number(result.instructions_per_iteration.value_or(not_counted));
    hash.count(result.samples.size());
    for (const auto& sample : result.samples) {
      hash.number(sample.iterations);
      hash.number(sample.real_seconds);
      hash.number(sample.cpu_seconds);
      hash.count(sample.counters.size());
      for (const auto& [name, value] : sample.counters) {
        hash.text(name);
        hash.number(value);
      }
    }
  }
  return hash.hex();
}

// ---- reading -------------------------------------------------------------------------------

std::optional<object_kind> bench_kind(const std::string& path) {
  for (const auto& [group, columns] : tables()) {
    if (path == group) return object_kind::group;
    for (const auto& column : *columns) {
      if (path == group + "/" + column.name) return object_kind::dataset;
    }
  }
  return snapshot_io::section_kind(path, schema::bench_data_fields());
}

// Rows of a 1-D numeric column, at most `limit`.
std::int64_t column_rows(hid_t group, const std::string& what, const std::string& name, hdf5::element type,
                         std::int64_t limit) {
  const hdf5::id set = hdf5::dataset(H5Dopen2(group, name.c_str(), H5P_DEFAULT), what + "/" + name);
  const auto shape = hdf5::checked_shape(set.get(), type, what + "/" + name);
  if (shape.size() != 1 || shape[0] > limit) {
    throw hdf5::error(what + "/" + name + " must be 1-D with at most " + std::to_string(limit) + " rows");
  }
  return shape[0];
}

template <typename T>
std::vector<T> read_column(hid_t group, const std::string& what, const std::string& name, hdf5::element type,
                           std::int64_t rows) {
  const std::string path = what + "/" + name;
  const hdf5::id set = hdf5::dataset(H5Dopen2(group, name.c_str(), H5P_DEFAULT), path);
  if (hdf5::checked_shape(set.get(), type, path) != std::vector<std::int64_t>{rows}) {
    throw hdf5::error(path + " must hold " + std::to_string(rows) + " rows like the other columns of " + what);
  }
  if (!snapshot_io::attribute_names(set.get(), path).empty()) throw hdf5::error(path + " carries unexpected attributes");
  std::vector<T> values(static_cast<std::size_t>(rows));
  if (rows > 0) hdf5::read_array(set.get(), type, values.data(), path);
  return values;
}

std::vector<std::string> read_text(hid_t group, const std::string& what, const std::string& name, std::int64_t rows) {
  const std::string path = what + "/" + name;
  const hdf5::id set = hdf5::dataset(H5Dopen2(group, name.c_str(), H5P_DEFAULT), path);
  if (!snapshot_io::attribute_names(set.get(), path).empty()) throw hdf5::error(path + " carries unexpected attributes");
  return hdf5::read_text_column(set.get(), rows, path);
}

// A table group: no attributes and exactly the schema's columns of a file of `version`.
hdf5::id open_table(hid_t file, const std::string& name, const std::vector<schema::table_column>& columns,
                    std::int64_t version) {
  hdf5::id group = snapshot_io::open_group(file, name);
  if (!snapshot_io::attribute_names(group.get(), name).empty()) throw hdf5::error(name + " carries unexpected attributes");
  const auto present = snapshot_io::children(group.get());
  for (const auto& column : columns) {
    const bool expected = column.since <= version;
    const bool found = std::find(present.begin(), present.end(), column.name) != present.end();
    if (expected && !found) throw hdf5::error(name + " lacks its column '" + column.name + "'");
    if (!expected && found) {
      throw hdf5::error(name + " has column '" + column.name + "', which bench schema version " +
                        std::to_string(version) + " does not define");
    }
  }
  return group;
}

bench_record read_record(hid_t file) {
  // Identify the file before judging its layout, so a foreign file or a newer schema gets
  // that explanation rather than a complaint about some object.
  const std::int64_t version = snapshot_io::check_identity(file, bench_schema_name, bench_schema_version, "bench");
  snapshot_io::check_links(file, bench_kind);
  bench_record record;
  {
    const hdf5::id root = snapshot_io::open_group(file, "/");
    record.identity = snapshot_io::read_fields(root.get(), schema::bench_identity_fields(), "identity", version);
  }
  const std::int64_t sections = schema::sections_version(version);
  record.environment = snapshot_io::read_environment(file, sections);
  record.code = snapshot_io::read_code(file, record.code_diff, sections);
  record.data = snapshot_io::read_data(file, schema::bench_data_fields(), sections);

  const hdf5::id benchmarks = open_table(file, "benchmarks", schema::bench_benchmark_columns(), version);
  const std::int64_t count = column_rows(benchmarks.get(), "benchmarks", "skipped", hdf5::element::uint8, max_benchmarks);
  std::map<std::string, std::vector<std::string>> text;
  for (const auto& column : text_columns()) text[column] = read_text(benchmarks.get(), "benchmarks", column, count);
  std::map<std::string, std::vector<std::uint8_t>> flags;
  for (const auto& column : flag_columns()) {
    flags[column] = read_column<std::uint8_t>(benchmarks.get(), "benchmarks", column, hdf5::element::uint8, count);
  }
  const auto instructions =
      version >= 4 ? read_column<double>(benchmarks.get(), "benchmarks", "instructions_per_iteration",
                                         hdf5::element::float64, count)
                   : std::vector<double>(static_cast<std::size_t>(count), not_counted);
  std::set<std::string> keys;
  record.benchmarks.resize(static_cast<std::size_t>(count));
  for (std::size_t b = 0; b < record.benchmarks.size(); ++b) {
    auto& result = record.benchmarks[b];
    const std::string row = "benchmarks row " + std::to_string(b);
    result.name = text["name"][b];
    result.suite = text["suite"][b];
    result.run_name = text["run_name"][b];
    result.time_unit = text["time_unit"][b];
    result.label = text["label"][b];
    result.skip_message = text["skip_message"][b];
    if (result.name.empty() || result.suite.empty()) throw hdf5::error(row + " has an empty name or suite");
    if (seconds_per_unit(result.time_unit) == 0.0) {
      throw hdf5::error(row + " has time_unit '" + result.time_unit + "'; expected ns, us, ms or s");
    }
    if (flags["manual_time"][b] > 1 || flags["skipped"][b] > 1) throw hdf5::error(row + " has a flag other than 0 or 1");
    result.manual_time = flags["manual_time"][b] == 1;
    result.skipped = flags["skipped"][b] == 1;
    if (!std::isnan(instructions[b])) {
      if (!std::isfinite(instructions[b]) || instructions[b] < 0 || result.skipped) {
        throw hdf5::error(row + " has instructions_per_iteration " + std::to_string(instructions[b]) +
                          "; expected NaN (not counted, always for a skipped benchmark) or a finite count >= 0");
      }
      result.instructions_per_iteration = instructions[b];
    }
    // The gate matches benchmarks by name, so a name may appear once.
    if (!keys.insert(result.name).second) throw hdf5::error(row + " repeats benchmark '" + result.name + "'");
  }

  const hdf5::id samples = open_table(file, "samples", schema::bench_sample_columns(), version);
  const std::int64_t rows = column_rows(samples.get(), "samples", "benchmark", hdf5::element::int64, max_samples);
  const auto owner = read_column<std::int64_t>(samples.get(), "samples", "benchmark", hdf5::element::int64, rows);
  const auto repetition = read_column<std::int64_t>(samples.get(), "samples", "repetition", hdf5::element::int64, rows);
  const auto iterations = read_column<std::int64_t>(samples.get(), "samples", "iterations", hdf5::element::int64, rows);
  const auto real = read_column<double>(samples.get(), "samples", "real_seconds", hdf5::element::float64, rows);
  const auto cpu = read_column<double>(samples.get(), "samples", "cpu_seconds", hdf5::element::float64, rows);
  for (std::size_t s = 0; s < owner.size(); ++s) {
    const std::string row = "samples row " + std::to_string(s);
    if (owner[s] < 0 || owner[s] >= count || (s > 0 && owner[s] < owner[s - 1])) {
      throw hdf5::error(row + " names benchmark " + std::to_string(owner[s]) + "; rows must be grouped by benchmark");
    }
    auto& result = record.benchmarks[static_cast<std::size_t>(owner[s])];
    if (result.skipped) throw hdf5::error(row + " is a sample of skipped benchmark '" + result.name + "'");
    if (repetition[s] != static_cast<std::int64_t>(result.samples.size())) {
      throw hdf5::error(row + " has repetition " + std::to_string(repetition[s]) + ", expected " +
                        std::to_string(result.samples.size()));
    }
    if (iterations[s] < 1 || !std::isfinite(real[s]) || !std::isfinite(cpu[s]) || real[s] < 0 || cpu[s] < 0) {
      throw hdf5::error(row + " holds an impossible iteration count or time");
    }
    result.samples.push_back({iterations[s], real[s], cpu[s], {}});
  }

  const hdf5::id counters = open_table(file, "counters", schema::bench_counter_columns(), version);
  const std::int64_t entries = column_rows(counters.get(), "counters", "sample", hdf5::element::int64, max_counters);
  const auto sample = read_column<std::int64_t>(counters.get(), "counters", "sample", hdf5::element::int64, entries);
  const auto names = read_text(counters.get(), "counters", "name", entries);
  const auto values = read_column<double>(counters.get(), "counters", "value", hdf5::element::float64, entries);
  for (std::size_t c = 0; c < sample.size(); ++c) {
    const std::string row = "counters row " + std::to_string(c);
    if (sample[c] < 0 || sample[c] >= rows || (c > 0 && sample[c] < sample[c - 1])) {
      throw hdf5::error(row + " names sample " + std::to_string(sample[c]) + "; rows must be grouped by sample");
    }
    if (names[c].empty() || !std::isfinite(values[c])) throw hdf5::error(row + " has an empty name or a non-finite value");
    const auto s = static_cast<std::size_t>(sample[c]);
    auto& result = record.benchmarks[static_cast<std::size_t>(owner[s])];
    result.samples[static_cast<std::size_t>(repetition[s])].counters.emplace_back(names[c], values[c]);
  }
  if (checksummed(record) && bench_digest(record, version) != record.identity["record_sha256"].get<std::string>()) {
    throw hdf5::error("the record does not match its record_sha256: the file is corrupt");
  }
  return record;
}

template <typename Open>
bench_record read_with(const std::string& name, Open&& open) {
  try {
    const hdf5::id file = open();
    return read_record(file.get());
  } catch (const hdf5::error& e) {
    throw snapshot_error(name + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw snapshot_error(name + ": " + e.what());
  }
}

}  // namespace

std::vector<double> bench_result::real_seconds() const {
  std::vector<double> values;
  values.reserve(samples.size());
  for (const auto& sample : samples) values.push_back(sample.real_seconds);
  return values;
}

void write_bench_snapshot(const fs::path& path, const bench_record& record) {
  if (fs::exists(path)) throw snapshot_write_error("snapshot " + path.string() + " already exists");
  try {
    const hdf5::id file = snapshot_io::create_in_memory(path.string() + " (in memory)");
    auto digested = record;
    digested.identity["record_sha256"] = bench_digest(digested, bench_schema_version);
    write_record(file.get(), digested);
    snapshot_io::file_image image;
    snapshot_io::take_image(file.get(), image);
    snapshot_io::write_durably(path, image);
  } catch (const std::logic_error&) {
    throw;  // a record this program built wrongly
  } catch (const std::exception& e) {
    throw snapshot_write_error("writing bench snapshot " + path.string() + " failed: " + e.what());
  }
}

bench_record read_bench_snapshot(const fs::path& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) throw snapshot_error(path.string() + ": no such snapshot file");
  return read_with(path.string(), [&] { return snapshot_io::open_file(path); });
}

bench_record read_bench_snapshot(const std::vector<std::uint8_t>& image, const std::string& name) {
  return read_with(name, [&] { return snapshot_io::open_image(image); });
}

bench_record read_bench_record(hdf5::id file, const std::string& name) {
  return read_with(name, [&] { return std::move(file); });
}

std::string snapshot_schema(const fs::path& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) throw snapshot_error(path.string() + ": no such snapshot file");
  try {
    const hdf5::id file = snapshot_io::open_file(path);
    return snapshot_io::read_schema(file.get());
  } catch (const hdf5::error& e) {
    throw snapshot_error(path.string() + ": " + e.what());
  }
}

bool checksummed(const bench_record& record) { return record.identity.contains("record_sha256"); }

nlohmann::ordered_json to_json(const bench_record& record) {
  json out = record.identity;
  out["environment"] = record.environment;
  out["code"] = record.code;
  out["code"]["diff"] = record.code_diff;
  out["data"] = record.data;
  out["benchmarks"] = json::array();
  for (const auto& result : record.benchmarks) {
    json samples = json::array();
    for (const auto& sample : result.samples) {
      json counters = json::array();
      for (const auto& [name, value] : sample.counters) counters.push_back({{"name", name}, {"value", value}});
      samples.push_back({{"iterations", sample.iterations},
                         {"real_seconds", sample.real_seconds},
                         {"cpu_seconds", sample.cpu_seconds},
                         {"counters", std::move(counters)}});
    }
    out["benchmarks"].push_back({{"name", result.name},
                                 {"suite", result.suite},
                                 {"run_name", result.run_name},
                                 {"time_unit", result.time_unit},
                                 {"manual_time", result.manual_time},
                                 {"label", result.label},
                                 {"skipped", result.skipped},
                                 {"skip_message", result.skip_message},
                                 {"instructions_per_iteration", result.instructions_per_iteration
                                                                    ? json(*result.instructions_per_iteration)
                                                                    : json(nullptr)},
                                 {"samples", std::move(samples)}});
  }
  return out;
}

}  // namespace trackbench::tracking
