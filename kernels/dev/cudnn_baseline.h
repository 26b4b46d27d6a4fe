#pragma once
// The direct cuDNN baseline the custom conv kernels are measured against, one copy for both of
// its users: the kernels benchmark suite (bench/bench_kernels_gpu.cpp, the `cudnn` rows) and the
// tuning harness (harness.cuh). It lives here, beside the harness, because the harness builds
// with nvcc alone (no CMake, no LibTorch) and must not reach up into bench/, while bench/, a
// layer above kernels/, may include from here. Plain C++ over cudnn.h, cuda_runtime.h and the
// cuDNN frontend's headers (cudnn_baseline.cpp, the only file that includes them): CMake compiles
// it with the host compiler, kernels/dev/run.sh with nvcc as host code.
//
// For one pass, shape and precision it searches every way cuDNN offers and keeps the fastest:
//   frontend: cuDNN graphs through the frontend's v1 graph API (header-only, PyPI
//     nvidia-cudnn-frontend): forward as conv_fprop with the bias add fused into the graph, and
//     as conv_fprop followed by cudnnAddTensor; grad-input as conv_dgrad; grad-weight as
//     conv_wgrad followed by cudnnConvolutionBackwardBias. Engine configs from heuristics modes
//     A, B and FALLBACK, the engines of excluded_notes(precision) and excluded_behaviors() left
//     out (cudnn_search.h: no runtime-compiled engines),
//     every remaining config built into a plan;
//   legacy: every algorithm cudnnFind*AlgorithmEx runs successfully, math type CUDNN_FMA_MATH
//     at fp32, CUDNN_TENSOR_OP_MATH at tf32; the bias as in the frontend route.
// Each candidate (workspace up to 1 GiB) is timed on the caller's own tensors and stream with
// CUDA events, the L2 cache overwritten before each run, one warm-up and up to five timed runs;
// the lowest median wins (cudnn_search.h) and keeps its workspace. The legacy route is always
// timed too, so the result is never slower than the legacy search alone.
#include <cuda_runtime.h>

#include <memory>
#include <string>

#include "cudnn_search.h"
#include "trackbench/kernels/conv2d.h"
#include "trackbench/kernels/precision.h"

namespace trackbench::kernels::dev {

enum class conv_pass { forward, backward_input, backward_weight };
const char* to_string(conv_pass pass);

// Device buffers of one layer at one batch, NCHW float32. A pass reads and writes its own:
// forward input, weight, bias -> output; backward_input grad_output, weight -> grad_input;
// backward_weight input, grad_output -> grad_weight, grad_bias. The search writes the outputs.
struct conv_buffers {
  float* input = nullptr;
  float* weight = nullptr;
  float* bias = nullptr;
  float* output = nullptr;
  float* grad_output = nullptr;
  float* grad_input = nullptr;
  float* grad_weight = nullptr;
  float* grad_bias = nullptr;
};

class cudnn_baseline {
 public:
  // Searches now, on `stream` (every candidate runs up to six times). Throws std::runtime_error,
  // with each route's reason, when no candidate runs the pass.
  cudnn_baseline(conv_pass pass, const conv2d_shape& shape, precision math, const conv_buffers& buffers,
                 cudaStream_t stream);
  ~cudnn_baseline();
  cudnn_baseline(const cudnn_baseline&) = delete;
  cudnn_baseline& operator=(const cudnn_baseline&) = delete;

  // Queues the pass with the winner on the stream (results as the custom pass's: forward adds
  // the bias, grad-weight also computes grad-bias). Throws std::runtime_error on a cuDNN error.
  void run() const;

  const cudnn_candidate& winner() const;
  std::string describe() const;  // dev::describe() of the winner, over every candidate tried

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace trackbench::kernels::dev
