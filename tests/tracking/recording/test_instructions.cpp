// bench --measure instructions: the dumps' loop, the counts of the fixture suite under callgrind
// (two runs of one build agree, the slowed build counts more), and the command line's errors.
// The counts are compared, never timed: a count does not depend on the machine's load.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "support/error_message.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/analysis/instruction_gate.h"
#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/recording/instructions.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using testing::error_message;
using testing::run_trackbench;
using testing::temp_dir;

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

std::string dump(int part, const std::string& trigger, std::uint64_t total) {
  return "version: 1\ncreator: callgrind-3.19.0\npart: " + std::to_string(part) + "\ndesc: Trigger: " + trigger +
         "\nevents: Ir\ntotals: " + std::to_string(total) + "\n";
}

TEST(Instructions, TheLastLoopOfTheDumpsOverItsIterations) {
  temp_dir dir;
  // An estimation call (1 iteration), then the reported one (4 iterations), then the end.
  write_text(dir / "callgrind.out.1", dump(1, "--dump-after=benchmark::State::StartKeepRunning()", 900000000));
  write_text(dir / "callgrind.out.2", dump(2, "--dump-before=benchmark::State::FinishKeepRunning()", 33000000));
  write_text(dir / "callgrind.out.3", dump(3, "--dump-after=benchmark::State::StartKeepRunning()", 5000));
  write_text(dir / "callgrind.out.4", dump(4, "--dump-before=benchmark::State::FinishKeepRunning()", 132000892));
  write_text(dir / "callgrind.out", dump(5, "Program termination", 147680));
  write_text(dir / "benchmark.json", "{}");
  EXPECT_DOUBLE_EQ(loop_instructions_per_iteration(dir.path(), 4, "b"), 33000223.0);

  // A loop end without its start right before it was not cut at the loop.
  fs::remove(dir / "callgrind.out.3");
  auto message = error_message<std::runtime_error>([&] { loop_instructions_per_iteration(dir.path(), 4, "bench x"); });
  EXPECT_NE(message.find("bench x: callgrind made no dump between benchmark::State::StartKeepRunning and"),
            std::string::npos)
      << message;
  temp_dir empty;
  write_text(empty / "callgrind.out", dump(1, "Program termination", 10));
  EXPECT_THROW(loop_instructions_per_iteration(empty.path(), 4, "b"), std::runtime_error);
  write_text(empty / "callgrind.out.2", "garbage\n");
  message = error_message<std::runtime_error>([&] { loop_instructions_per_iteration(empty.path(), 4, "bench y"); });
  EXPECT_NE(message.find("bench y: "), std::string::npos) << message;
  EXPECT_NE(message.find("not a callgrind dump"), std::string::npos) << message;
}

TEST(Instructions, MeasureNamesTimeInstructionsOrBoth) {
  EXPECT_EQ(to_string(parse_measure("time")), "time");
  EXPECT_EQ(to_string(parse_measure("instructions")), "instructions");
  EXPECT_EQ(to_string(parse_measure("instructions,time")), "time,instructions");
  const auto message = error_message<input_error>([] { parse_measure("cycles"); });
  EXPECT_EQ(message, "--measure 'cycles': expected time, instructions or time,instructions");
}

TEST(InstructionsCli, BogusMeasureAndMissingValgrindAreInputErrors) {
  temp_dir dir;
  const auto bogus = run_trackbench("bench --measure bogus --suite " + quoted(TRACKBENCH_BENCH_FIXTURE) + " --out " +
                                    quoted(dir / "out"));
  EXPECT_EQ(bogus.exit_code, 2) << bogus.output;
  EXPECT_NE(bogus.output.find("--measure 'bogus': expected time, instructions or time,instructions"), std::string::npos)
      << bogus.output;
  // No valgrind on PATH (the executable by its full path needs none).
  fs::create_directories(dir / "empty-path");
  const auto missing = testing::run_command("PATH=" + quoted(dir / "empty-path") + " '" TRACKBENCH_EXECUTABLE
                                            "' bench --measure instructions --suite " +
                                            quoted(TRACKBENCH_BENCH_FIXTURE) + " --out " + quoted(dir / "out"));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("--measure instructions counts under Valgrind's callgrind, but no valgrind is on PATH"),
            std::string::npos)
      << missing.output;
  EXPECT_NE(missing.output.find("apt-get install valgrind"), std::string::npos) << missing.output;
  EXPECT_FALSE(fs::exists(dir / "out") && !fs::is_empty(dir / "out"));
}

class InstructionCounts : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      find_instruction_counter();
    } catch (const input_error& e) {
      GTEST_SKIP() << "no Valgrind: " << e.what();
    }
  }

  // One `trackbench bench --measure instructions` of the fixture (busy_loop: 4 iterations).
  bench_record counted(const char* suite, const std::string& measure = "instructions") {
    const auto out = dir_ / ("out-" + std::to_string(++runs_));
    const auto result = run_trackbench("-q bench --measure " + measure + " --repetitions 4 --suite " + quoted(suite) +
                                       " --out " + quoted(out));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    for (const auto& entry : fs::directory_iterator(out)) {
      if (entry.path().extension() == ".h5") return read_bench_snapshot(entry.path());
    }
    ADD_FAILURE() << "no snapshot in " << out << "\n" << result.output;
    return {};
  }

  static double busy_loop(const bench_record& record) {
    for (const auto& result : record.benchmarks) {
      if (result.name == "busy_loop/iterations:4" && result.instructions_per_iteration) {
        return *result.instructions_per_iteration;
      }
    }
    ADD_FAILURE() << "busy_loop/iterations:4 has no instruction count";
    return 0.0;
  }

  temp_dir dir_;
  int runs_ = 0;
};

TEST_F(InstructionCounts, TwoRunsOfOneBuildAgreeToBelowHalfAPercent) {
  const auto first = counted(TRACKBENCH_BENCH_FIXTURE);
  const auto second = counted(TRACKBENCH_BENCH_FIXTURE);
  const double a = busy_loop(first);
  const double b = busy_loop(second);
  // 3,000,000 xorshift rounds of 11 instructions each, whatever else the loop holds.
  EXPECT_GT(a, 3.0e7);
  EXPECT_LT(a, 4.0e7);
  EXPECT_LT(std::abs(b / a - 1), default_instruction_threshold) << a << " " << b;
  // What the snapshot says of the counting; no samples were timed; the skipped one has no count.
  EXPECT_EQ(first.identity["measure"], "instructions");
  EXPECT_EQ(first.identity["instruction_tool"].get<std::string>().rfind("valgrind-", 0), 0u) << first.identity.dump();
  EXPECT_EQ(first.identity["instruction_isa_limit"], "AVX2");
  EXPECT_NE(first.identity["instruction_settings"].get<std::string>().find("ONEDNN_MAX_CPU_ISA=AVX2"), std::string::npos);
  ASSERT_EQ(first.benchmarks.size(), 2u);
  EXPECT_TRUE(first.benchmarks[0].samples.empty());
  EXPECT_TRUE(first.benchmarks[1].skipped);
  EXPECT_FALSE(first.benchmarks[1].instructions_per_iteration);
}

TEST_F(InstructionCounts, MoreWorkCountsMoreInstructionsAndTimeKeepsItsSamples) {
  const double as_is = busy_loop(counted(TRACKBENCH_BENCH_FIXTURE));
  const auto slowed = counted(TRACKBENCH_BENCH_FIXTURE_SLOWED, "time,instructions");
  // The slowed build runs 1.4 times the rounds.
  EXPECT_NEAR(busy_loop(slowed) / as_is, 1.4, 0.01) << as_is << " " << busy_loop(slowed);
  EXPECT_EQ(slowed.identity["measure"], "time,instructions");
  EXPECT_EQ(slowed.benchmarks[0].samples.size(), 4u);
}

}  // namespace
}  // namespace trackbench::tracking
