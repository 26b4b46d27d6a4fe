#pragma once
// Bench snapshots: every repetition of every benchmark a `trackbench bench` invocation ran
// (Google Benchmark suites), with the environment, code and data sections of a run snapshot,
// in one HDF5 file (schema trackbench.bench; docs/snapshot-format.md). And the regression
// gate over two of them: per benchmark a Mann-Whitney U test and a verdict (docs/benchmarking.md).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "trackbench/tracking/snapshot.h"

namespace trackbench::tracking {

inline constexpr const char* bench_schema_name = "trackbench.bench";
// Version 2 added the checksums (the HDF5 1.10 format, identity record_sha256); version 1
// files are still read, unchecksummed.
inline constexpr std::int64_t bench_schema_version = 2;

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
  std::vector<bench_sample> samples;  // one per repetition

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

// The iteration entries of one suite's Google Benchmark JSON output (aggregates are left out:
// they are recomputed from the samples), counters in the order the suite wrote them. Throws
// input_error naming `source` when the document is not such an output.
std::vector<bench_result> parse_google_benchmark(const nlohmann::ordered_json& document, const std::string& suite,
                                                 const std::string& source);

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

// ---- the regression gate ---------------------------------------------------------------------

// Thresholds of the verdicts; docs/benchmarking.md says why.
inline constexpr double significance_level = 0.05;
inline constexpr double default_min_change = 0.05;     // a smaller change is never called one (--min-change)
inline constexpr double spread_multiple = 2.0;         // nor one within twice the samples' own spread
inline constexpr double max_spread_for_same = 0.10;    // noisier samples cannot show "same"
inline constexpr std::size_t min_gate_repetitions = 4;  // 3 vs 3 cannot reach p < 0.05

enum class bench_verdict { faster, slower, same, uncertain, added, removed, skipped };
std::string to_string(bench_verdict verdict);

struct bench_change {
  std::string name;
  bench_verdict verdict = bench_verdict::same;
  std::string reason;  // why uncertain or skipped; empty otherwise
  std::size_t base_repetitions = 0;
  std::size_t new_repetitions = 0;
  double base_median = 0.0;  // seconds per iteration (real time)
  double new_median = 0.0;
  double base_spread = 0.0;  // statistics::relative_spread
  double new_spread = 0.0;
  double change = 0.0;  // new_median / base_median - 1
  std::optional<double> p_value;  // two-sided Mann-Whitney U; absent when not tested
  bool exact = false;             // p from the exact distribution
};

// The verdict on one benchmark's samples (real seconds per iteration), base against new;
// `min_change` is the smallest relative change called faster or slower.
bench_change compare_samples(const std::string& name, const std::vector<double>& base, const std::vector<double>& next,
                             double min_change = default_min_change);

// Every benchmark of either snapshot, matched by name, in the base's order then the new one's
// additions.
std::vector<bench_change> compare_benches(const bench_record& base, const bench_record& next,
                                          double min_change = default_min_change);

// Differences in what decides timings: CPU model, cores, hardware threads, memory, GPU count
// and each GPU's name, compute capability, SM count and memory. "field: base -> new" each.
std::vector<std::string> hardware_differences(const bench_record& base, const bench_record& next);

// "slower:5%": fail on verdict slower with a change above 5%.
struct bench_rule {
  std::string text;
  double threshold = 0.0;  // fraction: 0.05
};
// Whether `text` has the form of a bench rule ("slower:..."), valid or not.
bool is_bench_rule(const std::string& text);
// Throws input_error naming --fail-on and the expected form.
bench_rule parse_bench_rule(const std::string& text);
// The changes that break the rule.
std::vector<const bench_change*> broken(const bench_rule& rule, const std::vector<bench_change>& changes);

}  // namespace trackbench::tracking
