#pragma once
// Schema v4 of a run snapshot (and v4 of a bench snapshot) as a table: which attributes each
// group holds, their types, units and allowed values, and the per-epoch metric columns, each
// with the schema version it appeared in. (The arrays, /weights, /parameter_sha256,
// /sidecar_sha256 and /state, and the sidecar files are laid out by snapshot.cpp, as
// docs/snapshot-format.md describes.) The writer refuses anything not in it and the reader
// requires exactly it, less the fields and columns added after an older file's version, each
// value within its rule; docs/snapshot-format.md describes the same table.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/trainer/metrics.h"

namespace trackbench::tracking::schema {

enum class value_type {
  text,         // variable-length UTF-8 string attribute
  int64,        // 64-bit signed integer attribute
  uint64,       // 64-bit unsigned integer attribute
  float64,      // double attribute
  boolean,      // 8-bit enum {FALSE = 0, TRUE = 1} attribute (h5py reads it as numpy.bool_)
  int64_array,  // 1-D int64 dataset of class_count values
};

// What a value must be to mean what its field says. Numbers (and each element of an
// int64_array) lie between min and max (each bound included unless excluded); float64 values
// are finite unless `absent_allowed`, which lets NaN stand for "not measured"; text is one of
// `names` when any are given.
struct value_rule {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_excluded = false;  // (min, ...: a learning rate must be positive
  bool max_excluded = false;  // ..., max): momentum and validation_fraction stay below 1
  bool absent_allowed = false;
  std::vector<std::string> names;
};
value_rule any_value();
value_rule range(double min, double max);
value_rule at_least(double min);
value_rule fraction();  // [0, 1]: accuracies, precision, recall, F1
value_rule one_of(std::vector<std::string> names);  // text from a fixed list
value_rule or_absent(value_rule rule);  // the same, or NaN for "not measured"

struct field {
  std::string name;
  value_type type;
  std::string unit;  // empty when none
  std::string meaning;
  std::int64_t since = 1;  // the schema version that added it: files of older versions lack it
  value_rule rule = any_value();
  // What a file older than `since` stands for, when it stands for a value (keep_weights: version
  // 1 kept every epoch's weights, so "all"); null when the field is simply absent there.
  nlohmann::ordered_json before = nullptr;
};

// Why `value` breaks the rule ("is 5; expected finite, 0 to 1"), or nullopt when it keeps it.
// Integers are compared exactly, so a uint64 seed or an int64 byte count is never rounded.
std::optional<std::string> rule_violation(const value_rule& rule, const nlohmann::ordered_json& value);
// The rule in words, for messages: "finite, 0 to 1", "all or none", "finite, >= 0".
std::string describe(const value_rule& rule, value_type type);

// Attributes of the root group (the run's identity), /config, /environment, each
// /environment/gpus/<index> group, /code, /data and each /data/files/<file name> group.
const std::vector<field>& identity_fields();
const std::vector<field>& config_fields();
const std::vector<field>& environment_fields();
const std::vector<field>& gpu_fields();
const std::vector<field>& code_fields();
const std::vector<field>& data_fields();  // int64_array fields are datasets in /data
const std::vector<field>& data_file_fields();

// The profile of each split the run saw (trainer::data_profile), in /data/profiles/<split>
// (schema version 5 on): the attributes below, and one 1-D dataset per profile_arrays() entry.
inline constexpr std::int64_t profile_since = 5;
const std::vector<std::string>& profile_splits();  // train, validation, test: the order they are stored and hashed in
const std::vector<field>& profile_fields();
struct profile_array {
  std::string name;
  bool integer;         // int64 counts; otherwise float64
  std::int64_t length;  // values it holds
  std::string unit;
  std::string meaning;
  value_rule rule;      // each value's
};
const std::vector<profile_array>& profile_arrays();

// A bench snapshot (schema trackbench.bench): the root group's attributes, and /data, which
// describes the data set the suites read with the run snapshot's fields that do not depend on
// a training split.
const std::vector<field>& bench_identity_fields();
const std::vector<field>& bench_data_fields();

// The tables of a bench snapshot: /benchmarks (a row per benchmark), /samples (a row per
// repetition) and /counters (a row per counter value of a sample), each a group of 1-D
// datasets of one length, one per column.
enum class column_type {
  text,     // variable-length UTF-8 strings
  flag,     // uint8, 0 or 1
  int64,
  float64,
};
struct table_column {
  std::string name;
  column_type type;
  std::string unit;  // empty when none
  std::string meaning;
  std::int64_t since = 1;  // the bench schema version that added it
};
const std::vector<table_column>& bench_benchmark_columns();
const std::vector<table_column>& bench_sample_columns();
const std::vector<table_column>& bench_counter_columns();

// The shared sections (/environment, /code, /data) count `since` in run schema versions; a
// bench snapshot of `bench_version` carries them as a run snapshot of the version returned.
std::int64_t sections_version(std::int64_t bench_version);

// How compare sums a column up over a run's epochs.
enum class summary_kind {
  final_epoch,  // the last epoch's value: losses, accuracies, the learning rate
  median,       // times and throughput (the first epoch carries warm-up)
  peak,         // memory high-water marks
};

// One float64 or int64 dataset per column in /metrics, one value per completed epoch.
struct metric_column {
  std::string name;
  bool integer;
  std::string unit;
  std::string meaning;
  double (*get)(const trainer::epoch_metrics&);
  void (*set)(trainer::epoch_metrics&, double);
  value_rule rule;
  // A reproduction must match it bitwise (not wall times, throughput or memory).
  bool deterministic = true;
  summary_kind summary = summary_kind::final_epoch;
  std::int64_t since = 1;  // the schema version that added it: files of older versions lack it
};
const std::vector<metric_column>& metric_columns();
// The short names a metric may be given by (test_acc, val_acc, train_acc, val_loss) -> its column.
const std::map<std::string, std::string>& metric_aliases();
// The per-epoch column a metric name or alias names (never `epoch`); nullptr when none.
const metric_column* find_metric_column(const std::string& metric);
// The values recorded once per run, in the snapshot's root (schema version 3 on):
// warmup_seconds, target_reached_epoch, time_to_target_seconds.
const std::vector<std::string>& run_level_metrics();

// The names --conv accepts, as trainer::conv_names() lists them (the schema is read without
// the trainer; a test checks it accepts each of the trainer's): the backends and custom_v1 .. custom_v3. Runs
// record custom_vN; a plain custom is from files older than the versioned names (version 2).
const std::vector<std::string>& conv_names();

std::string type_name(value_type type);

}  // namespace trackbench::tracking::schema
