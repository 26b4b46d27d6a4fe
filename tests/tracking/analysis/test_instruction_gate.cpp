// The instruction gate of compare: verdicts at the 0.5% threshold, the instructions:N% rules, the
// advisory cases, and `trackbench compare` of two bench snapshots with counts (text and JSON).
#include <gtest/gtest.h>

#include "support/error_message.h"
#include "support/process.h"
#include "support/sample_records.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/analysis/instruction_gate.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using testing::error_message;
using testing::run_trackbench;
using testing::temp_dir;

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

const std::vector<double> ten{1.00e-3, 1.01e-3, 0.99e-3, 1.02e-3, 1.00e-3, 0.98e-3, 1.01e-3, 1.00e-3, 0.99e-3, 1.03e-3};

// The sample record with counts for its two measured benchmarks, as --measure time,instructions makes it.
bench_record counted(double conv, double step) {
  auto record = testing::sample_bench_record(ten);
  record.identity["measure"] = "time,instructions";
  record.identity["instruction_tool"] = "valgrind-3.19.0 --tool=callgrind";
  record.identity["instruction_isa_limit"] = "AVX2";
  record.identity["instruction_settings"] = "ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1";
  record.benchmarks[0].instructions_per_iteration = conv;
  record.benchmarks[1].instructions_per_iteration = step;
  return record;
}

TEST(InstructionGate, RepeatedCountsDecideByTheirMediansAndSpread) {
  // ab's counts: one stray count of a side moves its spread, not its median.
  const auto slower = decide_instructions("b", {1000.0, 1001.0, 1000.5}, {1030.0, 1030.5, 1029.8});
  EXPECT_DOUBLE_EQ(slower.base_per_iteration, 1000.5);
  EXPECT_DOUBLE_EQ(slower.new_per_iteration, 1030.0);
  EXPECT_NEAR(slower.change, 1030.0 / 1000.5 - 1, 1e-12);
  EXPECT_EQ(slower.verdict, instruction_verdict::slower);
  EXPECT_NEAR(slower.base_spread, 0.001, 1e-12);
  EXPECT_EQ(slower.base_counts.size(), 3u);
  EXPECT_EQ(decide_instructions("b", {1000.0, 1000.0}, {1004.0, 1004.0}).verdict, instruction_verdict::same);
  EXPECT_EQ(decide_instructions("b", {1000.0}, {994.0}).verdict, instruction_verdict::faster);
  // Counts of one side 1% apart cannot show a 0.5% change either way.
  const auto unsteady = decide_instructions("b", {1000.0, 1010.0}, {1000.0, 1000.0});
  EXPECT_EQ(unsteady.verdict, instruction_verdict::uncertain);
  EXPECT_EQ(to_string(unsteady.verdict), "uncertain");
  EXPECT_NEAR(unsteady.base_spread, 0.01, 1e-12);
  EXPECT_THROW(decide_instructions("b", {}, {1.0}), std::invalid_argument);
}

TEST(InstructionGate, VerdictsAtHalfAPercent) {
  const auto base = counted(1e6, 2e6);
  auto gate = judge_instructions(base, counted(1e6 * 1.006, 2e6 * 0.996), {}, false);
  ASSERT_EQ(gate.changes.size(), 2u);  // the skipped benchmark has no count
  EXPECT_EQ(gate.changes[0].name, "conv_forward/conv1/128/manual_time");
  EXPECT_EQ(gate.changes[0].verdict, instruction_verdict::slower);
  EXPECT_NEAR(gate.changes[0].change, 0.006, 1e-12);
  EXPECT_EQ(gate.changes[1].verdict, instruction_verdict::same);
  gate = judge_instructions(base, counted(1e6 * 0.99, 2e6 * 1.004), {}, false);
  EXPECT_EQ(gate.changes[0].verdict, instruction_verdict::faster);
  EXPECT_EQ(gate.changes[1].verdict, instruction_verdict::same);
  EXPECT_FALSE(gate.advisory);
  EXPECT_TRUE(gate.counter_differences.empty());
  // Snapshots without counts (time only, older schemas) give no instruction verdicts.
  EXPECT_TRUE(judge_instructions(testing::sample_bench_record(ten), base, {}, false).changes.empty());
}

TEST(InstructionGate, RulesFailOnlyOnSlowerBeyondTheirPercent) {
  const auto base = counted(1e6, 2e6);
  const auto next = counted(1e6 * 1.02, 2e6 * 1.006);
  auto gate = judge_instructions(base, next, {"slower:5%", "instructions:0.5%", "instructions:1%"}, false);
  ASSERT_EQ(gate.rules.size(), 2u);  // slower:5% is the timing gate's
  ASSERT_EQ(gate.rules[0].broken_by.size(), 2u);
  ASSERT_EQ(gate.rules[1].broken_by.size(), 1u);
  EXPECT_EQ(gate.rules[1].broken_by[0].name, "conv_forward/conv1/128/manual_time");
  EXPECT_TRUE(gate.failed());
  EXPECT_FALSE(judge_instructions(base, next, {"instructions:5%"}, false).failed());
  // Below the threshold a change is none, whatever the rule says.
  EXPECT_FALSE(judge_instructions(base, counted(1e6 * 1.004, 2e6), {"instructions:0.1%"}, false).failed());
  EXPECT_FALSE(judge_instructions(base, base, {"instructions:0%"}, false).failed());

  for (const char* bad : {"instructions:", "instructions:5", "instructions:-1%", "instructions:x%", "instructions:1e3%"}) {
    const auto message = error_message<input_error>([&] { parse_instruction_rule(bad); });
    EXPECT_NE(message.find(std::string("--fail-on '") + bad + "': an instruction rule is instructions:N%"),
              std::string::npos)
        << message;
  }
  EXPECT_DOUBLE_EQ(parse_instruction_rule("instructions:0.5%").threshold, 0.005);
}

TEST(InstructionGate, AnotherCounterOrMachineMakesItAdvisory) {
  const auto base = counted(1e6, 2e6);
  auto other = counted(1.1e6, 2e6);
  other.identity["instruction_tool"] = "valgrind-3.22.0 --tool=callgrind";
  auto gate = judge_instructions(base, other, {"instructions:0.5%"}, false);
  ASSERT_EQ(gate.counter_differences.size(), 1u);
  EXPECT_EQ(gate.counter_differences[0],
            "instruction_tool: valgrind-3.19.0 --tool=callgrind -> valgrind-3.22.0 --tool=callgrind");
  EXPECT_TRUE(gate.advisory);
  EXPECT_FALSE(gate.failed());
  EXPECT_TRUE(judge_instructions(base, other, {"instructions:0.5%"}, true).failed());
  auto machine = counted(1.1e6, 2e6);
  machine.environment["cpu_model"] = "Imaginary CPU 9000";
  EXPECT_TRUE(judge_instructions(base, machine, {"instructions:0.5%"}, false).advisory);
}

TEST(InstructionGateCli, CompareFailsOnMoreInstructionsAndPassesOnEqualCounts) {
  temp_dir dir;
  const auto base = dir / "base.h5";
  const auto same = dir / "same.h5";
  const auto more = dir / "more.h5";
  write_bench_snapshot(base, counted(1e6, 2e6));
  write_bench_snapshot(same, counted(1e6, 2e6));
  write_bench_snapshot(more, counted(1e6 * 1.006, 2e6));

  const auto passed = run_trackbench("compare " + quoted(base) + " " + quoted(same) + " --fail-on instructions:0.5%");
  EXPECT_EQ(passed.exit_code, 0) << passed.output;
  EXPECT_NE(passed.output.find("instructions per iteration (callgrind; a change beyond 0.5% is one)"), std::string::npos)
      << passed.output;
  EXPECT_NE(passed.output.find("pass  instructions:0.5%"), std::string::npos) << passed.output;

  const auto failed = run_trackbench("compare " + quoted(base) + " " + quoted(more) + " --fail-on instructions:0.5%");
  EXPECT_EQ(failed.exit_code, 1) << failed.output;
  EXPECT_NE(failed.output.find("+0.60%  slower"), std::string::npos) << failed.output;
  EXPECT_NE(failed.output.find("FAIL  instructions:0.5%  conv_forward/conv1/128/manual_time: +0.60%"), std::string::npos)
      << failed.output;
  // The timing rules still gate alongside (the samples are equal: same).
  EXPECT_EQ(run_trackbench("compare " + quoted(base) + " " + quoted(more) + " --fail-on slower:5%").exit_code, 0);

  const auto as_json =
      run_trackbench("compare --json " + quoted(base) + " " + quoted(more) + " --fail-on instructions:0.5% 2>/dev/null");
  EXPECT_EQ(as_json.exit_code, 1) << as_json.output;
  const auto document = json::parse(as_json.output);
  EXPECT_FALSE(document["passed"].get<bool>());
  const auto& instructions = document["instructions"];
  EXPECT_EQ(instructions["benchmarks"][0]["verdict"], "slower");
  EXPECT_EQ(instructions["benchmarks"][0]["new_instructions_per_iteration"], 1006000.0);
  EXPECT_EQ(instructions["rules"][0]["broken_by"][0], "conv_forward/conv1/128/manual_time");

  // JUnit and Markdown: a testcase and a row per counted benchmark beside the timing ones, the
  // count that broke the rule failed.
  const auto junit = dir / "compare.xml";
  const auto markdown = dir / "compare.md";
  EXPECT_EQ(run_trackbench("compare " + quoted(base) + " " + quoted(more) + " --fail-on instructions:0.5% --junit " +
                           quoted(junit) + " --markdown " + quoted(markdown) + " 2>/dev/null")
                .exit_code,
            1);
  const auto xml = testing::read_text(junit);
  EXPECT_NE(xml.find("failures=\"1\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase classname=\"compare.instructions\" name=\"conv_forward/conv1/128/manual_time\">\n"
                     "      <failure message=\"conv_forward/conv1/128/manual_time: +0.60% (1000000 -&gt; 1006000 "
                     "instructions per iteration), beyond +-0.5%\""),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<testcase classname=\"compare.instructions\" name=\"train_steps/cpu/64\">\n      "
                     "<system-out>"),
            std::string::npos)
      << xml;
  const auto table = testing::read_text(markdown);
  EXPECT_NE(table.find("| conv_forward/conv1/128/manual_time | 1000000 | 1006000 | +0.60% | **slower** |"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("| train_steps/cpu/64 | 2000000 | 2000000 | +0.00% | same |"), std::string::npos) << table;

  const auto bad = run_trackbench("compare " + quoted(base) + " " + quoted(more) + " --fail-on instructions:lots");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--fail-on 'instructions:lots'"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace trackbench::tracking
