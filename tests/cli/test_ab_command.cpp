// trackbench ab as a user runs it, on the fixture suite (support/bench_fixture.cpp) built twice
// as is and once with 40% more work. Timing-sensitive, so ctest runs these alone (RUN_SERIAL);
// the slowdown is large and the budgets generous, so the 2-core shared machine decides them.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "support/process.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/analysis/instruction_gate.h"
#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/recording/instructions.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::testing {
namespace {

using json = nlohmann::ordered_json;

const std::string busy = "busy_loop/iterations:4";

std::string ab_of(const std::string& base, const std::string& next, const std::string& flags) {
  return "ab --base '" + base + "' --new '" + next + "' " + flags;
}

// ab --json's document (stderr, the per-round log, left out) and its exit code.
std::pair<json, int> ab_json(const std::string& base, const std::string& next, const std::string& flags) {
  const auto result = run_trackbench(ab_of(base, next, flags + " --json") + " 2>/dev/null");
  try {
    return {json::parse(result.output), result.exit_code};
  } catch (const json::exception&) {
    ADD_FAILURE() << "not JSON: " << result.output;
    return {json(), result.exit_code};
  }
}

json benchmark_of(const json& document, const std::string& name) {
  for (const auto& entry : document["benchmarks"]) {
    if (entry["name"] == name) return entry;
  }
  ADD_FAILURE() << "no " << name << " in " << document.dump();
  return json();
}

TEST(AbCommand, TwoBuildsOfTheSameCodeAreNeverSlowerOrFaster) {
  const auto [document, exit_code] =
      ab_json(TRACKBENCH_BENCH_FIXTURE, TRACKBENCH_BENCH_FIXTURE_TWIN, "--benchmark busy --max-seconds 60");
  EXPECT_EQ(exit_code, 0) << document.dump();
  const auto entry = benchmark_of(document, busy);
  const std::string verdict = entry.value("verdict", "");
  EXPECT_TRUE(verdict == "same" || verdict == "uncertain") << entry.dump();
  // ABBA: the rounds alternate, base first.
  ASSERT_GE(document["rounds"].size(), 2u) << document.dump();
  EXPECT_EQ(document["rounds"][0], "AB");
  EXPECT_EQ(document["rounds"][1], "BA");
  EXPECT_EQ(document["order"], "abba");
  EXPECT_GE(entry["base_repetitions"].get<int>(), 6) << entry.dump();  // 2 rounds of 3 at least
}

TEST(AbCommand, ASlowedBuildIsSlowerAndFailsTheJob) {
  temp_dir dir;
  const auto junit = dir / "ab.xml";
  const auto markdown = dir / "ab.md";
  const auto [document, exit_code] =
      ab_json(TRACKBENCH_BENCH_FIXTURE, TRACKBENCH_BENCH_FIXTURE_SLOWED,
              "--max-seconds 120 --junit '" + junit.string() + "' --markdown '" + markdown.string() + "'");
  EXPECT_EQ(exit_code, 1) << document.dump();
  EXPECT_EQ(document["passed"], false);
  const auto entry = benchmark_of(document, busy);
  EXPECT_EQ(entry["verdict"], "slower") << entry.dump();
  EXPECT_GT(entry["shift_low"].get<double>(), entry["threshold"].get<double>()) << entry.dump();
  EXPECT_GT(entry["shift"].get<double>(), 0.2) << entry.dump();
  EXPECT_LE(entry["q_value"].get<double>(), 0.05) << entry.dump();
  EXPECT_GE(entry["threshold"].get<double>(), 0.01) << entry.dump();
  EXPECT_EQ(benchmark_of(document, "needs_gpu")["verdict"], "skipped");

  // JUnit: one testcase per benchmark, the slower one failed with its change and interval.
  const auto xml = read_text(junit);
  EXPECT_NE(xml.find("<testsuite name=\"trackbench ab\" tests=\"2\" failures=\"1\""), std::string::npos) << xml;
  const auto failed = xml.find("<testcase classname=\"ab\" name=\"" + busy + "\">\n      <failure message=\"" + busy +
                               ": ");
  EXPECT_NE(failed, std::string::npos) << xml;
  EXPECT_NE(xml.find("(95% interval), threshold +-", failed), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase classname=\"ab\" name=\"needs_gpu\">\n      <system-out>"), std::string::npos) << xml;
  EXPECT_NE(read_text(markdown).find("| **slower** |"), std::string::npos) << read_text(markdown);

  // The terminal table says the same.
  const auto text = run_trackbench(ab_of(TRACKBENCH_BENCH_FIXTURE, TRACKBENCH_BENCH_FIXTURE_SLOWED,
                                         "--benchmark busy --max-seconds 120 2>/dev/null"));
  EXPECT_EQ(text.exit_code, 1) << text.output;
  EXPECT_NE(text.output.find("order abba: AB BA"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("slower"), std::string::npos) << text.output;
}

TEST(AbCommand, ARandomOrderIsRecordedAndRepeatsWithItsSeed) {
  const auto flags = "--benchmark busy --order random --seed 7 --min-rounds 6 --max-seconds 120";
  const auto [first, first_exit] = ab_json(TRACKBENCH_BENCH_FIXTURE, TRACKBENCH_BENCH_FIXTURE_SLOWED, flags);
  const auto [second, second_exit] = ab_json(TRACKBENCH_BENCH_FIXTURE, TRACKBENCH_BENCH_FIXTURE_SLOWED, flags);
  EXPECT_EQ(first["seed"], 7);
  EXPECT_EQ(first["order"], "random");
  ASSERT_EQ(first["rounds"].size(), 6u) << first.dump();  // decided at the sixth round, the minimum
  EXPECT_EQ(first["rounds"], second["rounds"]);
  EXPECT_EQ(first_exit, 1);
  EXPECT_EQ(second_exit, 1);
}

TEST(AbCommand, AnExhaustedBudgetIsUncertainAndExitsThreeWhenAsked) {
  // One round fits in no budget this small, and two are the minimum: nothing is decided.
  const auto flags = std::string("--benchmark busy --max-seconds 0.001");
  const auto [document, exit_code] =
      ab_json(TRACKBENCH_BENCH_FIXTURE, TRACKBENCH_BENCH_FIXTURE_SLOWED, flags + " --fail-on-uncertain");
  EXPECT_EQ(exit_code, 3) << document.dump();
  EXPECT_EQ(document["budget_spent"], true);
  EXPECT_EQ(document["rounds"].size(), 1u);
  const auto entry = benchmark_of(document, busy);
  EXPECT_EQ(entry["verdict"], "uncertain");
  EXPECT_EQ(entry["reason"].get<std::string>().rfind("budget: --max-seconds 0.001 spent after 1 rounds", 0), 0u)
      << entry.dump();
  // Without --fail-on-uncertain an undecided job passes.
  EXPECT_EQ(ab_json(TRACKBENCH_BENCH_FIXTURE, TRACKBENCH_BENCH_FIXTURE_SLOWED, flags).second, 0);
}

TEST(AbCommand, BadFlagsExitTwoNamingTheFlag) {
  const std::string fixture = TRACKBENCH_BENCH_FIXTURE;
  for (const auto& [flags, words] : {
           std::pair{ab_of(fixture, fixture, "--order sideways"), std::string("--order")},
           std::pair{ab_of("/no/such/suite", fixture, ""), std::string("--base /no/such/suite: no such executable")},
           std::pair{ab_of(fixture, "no_such_suite", ""), std::string("--new no_such_suite: no trackbench_bench_no_such_suite")},
           std::pair{ab_of(fixture, fixture, "--repetitions 0"), std::string("--repetitions")},
           std::pair{ab_of(fixture, fixture, "--threshold -1"), std::string("--threshold")},
           std::pair{ab_of(fixture, fixture, "--benchmark '^nothing$'"), std::string("--benchmark '^nothing$' matches none")},
           std::pair{"ab --base '" + fixture + "'", std::string("--new")},
       }) {
    const auto result = run_trackbench(flags);
    EXPECT_EQ(result.exit_code, 2) << flags << "\n" << result.output;
    EXPECT_NE(result.output.find(words), std::string::npos) << flags << "\n" << result.output;
  }
}

// ab --measure instructions: each side counted under callgrind once a round (the busy loop only,
// as callgrind runs it ~50 times slower), decided at the fixed 0.5% threshold.
class AbInstructions : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      tracking::find_instruction_counter();
    } catch (const input_error& e) {
      GTEST_SKIP() << "no Valgrind: " << e.what();
    }
  }
  static json counted_entry(const json& document) {
    for (const auto& entry : document["instructions"]["benchmarks"]) {
      if (entry["name"] == busy) return entry;
    }
    ADD_FAILURE() << "no count of " << busy << " in " << document.dump();
    return json();
  }
};

TEST_F(AbInstructions, ThreePercentMoreWorkIsSlowerAndFailsTheJob) {
  temp_dir dir;
  const auto junit = dir / "ab.xml";
  const auto [document, exit_code] = ab_json(TRACKBENCH_BENCH_FIXTURE_TWIN, TRACKBENCH_BENCH_FIXTURE_SLOWED_3PCT,
                                             "--measure instructions --benchmark busy --junit '" + junit.string() + "'");
  EXPECT_EQ(exit_code, 1) << document.dump();
  EXPECT_EQ(document["measure"], "instructions");
  EXPECT_TRUE(document["rounds"].empty()) << document.dump();  // no timed rounds
  EXPECT_EQ(document["instructions"]["rounds"], json::parse(R"(["AB", "BA"])"));
  EXPECT_EQ(document["instructions"]["threshold"], tracking::default_instruction_threshold);
  const auto entry = counted_entry(document);
  EXPECT_EQ(entry["verdict"], "slower") << entry.dump();
  // The slowed build's loop runs 3% more xorshift steps, nearly all of its instructions.
  EXPECT_NEAR(entry["change"].get<double>(), 0.03, 0.003) << entry.dump();
  EXPECT_EQ(entry["base_counts"].size(), 2u) << entry.dump();
  EXPECT_EQ(entry["new_counts"].size(), 2u) << entry.dump();
  const auto xml = read_text(junit);
  EXPECT_NE(xml.find("<testsuite name=\"trackbench ab\" tests=\"1\" failures=\"1\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase classname=\"ab.instructions\" name=\"" + busy + "\">\n      <failure message=\"" +
                     busy + ": +3."),
            std::string::npos)
      << xml;
}

TEST_F(AbInstructions, OneBuildAgainstItselfIsTheSameToWithinTheThreshold) {
  const auto [document, exit_code] = ab_json(TRACKBENCH_BENCH_FIXTURE_TWIN, TRACKBENCH_BENCH_FIXTURE_TWIN,
                                             "--measure instructions --benchmark busy --fail-on-uncertain");
  EXPECT_EQ(exit_code, 0) << document.dump();
  const auto entry = counted_entry(document);
  EXPECT_EQ(entry["verdict"], "same") << entry.dump();
  EXPECT_LT(std::abs(entry["change"].get<double>()), tracking::default_instruction_threshold) << entry.dump();
  EXPECT_LT(entry["base_spread"].get<double>(), tracking::default_instruction_threshold) << entry.dump();
  EXPECT_LT(entry["new_spread"].get<double>(), tracking::default_instruction_threshold) << entry.dump();

  // The terminal says so too, and a bad --measure is bad input.
  const auto text = run_trackbench(ab_of(TRACKBENCH_BENCH_FIXTURE_TWIN, TRACKBENCH_BENCH_FIXTURE_TWIN,
                                         "--measure instructions --benchmark busy --min-rounds 1 2>/dev/null"));
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("instructions per iteration (callgrind, valgrind-"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("same"), std::string::npos) << text.output;
  const auto bogus = run_trackbench(ab_of(TRACKBENCH_BENCH_FIXTURE, TRACKBENCH_BENCH_FIXTURE, "--measure cycles"));
  EXPECT_EQ(bogus.exit_code, 2) << bogus.output;
  EXPECT_NE(bogus.output.find("--measure 'cycles'"), std::string::npos) << bogus.output;
}

}  // namespace
}  // namespace trackbench::testing
