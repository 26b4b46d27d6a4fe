#include "trackbench/tracking/recording/versus.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "trackbench/tracking/format/google_benchmark.h"
#include "trackbench/tracking/recording/recorder.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

json read_samples(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw input_error(path + ": cannot read the file (expected Google Benchmark JSON)");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  try {
    return json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw input_error(path + ": not JSON: " + e.what());
  }
}

}  // namespace

versus_outcome record_versus(const versus_options& flags) {
  const auto document = read_samples(flags.samples);
  auto results = parse_google_benchmark(document, flags.suite, flags.samples);
  if (results.empty()) throw input_error(flags.samples + ": holds no benchmark samples");
  std::error_code error;
  fs::create_directories(flags.out, error);
  if (!fs::is_directory(flags.out, error)) {
    throw input_error("--out " + flags.out.string() + " is not a folder and cannot be made one");
  }

  std::size_t most = 0;
  for (const auto& result : results) most = std::max(most, result.samples.size());
  const auto data = trainer::load_dataset(
      flags.dataset, flags.data_dir.empty() ? std::nullopt : std::optional<fs::path>(flags.data_dir));
  auto record = describe_bench(data, flags.command_line, "", static_cast<int>(std::max<std::size_t>(most, 1)));
  record.benchmarks = std::move(results);
  // Judged before anything is written, so a file whose sides do not pair leaves no snapshot.
  versus_outcome outcome;
  for (const auto& base : flags.base_sides) {
    outcome.judged.emplace_back(base, compare_sides(record, base, flags.new_side, flags.decision));
  }
  record.identity["end_time"] = utc_timestamp();
  const std::string bench_id = record.identity["bench_id"].get<std::string>();
  const fs::path path = flags.out / (bench_id + ".h5");
  write_bench_snapshot(path, record);
  outcome.record = std::move(record);
  outcome.snapshot = path;
  return outcome;
}

}  // namespace trackbench::tracking
