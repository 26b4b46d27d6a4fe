#pragma once
// The host-side decisions of the direct cuDNN baseline (cudnn_baseline.h), apart from cuDNN so
// that the unit tests check them without a GPU (tests/test_cudnn_baseline.cpp): which engines a
// precision admits, when a candidate stops being timed, which one wins, and how it is named.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/kernels/precision.h"

namespace trackbench::kernels::dev {

// How a candidate computes the pass.
enum class cudnn_route {
  frontend,  // an execution plan of a cuDNN graph, found by the frontend's heuristics
  legacy,    // an algorithm of cudnnConvolution{Forward,BackwardData,BackwardFilter}
};

// The numerical notes of cuDNN's engines (cudnnBackendNumericalNote_t) that decide the precision.
enum class cudnn_note { tensor_core, down_convert_inputs };

// The notes whose engines a precision leaves out. On FP32 data a tensor-core engine computes on
// TF32 inputs (or lower), so fp32 leaves out every tensor-core engine; down-converting engines
// round inputs to FP16 or BF16, below TF32, so both precisions leave them out. LibTorch filters
// its cuDNN engines the same way (TF32 allowed or not), so the two baselines search the same set.
inline std::vector<cudnn_note> excluded_notes(precision math) {
  if (math == precision::tf32) return {cudnn_note::down_convert_inputs};
  return {cudnn_note::tensor_core, cudnn_note::down_convert_inputs};
}

// The behaviour notes of cuDNN's engines (cudnnBackendBehaviorNote_t) the search leaves out at
// every precision: an engine that compiles its kernels at run time (through NVRTC) costs seconds
// per plan and fails where the loader cannot find the wheel's NVRTC, and the project ships no
// such engine's code, so it is no baseline a trainer would get without that cost.
enum class cudnn_behavior { runtime_compilation };

inline std::vector<cudnn_behavior> excluded_behaviors() { return {cudnn_behavior::runtime_compilation}; }

// One way to run the pass, and what timing it gave.
struct cudnn_candidate {
  cudnn_route route = cudnn_route::frontend;
  std::string name;              // frontend: "<graph> <engine config tag>"; legacy: "algorithm <n>"
  std::int64_t engine = -1;      // frontend: cuDNN's engine id; legacy: the algorithm's number
  std::int64_t workspace_bytes = 0;
  std::vector<double> times_us;  // the timed repetitions; empty when it failed to run
};

inline double median_us(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  const std::size_t middle = times.size() / 2;
  return times.size() % 2 == 1 ? times[middle] : (times[middle - 1] + times[middle]) / 2.0;
}

// A candidate whose first timed run took more than twice the best median so far cannot win on
// noise alone; the search stops timing it (slow engines take most of a search's time).
inline bool worth_timing_further(double first_us, std::optional<double> best_us) {
  return !best_us || first_us <= 2.0 * *best_us;
}

// The candidate with the lowest median among those that ran (on a tie, the earlier one: the
// frontend's come first); none when none ran.
inline std::optional<std::size_t> fastest(const std::vector<cudnn_candidate>& candidates) {
  std::optional<std::size_t> best;
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    if (candidates[c].times_us.empty()) continue;
    if (!best || median_us(candidates[c].times_us) < median_us(candidates[*best].times_us)) best = c;
  }
  return best;
}

// The benchmark label for the winner, e.g. "frontend conv_dgrad eng1_k2=3 (engine 1), 12.5 us,
// workspace 4096 bytes; fastest of 9 (7 frontend plans, 2 legacy algorithms)".
inline std::string describe(const std::vector<cudnn_candidate>& candidates, std::size_t winner) {
  std::size_t frontend = 0, legacy = 0;
  for (const auto& c : candidates) {
    if (c.times_us.empty()) continue;
    ++(c.route == cudnn_route::frontend ? frontend : legacy);
  }
  const auto& w = candidates.at(winner);
  char time[32];
  std::snprintf(time, sizeof time, "%.1f us", median_us(w.times_us));
  return std::string(w.route == cudnn_route::frontend ? "frontend " : "legacy ") + w.name +
         (w.route == cudnn_route::frontend ? " (engine " + std::to_string(w.engine) + ")" : "") + ", " + time +
         ", workspace " + std::to_string(w.workspace_bytes) + " bytes; fastest of " +
         std::to_string(frontend + legacy) + " (" + std::to_string(frontend) + " frontend plans, " +
         std::to_string(legacy) + " legacy algorithms)";
}

}  // namespace trackbench::kernels::dev
