#include <gtest/gtest.h>

#include <sys/stat.h>

#include "support/error_message.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/recording/bench_run.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using testing::error_message;

// An executable file (never run here): what a suite looks like to the search.
fs::path make_executable(const fs::path& path) {
  testing::write_file(path, {'#', '!'});
  ::chmod(path.c_str(), 0755);
  return path;
}

TEST(BenchRun, EverySuiteOfTheFirstFolderHoldingAnyByName) {
  testing::temp_dir empty, first, second;
  make_executable(first / "trackbench_bench_b");
  make_executable(first / "trackbench_bench_a");
  testing::write_file(first / "trackbench_bench_not_executable", {'x'});
  make_executable(second / "trackbench_bench_c");
  const auto suites = choose_suites({}, {empty.path(), first.path(), second.path()});
  ASSERT_EQ(suites.size(), 2u);
  EXPECT_EQ(suites[0].name, "a");
  EXPECT_EQ(suites[1].name, "b");
  EXPECT_EQ(suites[0].executable, first / "trackbench_bench_a");
}

TEST(BenchRun, NamedSuitesAreFoundInAnyFolderOrByPathAndTakenOnce) {
  testing::temp_dir first, second;
  make_executable(first / "trackbench_bench_a");
  const auto other = make_executable(second / "my_suite");
  make_executable(second / "trackbench_bench_c");
  const auto suites = choose_suites({"c", other.string(), "c"}, {first.path(), second.path()});
  ASSERT_EQ(suites.size(), 2u);
  EXPECT_EQ(suites[0].executable, second / "trackbench_bench_c");
  EXPECT_EQ(suites[1].name, "my_suite");
}

TEST(BenchRun, UnknownSuitesAndFoldersNameTheFlag) {
  testing::temp_dir dir;
  make_executable(dir / "trackbench_bench_a");
  const auto unknown = error_message<input_error>([&] { choose_suites({"zzz"}, {dir.path()}); });
  EXPECT_NE(unknown.find("--suite zzz"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("suites found: a"), std::string::npos) << unknown;
  const auto missing = error_message<input_error>([&] { choose_suites({"/no/such/suite"}, {dir.path()}); });
  EXPECT_NE(missing.find("--suite /no/such/suite: no such executable"), std::string::npos) << missing;
  testing::temp_dir none;
  const auto nothing = error_message<input_error>([&] { choose_suites({}, {none.path()}); });
  EXPECT_NE(nothing.find("no benchmark suites"), std::string::npos) << nothing;
  const auto folder = error_message<input_error>([&] { suite_search_dirs((dir / "absent").string(), "/build/bench"); });
  EXPECT_NE(folder.find("--suites-dir"), std::string::npos) << folder;
  const auto defaults = suite_search_dirs("", "/build/bench");
  ASSERT_EQ(defaults.size(), 4u);
  EXPECT_EQ(defaults[1], fs::path("/build/bench"));
  EXPECT_EQ(suite_search_dirs(dir.path().string(), "/build/bench"), std::vector<fs::path>{dir.path()});
}

}  // namespace
}  // namespace trackbench::tracking
