#pragma once
// Bench snapshots: every repetition of every benchmark a `trackbench bench` invocation ran
// (Google Benchmark suites), with the environment, code and data sections of a run snapshot,
// in one HDF5 file (schema trackbench.bench; docs/snapshot-format.md). Reading a suite's JSON
// output is google_benchmark.h; the regression gate over two snapshots is bench_gate.h.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::tracking {

inline constexpr const char* bench_schema_name = "trackbench.bench";
// Version 4 added the instruction counts (`bench --measure instructions`: the identity's measure
// and instruction_* fields, the instructions_per_iteration column); version 3 what NVML says
// (the sections of run schema version 4); version 2 the checksums (the HDF5 1.10 format,
// identity record_sha256). Older files are still read, without the newer fields, version 1
// unchecksummed.
inline constexpr std::int64_t bench_schema_version = 4;

// One repetition of a benchmark: Google Benchmark's per-iteration times, in seconds.
struct bench_sample {
  std::int64_t iterations = 0;
  double real_seconds = 0.0;  // the manual time when the benchmark sets it
  double cpu_seconds = 0.0;
  std::vector<std::pair<std::string, double>> counters;  // items_per_second, user counters, ...; as reported
};

struct bench_result {
  std::string name;      // e.g. "conv_forward/conv1/128/manual_time"
  std::string suite;     // "kernels", "trainer", ... or the executable's file name
  std::string run_name;  // Google Benchmark's run_name (the name without the aggregate suffix)
  std::string time_unit;  // the unit the suite reported in: ns, us, ms or s
  bool manual_time = false;
  std::string label;
  bool skipped = false;  // errored or skipped (SkipWithError, SkipWithMessage): no samples count
  std::string skip_message;
  std::vector<bench_sample> samples;  // one per repetition; none when only instructions were measured
  // Instructions the benchmark's timed loop executed per iteration, counted under callgrind
  // (tracking/recording/instructions.h); absent when not measured, and for skipped benchmarks.
  std::optional<double> instructions_per_iteration;

  std::vector<double> real_seconds() const;
};

struct bench_record {
  nlohmann::ordered_json identity;  // schema, schema_version, bench_id, times, command_line, filter, repetitions
  nlohmann::ordered_json environment;
  nlohmann::ordered_json code;
  std::string code_diff;
  nlohmann::ordered_json data;
  std::vector<bench_result> benchmarks;  // names are unique
};

// Writes the record as a new file `path` (its folder must exist), crash-safe: a temporary
// file, fsync, rename, fsync of the folder. Throws snapshot_write_error.
void write_bench_snapshot(const std::filesystem::path& path, const bench_record& record);

// Opens and fully validates a bench snapshot (every object, type and shape) before reading
// it. Throws snapshot_error naming the file and the object.
bench_record read_bench_snapshot(const std::filesystem::path& path);
bench_record read_bench_snapshot(const std::vector<std::uint8_t>& image, const std::string& name);

// "trackbench.run" or "trackbench.bench" (or whatever else the file's root says), to choose
// the reader. Throws snapshot_error for a file that is not HDF5 or has no schema attribute.
std::string snapshot_schema(const std::filesystem::path& path);

// The record as one JSON document: the sections and one object per benchmark with its samples.
nlohmann::ordered_json to_json(const bench_record& record);

// Whether the file carried checksums (bench schema version 2 on).
bool checksummed(const bench_record& record);

}  // namespace trackbench::tracking
