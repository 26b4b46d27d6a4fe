// trackbench history as a user runs it, on the fixture of support/history_fixture.h.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "support/history_fixture.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace trackbench::testing {
namespace {

std::string history_of(const history_fixture& fixture, const std::string& flags = "") {
  return "history '" + fixture.snapshots.string() + "' --repo '" + fixture.repo.string() + "' " + flags;
}

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(HistoryCommand, FindsExactlyTheStepAtCommit8) {
  temp_dir dir;
  const auto fixture = make_history_fixture(dir.path(), 8, true);
  const auto result = run_trackbench(
      history_of(fixture, "--fail-on-new --fail-on-uncertain --markdown '" + (dir / "summary.md").string() + "'"));
  // The step is old news at the newest commit and every newest point is decided: no failure.
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(occurrences(result.output, "  change at "), 1U) << result.output;
  EXPECT_NE(result.output.find("  change at " + fixture.commits[7].substr(0, 8) + ": "), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("slower"), std::string::npos);
  EXPECT_NE(result.output.find("group 2: cpu_model: Other CPU"), std::string::npos) << result.output;
  EXPECT_EQ(occurrences(result.output, ", ordered by ancestry"), 4U) << result.output;
  const auto markdown = read_text(dir / "summary.md");
  EXPECT_NE(markdown.find("| group 1 | fixture/work | 12 | at " + fixture.commits[7].substr(0, 8)), std::string::npos)
      << markdown;
}

TEST(HistoryCommand, FailOnNewExits1WhenTheNewestPointStartsASlowerSegment) {
  temp_dir dir;
  const auto fixture = make_history_fixture(dir.path(), 10, true);
  // Three points after the step, the least a segment may have, leave Welch's test of per-commit
  // medians little power: the corrected p is about 0.01 here, so the gate is asked at 0.05.
  const auto result = run_trackbench(history_of(fixture, "--fail-on-new --p-value 0.05 --json"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("\"newest_is_slower\": true"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("\"commit\": \"" + fixture.commits[9] + "\",\n"), std::string::npos);
  EXPECT_NE(result.output.find("the newest point starts a slower segment"), std::string::npos);
  // Without --fail-on-new the same history passes, with a warning.
  EXPECT_EQ(run_trackbench(history_of(fixture, "--p-value 0.05")).exit_code, 0);
}

TEST(HistoryCommand, FailOnUncertainExits3WhenTheNewestPointComesTooSoonAfterAStep) {
  temp_dir dir;
  const auto fixture = make_history_fixture(dir.path(), 11, false);
  const auto junit = dir / "history.xml";
  const auto result = run_trackbench(history_of(fixture, "--fail-on-new --fail-on-uncertain --json --junit '" + junit.string() + "'"));
  EXPECT_EQ(result.exit_code, 3) << result.output;
  EXPECT_NE(result.output.find("\"newest_is_uncertain\": true"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("\"newest_is_slower\": false"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("--fail-on-uncertain: the newest point of some series cannot be decided yet"), std::string::npos);
  const auto xml = read_text(junit);
  EXPECT_EQ(occurrences(xml, "<failure"), 1U) << xml;
  EXPECT_NE(xml.find("newest point uncertain: the newest point is worse than all 10 settled points"), std::string::npos) << xml;
  // Without the flag the same history passes and still says so.
  const auto plain = run_trackbench(history_of(fixture, "--fail-on-new"));
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_NE(plain.output.find("  newest point uncertain: "), std::string::npos) << plain.output;
}

TEST(HistoryCommand, ANonSnapshotIsBadInputNamedAfterPrintingTheRest) {
  temp_dir dir;
  const auto fixture = make_history_fixture(dir.path(), 8, false);
  write_file(fixture.snapshots / "zz-not-a-snapshot.h5", {'n', 'o', 'p', 'e'});
  const auto result = run_trackbench(history_of(fixture));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("zz-not-a-snapshot.h5"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("fixture/work  12 points"), std::string::npos) << result.output;
  EXPECT_EQ(run_trackbench("history '" + (dir / "missing").string() + "'").exit_code, 2);
  EXPECT_EQ(run_trackbench(history_of(fixture, "--metric train_loss")).exit_code, 2);
}

}  // namespace
}  // namespace trackbench::testing
