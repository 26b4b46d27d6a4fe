#pragma once
// A history to find: a throw-away git repository of 12 commits (fixed dates) and one bench
// snapshot per commit whose code section records it. Two benchmarks of seeded 1% noise (10
// repetitions): fixture/work, whose work is 3% larger from commit `step_commit` on (1-based; 0 for
// never), and fixture/steady. A second hardware group (another CPU model) may be added, at twice
// the times and without a step, to show that groups are never mixed.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/sample_records.h"
#include "trackbench/tracking/format/bench.h"

namespace trackbench::testing {

inline constexpr int history_commits = 12;

struct history_fixture {
  std::filesystem::path repo;
  std::filesystem::path snapshots;
  std::vector<std::string> commits;  // oldest first
};

inline std::string checked_output(const std::string& command) {
  const auto result = run_command(command);
  if (result.exit_code != 0) throw std::runtime_error(command + " failed: " + result.output);
  return result.output;
}

// `count` times around `seconds` with a seeded uniform noise of 1% standard deviation.
inline std::vector<double> fixture_times(double seconds, std::size_t count, std::mt19937_64& engine) {
  std::vector<double> times;
  for (std::size_t i = 0; i < count; ++i) {
    const double uniform = static_cast<double>(engine() >> 11) / 9007199254740992.0;  // [0, 1)
    times.push_back(seconds * (1.0 + 0.01 * std::sqrt(12.0) * (uniform - 0.5)));
  }
  return times;
}

inline tracking::bench_record fixture_record(const std::string& commit, int index, double scale,
                                             const std::string& cpu_model, std::mt19937_64& engine) {
  auto record = sample_bench_record({1e-3}, cpu_model);
  const std::string stamp = "2026-12-01T10:" + std::string(index < 10 ? "0" : "") + std::to_string(index) + ":00.000Z";
  record.identity["bench_id"] = "20261201T10" + std::to_string(10 + index) + "00.000Z-" + commit.substr(0, 8);
  record.identity["start_time"] = stamp;
  record.identity["end_time"] = stamp;
  record.identity["repetitions"] = 10;
  record.code["commit"] = commit;
  record.code["branch"] = "main";
  record.code["tree"] = "clean";
  tracking::bench_result work{"fixture/work", "fixture", "fixture/work", "us", false, "", false, "", {}};
  tracking::bench_result steady{"fixture/steady", "fixture", "fixture/steady", "us", false, "", false, "", {}};
  for (const double t : fixture_times(scale * 1e-3, 10, engine)) work.samples.push_back({100, t, t, {}});
  for (const double t : fixture_times(2e-3 * (scale > 1.5 ? 2.0 : 1.0), 10, engine)) steady.samples.push_back({100, t, t, {}});
  record.benchmarks = {work, steady};
  return record;
}

inline history_fixture make_history_fixture(const std::filesystem::path& dir, int step_commit, bool second_group) {
  history_fixture fixture{dir / "repo", dir / "snapshots", {}};
  std::filesystem::create_directories(fixture.repo);
  std::filesystem::create_directories(fixture.snapshots);
  const std::string git = "git -C '" + fixture.repo.string() + "' ";
  checked_output(git + "init -q");
  checked_output(git + "config user.name 'History Fixture'");
  checked_output(git + "config user.email fixture@trackbench.invalid");
  std::mt19937_64 engine(25);
  for (int i = 1; i <= history_commits; ++i) {
    const std::string date = "2026-12-01T10:" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ":00Z";
    checked_output("GIT_AUTHOR_DATE=" + date + " GIT_COMMITTER_DATE=" + date + " " + git +
                   "commit -q --allow-empty -m 'commit " + std::to_string(i) + "'");
    auto commit = checked_output(git + "rev-parse HEAD");
    commit.erase(commit.find_last_not_of("\n") + 1);
    fixture.commits.push_back(commit);
    const double scale = step_commit > 0 && i >= step_commit ? 1.03 : 1.0;
    const auto name = "bench-" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    tracking::write_bench_snapshot(fixture.snapshots / (name + ".h5"), fixture_record(commit, i, scale, "", engine));
    if (second_group) {
      tracking::write_bench_snapshot(fixture.snapshots / ("other-cpu-" + name + ".h5"),
                                     fixture_record(commit, i, 2.0, "Other CPU", engine));
    }
  }
  return fixture;
}

}  // namespace trackbench::testing
