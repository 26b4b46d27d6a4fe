// The direct cuDNN baseline's host-side decisions (kernels/dev/cudnn_search.h): which engines a
// precision admits, when a slow candidate stops being timed, which candidate wins, and the label
// that names it. The search itself needs a GPU; the GPU benchmarks and the tuning harness run it.
#include <gtest/gtest.h>

#include <algorithm>

#include "cudnn_search.h"

namespace trackbench::kernels::dev {
namespace {

bool excludes(precision math, cudnn_note note) {
  const auto notes = excluded_notes(math);
  return std::find(notes.begin(), notes.end(), note) != notes.end();
}

cudnn_candidate timed(cudnn_route route, const std::string& name, std::vector<double> times_us) {
  cudnn_candidate c;
  c.route = route;
  c.name = name;
  c.times_us = std::move(times_us);
  return c;
}

TEST(CudnnBaseline, Fp32LeavesOutTensorCoreAndDownConvertingEngines) {
  EXPECT_TRUE(excludes(precision::fp32, cudnn_note::tensor_core));
  EXPECT_TRUE(excludes(precision::fp32, cudnn_note::down_convert_inputs));
}

TEST(CudnnBaseline, Tf32AdmitsTensorCoresButNotInputsBelowTf32) {
  EXPECT_FALSE(excludes(precision::tf32, cudnn_note::tensor_core));
  EXPECT_TRUE(excludes(precision::tf32, cudnn_note::down_convert_inputs));
}

TEST(CudnnBaseline, EveryPrecisionLeavesOutRuntimeCompiledEngines) {
  const auto behaviors = excluded_behaviors();
  EXPECT_NE(std::find(behaviors.begin(), behaviors.end(), cudnn_behavior::runtime_compilation), behaviors.end());
}

TEST(CudnnBaseline, MedianOfOddAndEvenCounts) {
  EXPECT_DOUBLE_EQ(median_us({30.0, 10.0, 20.0}), 20.0);
  EXPECT_DOUBLE_EQ(median_us({40.0, 10.0, 30.0, 20.0}), 25.0);
  EXPECT_DOUBLE_EQ(median_us({7.0}), 7.0);
}

TEST(CudnnBaseline, FastestIsTheLowestMedianAmongCandidatesThatRan) {
  const std::vector<cudnn_candidate> candidates{
      timed(cudnn_route::frontend, "a", {10.0, 50.0, 11.0}),  // median 11 despite one slow run
      timed(cudnn_route::frontend, "b", {}),                  // failed to run
      timed(cudnn_route::legacy, "c", {12.0, 9.0, 13.0}),     // median 12, though its best run is 9
      timed(cudnn_route::legacy, "d", {10.5, 10.5, 10.5}),
  };
  EXPECT_EQ(fastest(candidates), std::optional<std::size_t>(3));
}

TEST(CudnnBaseline, LegacyWinsWhenFaster) {
  const std::vector<cudnn_candidate> candidates{timed(cudnn_route::frontend, "a", {20.0}),
                                                timed(cudnn_route::legacy, "b", {19.0})};
  EXPECT_EQ(fastest(candidates), std::optional<std::size_t>(1));
}

TEST(CudnnBaseline, TieGoesToTheEarlierCandidate) {
  const std::vector<cudnn_candidate> candidates{timed(cudnn_route::frontend, "a", {5.0}),
                                                timed(cudnn_route::legacy, "b", {5.0})};
  EXPECT_EQ(fastest(candidates), std::optional<std::size_t>(0));
}

TEST(CudnnBaseline, NoWinnerWhenNothingRan) {
  EXPECT_FALSE(fastest({}).has_value());
  EXPECT_FALSE(fastest({timed(cudnn_route::frontend, "a", {}), timed(cudnn_route::legacy, "b", {})}).has_value());
}

TEST(CudnnBaseline, StopsTimingACandidateTwiceAsSlowAsTheBest) {
  EXPECT_TRUE(worth_timing_further(1000.0, std::nullopt));  // the first candidate is always timed
  EXPECT_TRUE(worth_timing_further(20.0, 10.0));
  EXPECT_FALSE(worth_timing_further(20.5, 10.0));
}

TEST(CudnnBaseline, LabelNamesAFrontendWinnerAndCountsWhatRan) {
  std::vector<cudnn_candidate> candidates{timed(cudnn_route::frontend, "conv_dgrad eng1_k2=3", {12.54, 12.5, 12.46}),
                                          timed(cudnn_route::frontend, "conv_dgrad eng7", {}),  // not counted
                                          timed(cudnn_route::legacy, "algorithm 1", {30.0})};
  candidates[0].engine = 1;
  candidates[0].workspace_bytes = 4096;
  ASSERT_EQ(fastest(candidates), std::optional<std::size_t>(0));
  EXPECT_EQ(describe(candidates, 0),
            "frontend conv_dgrad eng1_k2=3 (engine 1), 12.5 us, workspace 4096 bytes; fastest of 2 "
            "(1 frontend plans, 1 legacy algorithms)");
}

TEST(CudnnBaseline, LabelNamesALegacyWinner) {
  std::vector<cudnn_candidate> candidates{timed(cudnn_route::frontend, "conv_wgrad eng0", {20.0}),
                                          timed(cudnn_route::frontend, "conv_wgrad eng3", {25.0}),
                                          timed(cudnn_route::legacy, "algorithm 3", {9.96})};
  candidates[2].engine = 3;
  candidates[2].workspace_bytes = 1 << 20;
  ASSERT_EQ(fastest(candidates), std::optional<std::size_t>(2));
  EXPECT_EQ(describe(candidates, 2),
            "legacy algorithm 3, 10.0 us, workspace 1048576 bytes; fastest of 3 (2 frontend plans, 1 legacy "
            "algorithms)");
}

}  // namespace
}  // namespace trackbench::kernels::dev
