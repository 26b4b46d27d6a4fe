#include <gtest/gtest.h>
#include <hdf5.h>

#include <fstream>
#include <iterator>
#include <limits>

#include "support/error_message.h"
#include "support/hdf5_edit.h"
#include "support/process.h"
#include "support/sample_records.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/analysis/bench_gate.h"
#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/google_benchmark.h"
#include "trackbench/tracking/format/snapshot_writer.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

using testing::error_message;
using testing::run_trackbench;
using testing::temp_dir;
using testing::with_file;
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

bench_record make_record(const std::vector<double>& times, const std::string& cpu_model = "") {
  return testing::sample_bench_record(times, cpu_model);
}

// `b` read back from a file written from `a`, which the writer gave its record_sha256.
void expect_equal(const bench_record& a, const bench_record& b) {
  auto identity = b.identity;
  EXPECT_EQ(identity["record_sha256"].get<std::string>().size(), 64u);
  identity.erase("record_sha256");
  EXPECT_EQ(a.identity, identity);
  EXPECT_EQ(a.environment, b.environment);
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(a.code_diff, b.code_diff);
  EXPECT_EQ(a.data, b.data);
  ASSERT_EQ(a.benchmarks.size(), b.benchmarks.size());
  for (std::size_t i = 0; i < a.benchmarks.size(); ++i) {
    const auto& x = a.benchmarks[i];
    const auto& y = b.benchmarks[i];
    EXPECT_EQ(std::tie(x.name, x.suite, x.run_name, x.time_unit, x.manual_time, x.label, x.skipped, x.skip_message,
                       x.instructions_per_iteration),
              std::tie(y.name, y.suite, y.run_name, y.time_unit, y.manual_time, y.label, y.skipped, y.skip_message,
                       y.instructions_per_iteration));
    ASSERT_EQ(x.samples.size(), y.samples.size()) << x.name;
    for (std::size_t s = 0; s < x.samples.size(); ++s) {
      EXPECT_EQ(x.samples[s].iterations, y.samples[s].iterations);
      EXPECT_EQ(x.samples[s].real_seconds, y.samples[s].real_seconds);  // bitwise: stored as float64
      EXPECT_EQ(x.samples[s].cpu_seconds, y.samples[s].cpu_seconds);
      EXPECT_EQ(x.samples[s].counters, y.samples[s].counters);
    }
  }
}

const std::vector<double> ten{1.00e-3, 1.01e-3, 0.99e-3, 1.02e-3, 1.00e-3, 0.98e-3, 1.01e-3, 1.00e-3, 0.99e-3, 1.03e-3};

TEST(BenchSnapshot, RoundTripsEverySampleExactly) {
  temp_dir dir;
  const auto record = make_record(ten);
  const auto path = dir / "bench.h5";
  write_bench_snapshot(path, record);
  EXPECT_FALSE(fs::exists(dir / ".bench.h5.tmp"));
  expect_equal(record, read_bench_snapshot(path));
  EXPECT_EQ(snapshot_schema(path), bench_schema_name);
  // Nothing is overwritten.
  const auto message = error_message<snapshot_write_error>([&] { write_bench_snapshot(path, record); });
  EXPECT_NE(message.find("already exists"), std::string::npos) << message;
  // An invocation where nothing ran still reads back.
  auto empty = record;
  empty.benchmarks.clear();
  write_bench_snapshot(dir / "empty.h5", empty);
  EXPECT_TRUE(read_bench_snapshot(dir / "empty.h5").benchmarks.empty());
}

void expect_refused(const fs::path& path, const std::string& fragment) {
  const std::string message = error_message<snapshot_error>([&] { read_bench_snapshot(path); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find(fragment), std::string::npos) << message;
}

// Writes a good snapshot, lets `change` edit it in place and expects the reader to refuse it.
void expect_edit_refused(const temp_dir& dir, const std::string& name, const std::function<void(hid_t)>& change,
                         const std::string& fragment) {
  const auto path = dir / (name + ".h5");
  write_bench_snapshot(path, make_record(ten));
  with_file(path, change);
  expect_refused(path, fragment);
}

// Overwrites row `row` of the one-dimensional dataset `path` with one value of `memory_type`.
void write_row(hid_t file, const char* path, std::int64_t row, hid_t memory_type, const void* value) {
  const hid_t set = H5Dopen2(file, path, H5P_DEFAULT);
  const hid_t space = H5Dget_space(set);
  const hsize_t start[1] = {static_cast<hsize_t>(row)};
  const hsize_t count[1] = {1};
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
  const hid_t memory = H5Screate_simple(1, count, nullptr);
  H5Dwrite(set, memory_type, memory, space, H5P_DEFAULT, value);
  H5Sclose(memory);
  H5Sclose(space);
  H5Dclose(set);
}

void write_int64(hid_t file, const char* path, std::int64_t row, std::int64_t value) {
  write_row(file, path, row, H5T_NATIVE_INT64, &value);
}

void write_float64(hid_t file, const char* path, std::int64_t row, double value) {
  write_row(file, path, row, H5T_NATIVE_DOUBLE, &value);
}

// What --measure instructions adds (bench schema version 4): the counter in the identity and a
// count per benchmark, here one counted, one not (time only) and the skipped one.
bench_record make_counted_record() {
  auto record = make_record(ten);
  record.identity["measure"] = "time,instructions";
  record.identity["instruction_tool"] = "valgrind-3.19.0 --tool=callgrind";
  record.identity["instruction_isa_limit"] = "AVX2";
  record.identity["instruction_settings"] = "ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1";
  record.benchmarks[0].instructions_per_iteration = 33000223.25;
  return record;
}

TEST(BenchSnapshot, RoundTripsInstructionCountsAndTheirCounter) {
  temp_dir dir;
  const auto record = make_counted_record();
  const auto path = dir / "counted.h5";
  write_bench_snapshot(path, record);
  const auto back = read_bench_snapshot(path);
  expect_equal(record, back);
  EXPECT_EQ(back.benchmarks[0].instructions_per_iteration, 33000223.25);
  EXPECT_FALSE(back.benchmarks[1].instructions_per_iteration);

  // show prints the counter and a column of counts; its JSON and compare's batch read (the
  // record codec of the guarded readers) carry them.
  const auto show = run_trackbench("show " + quoted(path));
  EXPECT_EQ(show.exit_code, 0) << show.output;
  for (const char* text : {"instruction_tool         valgrind-3.19.0 --tool=callgrind", "instruction_isa_limit    AVX2",
                           "instr/iter", "33M"}) {
    EXPECT_NE(show.output.find(text), std::string::npos) << text << "\n" << show.output;
  }
  const auto show_json = run_trackbench("show --json " + quoted(path) + " 2>/dev/null");
  ASSERT_EQ(show_json.exit_code, 0) << show_json.output;
  const auto document = json::parse(show_json.output);
  EXPECT_EQ(document["measure"], "time,instructions");
  EXPECT_EQ(document["benchmarks"][0]["instructions_per_iteration"], 33000223.25);
  EXPECT_TRUE(document["benchmarks"][1]["instructions_per_iteration"].is_null());
  const auto compared = run_trackbench("compare --json " + quoted(path) + " " + quoted(path) + " 2>/dev/null");
  ASSERT_EQ(compared.exit_code, 0) << compared.output;
  const auto comparison = json::parse(compared.output)["instructions"]["benchmarks"];
  ASSERT_EQ(comparison.size(), 1u);
  EXPECT_EQ(comparison[0]["base_instructions_per_iteration"], 33000223.25);
}

TEST(BenchSnapshot, RefusesImpossibleInstructionCounts) {
  temp_dir dir;
  for (const auto& [row, value, fragment] : std::vector<std::tuple<int, double, std::string>>{
           {0, -1.0, "benchmarks row 0 has instructions_per_iteration -1"},
           {1, std::numeric_limits<double>::infinity(), "benchmarks row 1 has instructions_per_iteration inf"},
           {2, 5.0, "always for a skipped benchmark"}}) {
    const auto path = dir / ("count-" + std::to_string(row) + ".h5");
    write_bench_snapshot(path, make_counted_record());
    with_file(path, [&, row = row, value = value](hid_t file) {
      write_float64(file, "benchmarks/instructions_per_iteration", row, value);
    });
    expect_refused(path, fragment);
  }
  expect_edit_refused(dir, "no-count", [](hid_t file) {
    H5Ldelete(file, "benchmarks/instructions_per_iteration", H5P_DEFAULT);
  }, "benchmarks lacks its column 'instructions_per_iteration'");
  expect_edit_refused(dir, "no-measure", [](hid_t file) { H5Adelete(file, "measure"); },
                      "lacks 'measure', which files of this schema version carry");
}

TEST(BenchSnapshot, RefusesBrokenAndCraftedFiles) {
  temp_dir dir;
  expect_refused(dir / "missing.h5", "no such snapshot file");
  testing::write_file(dir / "text.h5", {'h', 'i'});
  expect_refused(dir / "text.h5", "not an HDF5 file");

  const auto good = dir / "good.h5";
  write_bench_snapshot(good, make_record(ten));
  for (const double fraction : {0.3, 0.9, 0.999}) {
    const auto cut = dir / ("cut-" + std::to_string(fraction) + ".h5");
    fs::copy_file(good, cut);
    fs::resize_file(cut, static_cast<std::uintmax_t>(static_cast<double>(fs::file_size(good)) * fraction));
    EXPECT_THROW(read_bench_snapshot(cut), snapshot_error) << fraction;
  }

  expect_edit_refused(dir, "version", [](hid_t file) { testing::set_int_attribute(file, "schema_version", 5); },
                      "bench snapshot schema version 5; this trackbench reads up to 4");
  expect_edit_refused(dir, "sample", [](hid_t file) { write_int64(file, "samples/iterations", 1, 5); },
                      "the record does not match its record_sha256: the file is corrupt");
  expect_edit_refused(dir, "foreign", [](hid_t file) { testing::set_text_attribute(file, "schema", "trackbench.run"); },
                      "not a trackbench bench snapshot: schema is 'trackbench.run'");
  expect_edit_refused(dir, "extra", [](hid_t file) {
    const hid_t group = H5Gopen2(file, "benchmarks", H5P_DEFAULT);
    testing::add_dataset(group, "extra");
    H5Gclose(group);
  }, "'benchmarks/extra' is not part of the snapshot schema");
  expect_edit_refused(dir, "missing", [](hid_t file) { H5Ldelete(file, "samples/cpu_seconds", H5P_DEFAULT); },
                      "samples lacks its column 'cpu_seconds'");
  expect_edit_refused(dir, "owner", [](hid_t file) { write_int64(file, "samples/benchmark", 3, 7); },
                      "samples row 3 names benchmark 7");
  expect_edit_refused(dir, "repetition", [](hid_t file) { write_int64(file, "samples/repetition", 2, 5); },
                      "samples row 2 has repetition 5, expected 2");
  expect_edit_refused(dir, "iterations", [](hid_t file) { write_int64(file, "samples/iterations", 0, -1); },
                      "samples row 0 holds an impossible iteration count or time");
  expect_edit_refused(dir, "counter", [](hid_t file) { write_int64(file, "counters/sample", 4, 1000); },
                      "counters row 4 names sample 1000");
  expect_edit_refused(dir, "type", [](hid_t file) {
    H5Ldelete(file, "benchmarks/time_unit", H5P_DEFAULT);
    const hid_t group = H5Gopen2(file, "benchmarks", H5P_DEFAULT);
    testing::add_dataset(group, "time_unit");
    H5Gclose(group);
  }, "benchmarks/time_unit is not a column of variable-length strings");
}

TEST(BenchSnapshot, ParsesGoogleBenchmarkJson) {
  const auto document = nlohmann::ordered_json::parse(R"({
    "context": {"num_cpus": 2},
    "benchmarks": [
      {"name": "step/64", "run_name": "step/64", "run_type": "iteration", "repetitions": 2, "repetition_index": 0,
       "threads": 1, "iterations": 10, "real_time": 2.0, "cpu_time": 1.5, "time_unit": "ms",
       "items_per_second": 640.0, "flops": 5e9},
      {"name": "step/64", "run_name": "step/64", "run_type": "iteration", "repetitions": 2, "repetition_index": 1,
       "threads": 1, "iterations": 12, "real_time": 3.0, "cpu_time": 2.5, "time_unit": "ms",
       "items_per_second": 620.0, "flops": 4e9, "label": "cpu"},
      {"name": "step/64_mean", "run_name": "step/64", "run_type": "aggregate", "aggregate_name": "mean",
       "iterations": 2, "real_time": 2.5, "cpu_time": 2.0, "time_unit": "ms"},
      {"name": "conv/manual_time", "run_name": "conv/manual_time", "run_type": "iteration", "iterations": 100,
       "real_time": 40.0, "cpu_time": 90.0, "time_unit": "us"},
      {"name": "gpu", "run_name": "gpu", "run_type": "iteration", "error_occurred": true,
       "error_message": "no usable GPU", "iterations": 0, "real_time": 0, "cpu_time": 0, "time_unit": "ns"}
    ]})");
  const auto results = parse_google_benchmark(document, "trainer", "suite trainer");
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].name, "step/64");
  EXPECT_EQ(results[0].suite, "trainer");
  ASSERT_EQ(results[0].samples.size(), 2u);  // the aggregate is not a sample
  EXPECT_DOUBLE_EQ(results[0].samples[1].real_seconds, 3.0e-3);
  EXPECT_DOUBLE_EQ(results[0].samples[1].cpu_seconds, 2.5e-3);
  EXPECT_EQ(results[0].samples[1].iterations, 12);
  const std::vector<std::pair<std::string, double>> counters{{"items_per_second", 620.0}, {"flops", 4e9}};
  EXPECT_EQ(results[0].samples[1].counters, counters);
  EXPECT_FALSE(results[0].manual_time);
  EXPECT_TRUE(results[1].manual_time);
  EXPECT_DOUBLE_EQ(results[1].samples[0].real_seconds, 40e-6);
  EXPECT_TRUE(results[2].skipped);
  EXPECT_EQ(results[2].skip_message, "no usable GPU");
  EXPECT_TRUE(results[2].samples.empty());

  for (const char* bad : {R"([1, 2])", R"({"context": {}})", R"({"benchmarks": [{"real_time": 1}]})",
                          R"({"benchmarks": [{"name": "x", "iterations": 1, "real_time": 1, "time_unit": "ms"}]})",
                          R"({"benchmarks": [{"name": "x", "iterations": 1, "real_time": 1, "cpu_time": 1,
                              "time_unit": "days"}]})"}) {
    const auto message =
        error_message<input_error>([&] { parse_google_benchmark(json::parse(bad), "x", "suite x"); });
    EXPECT_NE(message.find("suite x: not Google Benchmark JSON output"), std::string::npos) << bad << ": " << message;
  }
}

std::vector<double> scaled(const std::vector<double>& values, double factor) {
  std::vector<double> out;
  for (const double v : values) out.push_back(v * factor);
  return out;
}

TEST(BenchGateVerdicts, SameSlowerFasterUncertain) {
  // The same distribution shuffled: same.
  const std::vector<double> shuffled{1.00e-3, 1.03e-3, 0.99e-3, 1.00e-3, 1.01e-3, 1.02e-3, 0.98e-3, 0.99e-3,
                                     1.00e-3, 1.01e-3};
  const auto same = compare_samples("x", ten, shuffled);
  EXPECT_EQ(same.verdict, bench_verdict::same) << same.reason;
  EXPECT_GE(*same.p_value, 0.05);

  const auto slower = compare_samples("x", ten, scaled(ten, 1.2));
  EXPECT_EQ(slower.verdict, bench_verdict::slower);
  EXPECT_NEAR(slower.change, 0.2, 1e-9);
  EXPECT_LT(*slower.p_value, 0.001);
  EXPECT_FALSE(slower.exact);  // `ten` repeats values: with ties, the normal approximation
  EXPECT_EQ(compare_samples("x", ten, scaled(ten, 0.8)).verdict, bench_verdict::faster);

  // Significant, but a 0.5% shift lies wholly within the 5% threshold of two separate runs: same.
  const auto tiny = compare_samples("x", ten, scaled(ten, 1.005));
  EXPECT_EQ(tiny.verdict, bench_verdict::same);
  EXPECT_DOUBLE_EQ(tiny.threshold, separate_runs_min_threshold);
  // A significant 4.5% shift: its interval reaches past the default 5% threshold, so neither
  // slower nor same (before the one decision rule it was "same": p < 0.05 but below the floor),
  // and wholly beyond a 1% --threshold.
  const auto drift_of_runs = compare_samples("x", ten, scaled(ten, 1.045));
  EXPECT_EQ(drift_of_runs.verdict, bench_verdict::uncertain) << drift_of_runs.reason;
  EXPECT_NE(drift_of_runs.reason.find("straddles the threshold +-5.0%"), std::string::npos) << drift_of_runs.reason;
  EXPECT_LT(*drift_of_runs.p_value, 0.05);
  EXPECT_EQ(compare_samples("x", ten, scaled(ten, 1.045), {0.01, min_threshold}).verdict, bench_verdict::slower);

  // Three repetitions have no 95% interval, however far apart.
  const auto three = compare_samples("x", {1.0, 1.01, 0.99}, {2.0, 2.01, 1.99});
  EXPECT_EQ(three.verdict, bench_verdict::uncertain);
  EXPECT_NE(three.reason.find("too few samples: 3 on a side"), std::string::npos) << three.reason;

  // 30% spread: the threshold stops at 10%, and the interval of a 5% shift is wider than that.
  const std::vector<double> noisy{1.0, 1.5, 0.7, 1.2, 0.8, 1.4, 0.6, 1.1, 0.9, 1.3};
  const auto noise = compare_samples("x", noisy, scaled(noisy, 1.05));
  EXPECT_EQ(noise.verdict, bench_verdict::uncertain);
  EXPECT_DOUBLE_EQ(noise.threshold, max_noise_threshold);
  EXPECT_NE(noise.reason.find("is wider than the threshold +-10.0%"), std::string::npos) << noise.reason;
  // Within a noisy sample, a shift smaller than its spread is not a change even when the ranks separate.
  const std::vector<double> wide{1.00, 1.10, 0.90, 1.05, 0.95, 1.20, 0.80, 1.15, 0.85, 1.00};
  const auto drift = compare_samples("x", wide, scaled(wide, 1.08));
  EXPECT_NE(drift.verdict, bench_verdict::slower) << drift.reason;
}

TEST(BenchGateVerdicts, AddedRemovedSkippedAndRules) {
  auto base = make_record(ten);
  auto next = make_record(scaled(ten, 1.3));
  next.benchmarks[1].name = "train_steps/cpu/256";  // one renamed: removed from base, added in new
  const auto changes = compare_benches(base, next);
  ASSERT_EQ(changes.size(), 4u);
  EXPECT_EQ(changes[0].verdict, bench_verdict::slower);
  EXPECT_EQ(changes[1].verdict, bench_verdict::removed);
  EXPECT_EQ(changes[2].verdict, bench_verdict::skipped);
  EXPECT_NE(changes[2].reason.find("no usable GPU"), std::string::npos);
  EXPECT_EQ(changes[3].verdict, bench_verdict::added);
  EXPECT_EQ(changes[3].name, "train_steps/cpu/256");

  EXPECT_TRUE(is_bench_rule("slower:5%"));
  EXPECT_FALSE(is_bench_rule("test_acc:-0.5"));
  EXPECT_DOUBLE_EQ(parse_bench_rule("slower:5%").threshold, 0.05);
  EXPECT_EQ(broken(parse_bench_rule("slower:5%"), changes).size(), 1u);
  EXPECT_TRUE(broken(parse_bench_rule("slower:50%"), changes).empty());
  for (const char* bad : {"slower:", "slower:5", "slower:x%", "slower:-5%", "slower:5%%", "faster:5%"}) {
    const auto message = error_message<input_error>([&] { parse_bench_rule(bad); });
    EXPECT_NE(message.find("--fail-on"), std::string::npos) << message;
    EXPECT_NE(message.find("slower:N%"), std::string::npos) << message;
  }
}

TEST(BenchGateVerdicts, HardwareDifferencesNameTheField) {
  const auto base = make_record(ten);
  EXPECT_TRUE(hardware_differences(base, make_record(ten)).empty());
  auto other = make_record(ten, "Imaginary CPU 9000");
  other.environment["gpus"] = json::array({{{"index", 0}, {"name", "NVIDIA H100"}, {"uuid", "GPU-1"},
                                            {"compute_capability", "9.0"}, {"sm_count", 132},
                                            {"memory_bytes", 85000000000}, {"driver_version", "580"}}});
  const auto differences = hardware_differences(base, other);
  ASSERT_GE(differences.size(), 2u);
  EXPECT_NE(differences[0].find("environment.cpu_model"), std::string::npos) << differences[0];
  EXPECT_NE(differences[0].find("-> Imaginary CPU 9000"), std::string::npos) << differences[0];
  EXPECT_NE(differences.back().find("environment.gpus (count)"), std::string::npos) << differences.back();

  // NVML's power limit counts where both sides know it; an older or unmanaged side says nothing.
  auto capped = other;
  capped.environment["gpus"][0]["power_limit_watts"] = 500.0;
  auto full = other;
  full.environment["gpus"][0]["power_limit_watts"] = 700.0;
  auto unknown = other;
  unknown.environment["gpus"][0]["power_limit_watts"] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(hardware_differences(full, capped), std::vector<std::string>{"environment.gpus[0].power_limit_watts: 700.0 -> 500.0"});
  EXPECT_TRUE(hardware_differences(full, unknown).empty());
  EXPECT_TRUE(hardware_differences(other, capped).empty());
}

TEST(BenchSnapshot, ReadsAVersion2FileAsTrackbenchWroteIt) {
  // tests/data/bench-schema-v2.h5: the tests' fixture suite at 4 repetitions, by the trackbench
  // before bench schema version 3, checksummed, without NVML's fields.
  const auto record = read_bench_snapshot(fs::path(TRACKBENCH_DATA_DIR) / "bench-schema-v2.h5");
  EXPECT_EQ(record.identity["schema_version"], 2);
  EXPECT_TRUE(checksummed(record));
  EXPECT_FALSE(record.environment.contains("nvml_reason"));
  ASSERT_EQ(record.benchmarks.size(), 2u);
  EXPECT_EQ(record.benchmarks[0].samples.size(), 4u);
  EXPECT_TRUE(record.benchmarks[1].skipped);
  // Before version 4 nothing counted instructions: the files measured time.
  EXPECT_EQ(record.identity["measure"], "time");
  EXPECT_FALSE(record.identity.contains("instruction_tool"));
  EXPECT_FALSE(record.benchmarks[0].instructions_per_iteration);
}

TEST(BenchSnapshot, ACurrentFileLackingAVersion3FieldIsRefusedNamingIt) {
  temp_dir dir;
  expect_edit_refused(dir, "nvml", [](hid_t file) { H5Adelete_by_name(file, "environment", "nvml_reason", H5P_DEFAULT); },
                      "environment lacks 'nvml_reason', which files of this schema version carry");
}

// ---- the command line, without running any suite -------------------------------------------

TEST(BenchCli, RefusesBadSuitesAndRepetitions) {
  temp_dir dir;
  const auto unknown = run_trackbench("bench --suites-dir " + quoted(dir.path()) + " --suite nosuch --out " +
                                      quoted(dir / "out"));
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("--suite nosuch: no trackbench_bench_nosuch in"), std::string::npos) << unknown.output;
  const auto none = run_trackbench("bench --suites-dir " + quoted(dir.path()));
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_NE(none.output.find("no benchmark suites (trackbench_bench_*)"), std::string::npos) << none.output;
  const auto path = run_trackbench("bench --suite " + quoted(dir / "not-there"));
  EXPECT_EQ(path.exit_code, 2) << path.output;
  EXPECT_NE(path.output.find("no such executable"), std::string::npos) << path.output;
  const auto repetitions = run_trackbench("bench --repetitions 0 --suite " + quoted(dir / "not-there"));
  EXPECT_EQ(repetitions.exit_code, 2) << repetitions.output;
  EXPECT_NE(repetitions.output.find("--repetitions must be >= 1, got 0"), std::string::npos) << repetitions.output;
  EXPECT_NE(run_trackbench("bench --help").output.find("at least 4"), std::string::npos);
}

// A staged or installed layout keeps the suites beside the executable, with no build tree:
// `--suite NAME` finds them there (on the GPU machine it said "no trackbench_bench_kernels in
// .../stage/bench").
TEST(BenchCli, FindsSuitesBesideTheExecutable) {
  temp_dir dir;
  const auto stage = dir / "stage";
  fs::create_directories(stage);
  fs::copy_file(TRACKBENCH_EXECUTABLE, stage / "trackbench");
  fs::copy_file(TRACKBENCH_BENCH_FIXTURE, stage / "trackbench_bench_fixture");
  const auto staged = testing::run_command(quoted(stage / "trackbench") +
                                           " -q bench --suite fixture --filter busy --repetitions 3 --out " +
                                           quoted(dir / "out"));
  EXPECT_EQ(staged.exit_code, 0) << staged.output;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "out"), fs::directory_iterator()), 1) << staged.output;
  const auto listed = testing::run_command(quoted(stage / "trackbench") + " bench --suite nosuch");
  EXPECT_EQ(listed.exit_code, 2) << listed.output;
  EXPECT_NE(listed.output.find("suites found: fixture"), std::string::npos) << listed.output;
}

TEST(BenchCli, ShowListAndCompareBenchSnapshots) {
  temp_dir dir;
  const auto base = dir / "base.h5";
  const auto next = dir / "next.h5";
  write_bench_snapshot(base, make_record(ten));
  write_bench_snapshot(next, make_record(scaled(ten, 1.3)));

  const auto show = run_trackbench("show " + quoted(base));
  EXPECT_EQ(show.exit_code, 0) << show.output;
  for (const char* text : {"schema                   trackbench.bench", "cpu_model", "content_sha256",
                           "conv_forward/conv1/128/manual_time", "skipped: no usable GPU", "FLOP/s", "items/s",
                           "checked: HDF5 metadata checksums, record_sha256"}) {
    EXPECT_NE(show.output.find(text), std::string::npos) << text << "\n" << show.output;
  }
  const auto show_json = run_trackbench("show --json " + quoted(base) + " 2>/dev/null");
  ASSERT_EQ(show_json.exit_code, 0) << show_json.output;
  EXPECT_EQ(json::parse(show_json.output)["benchmarks"][0]["samples"].size(), 10u);
  const auto listing = run_trackbench("ls " + quoted(dir.path()));
  EXPECT_EQ(listing.exit_code, 0) << listing.output;
  EXPECT_NE(listing.output.find("bench "), std::string::npos) << listing.output;
  EXPECT_NE(listing.output.find("(3 benchmarks, 20 samples)"), std::string::npos) << listing.output;

  const auto gate = run_trackbench("compare " + quoted(base) + " " + quoted(next) + " --fail-on slower:5%");
  EXPECT_EQ(gate.exit_code, 1) << gate.output;
  EXPECT_NE(gate.output.find("+30.0%"), std::string::npos) << gate.output;
  EXPECT_NE(gate.output.find("FAIL  slower:5%  conv_forward/conv1/128/manual_time"), std::string::npos) << gate.output;
  EXPECT_EQ(run_trackbench("compare " + quoted(base) + " " + quoted(next) + " --fail-on slower:40%").exit_code, 0);
  const auto as_json = run_trackbench("compare --json " + quoted(base) + " " + quoted(next) + " 2>/dev/null");
  ASSERT_EQ(as_json.exit_code, 0) << as_json.output;
  const auto document = json::parse(as_json.output);
  EXPECT_EQ(document["benchmarks"][0]["verdict"], "slower");
  EXPECT_LT(document["benchmarks"][0]["p_value"].get<double>(), 0.05);
  EXPECT_EQ(document["benchmarks"][2]["verdict"], "skipped");
}

// The trainer suite's scaling benchmarks: show prints the medians of their images/s and
// efficiency counters beside the time.
TEST(BenchCli, ShowPrintsTheScalingCounters) {
  temp_dir dir;
  auto record = make_record(ten);
  const std::string name = "train/scaling/cpu/cudnn/fp32/2/64/iterations:3/manual_time";
  tracking::bench_result scaling{name, "trainer", name, "ms", true, "", false, "", {}};
  for (const double efficiency : {0.9, 0.92, 0.96}) {
    scaling.samples.push_back({3, 0.8, 1e-6, {{"efficiency", efficiency}, {"images/s", 1500.0 * efficiency}}});
  }
  record.benchmarks.push_back(scaling);
  const auto path = dir / "scaling.h5";
  write_bench_snapshot(path, record);
  const auto show = run_trackbench("show " + quoted(path));
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_NE(show.output.find("1.38k images/s  efficiency 92%"), std::string::npos) << show.output;
}

TEST(BenchCli, BadRulesAndMixedKindsAreInputErrors) {
  temp_dir dir;
  const auto base = dir / "base.h5";
  write_bench_snapshot(base, make_record(ten));
  const auto rule = run_trackbench("compare " + quoted(base) + " " + quoted(base) + " --fail-on slower:five%");
  EXPECT_EQ(rule.exit_code, 2) << rule.output;
  EXPECT_NE(rule.output.find("--fail-on 'slower:five%'"), std::string::npos) << rule.output;
  const auto run_rule = run_trackbench("compare " + quoted(base) + " " + quoted(base) + " --fail-on test_acc:-0.5");
  EXPECT_EQ(run_rule.exit_code, 2) << run_rule.output;
  EXPECT_NE(run_rule.output.find("is a run snapshot rule"), std::string::npos) << run_rule.output;
  const auto three = run_trackbench("compare " + quoted(base) + " " + quoted(base) + " " + quoted(base));
  EXPECT_EQ(three.exit_code, 2) << three.output;
  EXPECT_NE(three.output.find("exactly two bench snapshots"), std::string::npos) << three.output;

  // A run snapshot beside a bench snapshot; and a bench rule on run snapshots.
  const auto run = dir / "run.h5";
  snapshot_writer{run, testing::sample_run_record()};
  for (const auto& [args, fragment] :
       {std::pair{quoted(base) + " " + quoted(run), "is a bench snapshot but " + run.string() + " is not"},
        std::pair{quoted(run) + " " + quoted(base), "is a bench snapshot but " + run.string() + " is not"},
        std::pair{quoted(run) + " " + quoted(run) + " --fail-on slower:5%", std::string("is a bench snapshot rule")},
        std::pair{quoted(run) + " " + quoted(run) + " --threshold 2",
                  std::string("--threshold applies to bench snapshots only")},
        std::pair{quoted(run) + " " + quoted(run) + " --fail-on-uncertain",
                  std::string("--fail-on-uncertain applies to bench snapshots only")}}) {
    const auto result = run_trackbench("compare " + args);
    EXPECT_EQ(result.exit_code, 2) << args << "\n" << result.output;
    EXPECT_NE(result.output.find(fragment), std::string::npos) << args << "\n" << result.output;
  }
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(BenchCli, CompareWritesJUnitAndMarkdownAndExitsThreeOnUncertainWhenAsked) {
  temp_dir dir;
  const auto base = dir / "base.h5";
  const auto slower = dir / "slower.h5";
  const auto drifted = dir / "drifted.h5";
  write_bench_snapshot(base, make_record(ten));
  write_bench_snapshot(slower, make_record(scaled(ten, 1.3)));
  write_bench_snapshot(drifted, make_record(scaled(ten, 1.045)));  // an interval across the 5% threshold
  const auto junit = dir / "compare.xml";
  const auto markdown = dir / "compare.md";
  const auto gate = run_trackbench("compare " + quoted(base) + " " + quoted(slower) + " --fail-on slower:5% --junit " +
                                   quoted(junit) + " --markdown " + quoted(markdown));
  EXPECT_EQ(gate.exit_code, 1) << gate.output;
  // A testcase per benchmark, the two slower ones failed with the change and its interval.
  const auto xml = read_text(junit);
  EXPECT_NE(xml.find("<testsuite name=\"trackbench compare\" tests=\"3\" failures=\"2\""), std::string::npos) << xml;
  const std::string conv = "conv_forward/conv1/128/manual_time";
  const auto failed = xml.find("<testcase classname=\"compare\" name=\"" + conv + "\">\n      <failure message=\"" + conv +
                               ": 1 ms -&gt; 1.3 ms, change +30.0% [");
  EXPECT_NE(failed, std::string::npos) << xml;
  EXPECT_NE(xml.find("(95% interval), threshold +-5.0%, q = ", failed), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase classname=\"compare\" name=\"conv_forward/cudnn/1024\">\n      <system-out>skipped"),
            std::string::npos)
      << xml;
  const auto table = read_text(markdown);
  EXPECT_NE(table.find("| " + conv + " | 1 ms | 1.3 ms | +30.0% ["), std::string::npos) << table;
  EXPECT_NE(table.find("| **slower** |"), std::string::npos) << table;

  const auto uncertain = run_trackbench("compare " + quoted(base) + " " + quoted(drifted) + " --fail-on slower:5% --fail-on-uncertain");
  EXPECT_EQ(uncertain.exit_code, 3) << uncertain.output;
  EXPECT_NE(uncertain.output.find("uncertain (95% interval +"), std::string::npos) << uncertain.output;
  EXPECT_EQ(run_trackbench("compare " + quoted(base) + " " + quoted(drifted) + " --fail-on slower:5%").exit_code, 0);
  // A --threshold of 1% decides the same samples: slower, and the rule fails.
  EXPECT_EQ(run_trackbench("compare " + quoted(base) + " " + quoted(drifted) + " --threshold 1 --fail-on slower:4%").exit_code, 1);

  // Run snapshots: a testcase per rule and run.
  const auto run = dir / "run.h5";
  {
    auto record = testing::sample_run_record();
    record.config["keep_weights"] = "none";
    snapshot_writer writer(run, record);
    writer.append_epoch(testing::make_metrics(1), testing::make_parameters(1), std::nullopt);
    writer.finish("completed", "");
  }
  const auto runs_junit = dir / "runs.xml";
  const auto runs = run_trackbench("compare " + quoted(run) + " " + quoted(run) + " --fail-on epoch_seconds:+10% --junit " +
                                   quoted(runs_junit));
  EXPECT_EQ(runs.exit_code, 0) << runs.output;
  const auto runs_xml = read_text(runs_junit);
  EXPECT_NE(runs_xml.find("tests=\"1\" failures=\"0\""), std::string::npos) << runs_xml;
  EXPECT_NE(runs_xml.find("<testcase classname=\"epoch_seconds:+10%\""), std::string::npos) << runs_xml;
}

TEST(BenchCli, HardwareMismatchIsReportedFirstAndMakesTheGateAdvisory) {
  temp_dir dir;
  const auto base = dir / "base.h5";
  const auto other = dir / "other.h5";
  write_bench_snapshot(base, make_record(ten));
  write_bench_snapshot(other, make_record(scaled(ten, 1.3), "Imaginary CPU 9000"));
  // Exit 4 (it was 0 before the exit codes of issue 25): the verdicts say nothing about the code.
  const auto advisory = run_trackbench("compare " + quoted(base) + " " + quoted(other) + " --fail-on slower:5% 2>/dev/null");
  EXPECT_EQ(advisory.exit_code, 4) << advisory.output;
  EXPECT_EQ(advisory.output.rfind("HARDWARE DIFFERS", 0), 0u) << advisory.output;  // the first line
  EXPECT_NE(advisory.output.find("environment.cpu_model: Fuzz CPU -> Imaginary CPU 9000"), std::string::npos)
      << advisory.output;
  EXPECT_NE(advisory.output.find("--fail-on does not fail"), std::string::npos) << advisory.output;
  EXPECT_NE(advisory.output.find("ADVISORY FAIL  slower:5%"), std::string::npos) << advisory.output;
  const auto gated = run_trackbench("compare " + quoted(base) + " " + quoted(other) +
                                    " --fail-on slower:5% --allow-hardware-mismatch");
  EXPECT_EQ(gated.exit_code, 1) << gated.output;
}


}  // namespace
}  // namespace trackbench::tracking
