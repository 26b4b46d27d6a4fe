#pragma once
// Schema v3 of a run snapshot as a table: which attributes each group holds, their types
// and units, and the per-epoch metric columns. The writer refuses anything not in it and the
// reader requires exactly it (less the fields added after an older file's version);
// docs/snapshot-format.md describes the same table.
#include <cstdint>
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

struct field {
  std::string name;
  value_type type;
  std::string unit;  // empty when none
  std::string meaning;
  std::int64_t since = 1;  // the schema version that added it: files of older versions lack it
};

// Attributes of the root group (the run's identity), /config, /environment, each
// /environment/gpus/<index> group, /code, /data and each /data/files/<file name> group.
const std::vector<field>& identity_fields();
const std::vector<field>& config_fields();
const std::vector<field>& environment_fields();
const std::vector<field>& gpu_fields();
const std::vector<field>& code_fields();
const std::vector<field>& data_fields();  // int64_array fields are datasets in /data
const std::vector<field>& data_file_fields();

// A bench snapshot (schema trackbench.bench): the root group's attributes, and /data, which
// describes the data set the suites read with the run snapshot's fields that do not depend on
// a training split.
const std::vector<field>& bench_identity_fields();
const std::vector<field>& bench_data_fields();

// One float64 or int64 dataset per column in /metrics, one value per completed epoch.
struct metric_column {
  std::string name;
  bool integer;
  std::string unit;
  std::string meaning;
  double (*get)(const trainer::epoch_metrics&);
  void (*set)(trainer::epoch_metrics&, double);
};
const std::vector<metric_column>& metric_columns();

std::string type_name(value_type type);

}  // namespace trackbench::tracking::schema
