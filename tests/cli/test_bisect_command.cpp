// trackbench bisect as a user runs it: a throw-away git repository of 12 commits whose script
// bench.sh runs the modelled-time fixture suite (support/work_fixture.cpp) with the work and noise
// written in the commit: work 1.00, from commit 8 on 1.03; the suite's path in
// $TRACKBENCH_WORK_FIXTURE.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "support/history_fixture.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace trackbench::testing {
namespace {

using json = nlohmann::ordered_json;

constexpr int step_commit = 8;

struct bisect_repo {
  std::filesystem::path path;
  std::vector<std::string> commits;  // oldest first
};

// Commit i (1-based) has work 1.03 from step_commit on, and `noise` from `noisy_from` on (0: never).
bisect_repo make_bisect_repo(const std::filesystem::path& dir, int noisy_from) {
  bisect_repo repo{dir / "repo", {}};
  std::filesystem::create_directories(repo.path);
  const std::string git = "git -C '" + repo.path.string() + "' ";
  checked_output(git + "init -q");
  checked_output(git + "config user.name 'Bisect Fixture'");
  checked_output(git + "config user.email fixture@trackbench.invalid");
  std::ofstream(repo.path / "bench.sh")
      << "#!/bin/sh\n"
         "TRACKBENCH_FIXTURE_WORK=$(cat work.txt) TRACKBENCH_FIXTURE_NOISE=$(cat noise.txt) exec "
         "\"$TRACKBENCH_WORK_FIXTURE\" --benchmark_repetitions=5 --benchmark_out=\"$TRACKBENCH_BISECT_JSON\" "
         "--benchmark_out_format=json\n";
  for (int i = 1; i <= history_commits; ++i) {
    std::ofstream(repo.path / "work.txt") << (i >= step_commit ? "1.03\n" : "1.00\n");
    std::ofstream(repo.path / "noise.txt") << (noisy_from > 0 && i >= noisy_from ? "0.2\n" : "0.005\n");
    // Fixed dates: the same hashes each time, so the fixture's seeded noise is the same too.
    const std::string date = "2026-12-01T10:" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ":00Z";
    checked_output(git + "add -A && GIT_AUTHOR_DATE=" + date + " GIT_COMMITTER_DATE=" + date + " " + git +
                   "commit -q --allow-empty -m 'commit " + std::to_string(i) + "'");
    repo.commits.push_back(checked_output(git + "rev-parse HEAD").substr(0, 40));
  }
  return repo;
}

std::string bisect_of(const bisect_repo& repo, int good, int bad, const std::string& flags) {
  return "bisect --repo '" + repo.path.string() + "' --good " + repo.commits[good - 1] + " --bad " +
         repo.commits[bad - 1] + " --run 'sh bench.sh' " + flags;
}

// bench.sh finds the fixture suite through the environment, which git bisect run passes on.
process_result run_bisect(const std::string& arguments) {
  return run_command(std::string("TRACKBENCH_WORK_FIXTURE='") + TRACKBENCH_BENCH_FIXTURE_WORK + "' '" +
                     TRACKBENCH_EXECUTABLE + "' " + arguments);
}

json parsed(const process_result& result) {
  try {
    return json::parse(result.output);
  } catch (const json::exception&) {
    ADD_FAILURE() << "not JSON: " << result.output;
    return json::object();
  }
}

// Nothing of the bisection is left in the user's checkout.
void expect_clean(const bisect_repo& repo) {
  const std::string git = "git -C '" + repo.path.string() + "' ";
  EXPECT_EQ(checked_output(git + "worktree list").find('\n'), checked_output(git + "worktree list").size() - 1);
  EXPECT_EQ(checked_output(git + "for-each-ref refs/bisect"), "");
  EXPECT_EQ(checked_output(git + "rev-parse HEAD").substr(0, 40), repo.commits.back());
}

TEST(BisectCommand, NamesTheCommitWhereTheWorkGrew) {
  const temp_dir dir;
  const auto repo = make_bisect_repo(dir.path(), 0);
  const auto result = run_bisect(bisect_of(repo, 1, history_commits, "--json") + " 2>/dev/null");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  const auto document = parsed(result);
  EXPECT_EQ(document.value("status", ""), "found");
  ASSERT_TRUE(document["first_bad"].is_object()) << document.dump();
  EXPECT_EQ(document["first_bad"]["commit"], repo.commits[step_commit - 1]) << document.dump();
  EXPECT_EQ(document["first_bad"]["subject"], "commit " + std::to_string(step_commit));
  const auto& change = document["first_bad"]["benchmarks"].at(0);
  EXPECT_EQ(change["verdict"], "slower") << change.dump();
  // The good one and the bad one first; git then tests commits between; each one's verdict
  // agrees with its work.
  ASSERT_GE(document["steps"].size(), 3u);
  EXPECT_EQ(document["steps"][0]["commit"], repo.commits.front());
  EXPECT_EQ(document["steps"][1]["commit"], repo.commits.back());
  for (const auto& step : document["steps"]) {
    const auto at = std::find(repo.commits.begin(), repo.commits.end(), step["commit"].get<std::string>());
    ASSERT_NE(at, repo.commits.end());
    EXPECT_EQ(step["verdict"], at - repo.commits.begin() + 1 >= step_commit ? "bad" : "good") << step.dump();
    EXPECT_GE(step["rounds"].get<int>(), 2);  // --min-rounds
  }
  expect_clean(repo);

  // The text names the commit and the change there with its interval.
  const auto text = run_bisect(bisect_of(repo, 1, history_commits, ""));
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("first bad commit: " + repo.commits[step_commit - 1] + " commit 8"), std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("+3."), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("slower"), std::string::npos) << text.output;
  expect_clean(repo);
}

TEST(BisectCommand, UncertainCommitsTakeMoreRoundsThenAreSkipped) {
  const temp_dir dir;
  // From commit 8 on the noise (20%) hides the 3% step: the bad end never decides.
  const auto repo = make_bisect_repo(dir.path(), step_commit);
  const auto result =
      run_bisect(bisect_of(repo, 1, history_commits, "--max-rounds 3 --json --junit '" + (dir / "b.xml").string() + "'") +
                     " 2>/dev/null");
  EXPECT_EQ(result.exit_code, 3) << result.output;
  const auto document = parsed(result);
  EXPECT_EQ(document.value("status", ""), "inconclusive");
  ASSERT_EQ(document["steps"].size(), 2u) << document.dump();
  const auto& bad = document["steps"][1];
  EXPECT_EQ(bad["verdict"], "skip");
  EXPECT_EQ(bad["rounds"], 3);
  EXPECT_NE(bad["reason"].get<std::string>().find("uncertain after 3 rounds"), std::string::npos) << bad.dump();
  EXPECT_TRUE(std::filesystem::exists(dir / "b.xml"));
  expect_clean(repo);
}

TEST(BisectCommand, BadInputIsNamed) {
  const temp_dir dir;
  const auto repo = make_bisect_repo(dir.path(), 0);
  const auto unknown = run_bisect("bisect --repo '" + repo.path.string() + "' --good nosuchcommit --bad " +
                                      repo.commits.back() + " --run 'sh bench.sh'");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("--good nosuchcommit: no such commit"), std::string::npos) << unknown.output;

  const auto failing = run_bisect("bisect --repo '" + repo.path.string() + "' --good " + repo.commits.front() +
                                      " --bad " + repo.commits.back() + " --run 'exit 3'");
  EXPECT_EQ(failing.exit_code, 2) << failing.output;
  EXPECT_NE(failing.output.find("--run 'exit 3' failed with exit code 3 at --good"), std::string::npos) << failing.output;
  expect_clean(repo);

  // Both ends without the step: nothing to bisect, said so.
  const auto flat = run_bisect(bisect_of(repo, 1, step_commit - 1, "") + " 2>/dev/null");
  EXPECT_EQ(flat.exit_code, 2) << flat.output;
  EXPECT_NE(flat.output.find("is not slower than --good"), std::string::npos) << flat.output;

  const auto backwards = run_bisect(bisect_of(repo, history_commits, 1, ""));
  EXPECT_EQ(backwards.exit_code, 2) << backwards.output;
  EXPECT_NE(backwards.output.find("is not an ancestor of --bad"), std::string::npos) << backwards.output;
  expect_clean(repo);
}

}  // namespace
}  // namespace trackbench::testing
