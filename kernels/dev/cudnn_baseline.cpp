// The direct cuDNN baseline's search and run (cudnn_baseline.h says what it searches and why it
// lives here). The only file of the project that includes the cuDNN frontend.
#include "cudnn_baseline.h"

#include <cudnn.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <unordered_map>

// The frontend's JSON (de)serialisation of graphs is not used; without it nlohmann/json (its own
// copy, another version than Debian's the project links elsewhere) stays out of the program.
#define CUDNN_FRONTEND_SKIP_JSON_LIB
// The frontend's one NVRTC-compiled engine (RMSNorm+SiLU for sm_100, registered only for
// HeurMode_t::OPENSOURCE, which this search never asks for) is all that calls NVRTC. Weak
// references let the program link without libnvrtc (100 MB, which the staged GPU check would
// have to carry) instead of pulling it in for code that cannot run here.
#include <nvrtc.h>
#pragma weak nvrtcCreateProgram
#pragma weak nvrtcCompileProgram
#pragma weak nvrtcGetProgramLogSize
#pragma weak nvrtcGetProgramLog
#pragma weak nvrtcGetCUBINSize
#pragma weak nvrtcGetCUBIN
#pragma weak nvrtcDestroyProgram
#include <cudnn_frontend.h>

namespace trackbench::kernels::dev {
namespace {

namespace fe = cudnn_frontend;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

void check(cudnnStatus_t status, const char* what) {
  if (status != CUDNN_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cudnnGetErrorString(status));
}

// The first line of a frontend error (the rest lists every plan).
std::string first_line(const std::string& message) { return message.substr(0, message.find('\n')); }

void check(fe::error_t status, const char* what) {
  if (status.is_bad()) throw std::runtime_error(std::string(what) + ": " + first_line(status.get_message()));
}

// Larger workspaces are left out of the search, leaving room on any GPU the suite runs on.
constexpr std::int64_t max_workspace_bytes = std::int64_t{1} << 30;
constexpr int timed_runs = 5;

// The frontend's names for the tensors in a variant pack.
enum tensor_uid : std::int64_t { uid_input = 1, uid_weight, uid_bias, uid_output, uid_grad_output, uid_grad_input,
                                 uid_grad_weight };

std::vector<std::int64_t> packed_strides(const std::vector<std::int64_t>& dims) {
  std::vector<std::int64_t> strides(dims.size(), 1);
  for (std::size_t d = dims.size() - 1; d > 0; --d) strides[d - 1] = strides[d] * dims[d];
  return strides;
}

fe::NumericalNote_t to_frontend(cudnn_note note) {
  return note == cudnn_note::tensor_core ? fe::NumericalNote_t::TENSOR_CORE
                                         : fe::NumericalNote_t::DOWN_CONVERT_INPUTS;
}

fe::BehaviorNote_t to_frontend(cudnn_behavior behavior) {
  switch (behavior) {
    case cudnn_behavior::runtime_compilation: return fe::BehaviorNote_t::RUNTIME_COMPILATION;
  }
  return fe::BehaviorNote_t::NOT_SET;
}

// A cuDNN graph of the pass: the convolution node, and for forward optionally the bias add.
struct graph_spec {
  const char* name;
  bool fused_bias;
};

std::vector<graph_spec> graph_specs(conv_pass pass) {
  switch (pass) {
    case conv_pass::forward: return {{"conv_fprop+add", true}, {"conv_fprop", false}};
    case conv_pass::backward_input: return {{"conv_dgrad", false}};
    case conv_pass::backward_weight: return {{"conv_wgrad", false}};
  }
  return {};
}

std::shared_ptr<fe::graph::Graph> make_graph(conv_pass pass, const graph_spec& spec, const conv2d_shape& s) {
  auto graph = std::make_shared<fe::graph::Graph>();
  graph->set_io_data_type(fe::DataType_t::FLOAT)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  const std::vector<std::int64_t> x{s.batch, s.in_channels, s.height, s.width};
  const std::vector<std::int64_t> w{s.out_channels, s.in_channels, s.kernel_size, s.kernel_size};
  const std::vector<std::int64_t> y{s.batch, s.out_channels, s.out_height(), s.out_width()};
  const std::vector<std::int64_t> b{1, s.out_channels, 1, 1};
  const auto tensor = [&](tensor_uid uid, const char* name, const std::vector<std::int64_t>& dims) {
    return graph->tensor(
        fe::graph::Tensor_attributes().set_name(name).set_uid(uid).set_dim(dims).set_stride(packed_strides(dims)));
  };
  const auto as_output = [](const std::shared_ptr<fe::graph::Tensor_attributes>& t, tensor_uid uid,
                            const std::vector<std::int64_t>& dims) {
    t->set_output(true).set_uid(uid).set_dim(dims).set_stride(packed_strides(dims));
  };
  const std::vector<std::int64_t> padding{s.padding, s.padding}, ones{1, 1};
  switch (pass) {
    case conv_pass::forward: {
      auto out = graph->conv_fprop(
          tensor(uid_input, "input", x), tensor(uid_weight, "weight", w),
          fe::graph::Conv_fprop_attributes().set_padding(padding).set_stride(ones).set_dilation(ones));
      if (spec.fused_bias) {
        out = graph->pointwise(out, tensor(uid_bias, "bias", b),
                               fe::graph::Pointwise_attributes().set_mode(fe::PointwiseMode_t::ADD));
      }
      as_output(out, uid_output, y);
      break;
    }
    case conv_pass::backward_input:
      as_output(graph->conv_dgrad(tensor(uid_grad_output, "grad_output", y), tensor(uid_weight, "weight", w),
                                  fe::graph::Conv_dgrad_attributes().set_padding(padding).set_stride(ones).set_dilation(
                                      ones)),
                uid_grad_input, x);
      break;
    case conv_pass::backward_weight:
      as_output(graph->conv_wgrad(tensor(uid_grad_output, "grad_output", y), tensor(uid_input, "input", x),
                                  fe::graph::Conv_wgrad_attributes().set_padding(padding).set_stride(ones).set_dilation(
                                      ones)),
                uid_grad_weight, w);
      break;
  }
  return graph;
}

// Device memory freed on scope exit.
struct device_memory {
  void* data = nullptr;
  explicit device_memory(std::size_t bytes) { check(cudaMalloc(&data, std::max<std::size_t>(bytes, 1)), "cudaMalloc"); }
  ~device_memory() { cudaFree(data); }
  device_memory(const device_memory&) = delete;
  device_memory& operator=(const device_memory&) = delete;
};

}  // namespace

const char* to_string(conv_pass pass) {
  switch (pass) {
    case conv_pass::forward: return "forward";
    case conv_pass::backward_input: return "backward_input";
    case conv_pass::backward_weight: return "backward_weight";
  }
  return "?";
}

struct cudnn_baseline::state {
  conv_pass pass;
  conv_buffers buffers;
  cudaStream_t stream;
  cudnnHandle_t handle = nullptr;
  // The legacy API's descriptors: its algorithms, and the bias steps of both routes.
  cudnnTensorDescriptor_t input = nullptr, output = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t weight = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  std::vector<cudnn_candidate> candidates;
  // Beside each candidate: the call that queues it with a workspace (it holds its graph).
  std::vector<std::function<void(void* workspace, std::size_t bytes)>> runners;
  std::vector<std::string> skipped;  // why a graph or route found nothing
  std::size_t winner = 0;
  void* workspace = nullptr;

  state(conv_pass p, const conv_buffers& b, cudaStream_t s) : pass(p), buffers(b), stream(s) {}
  ~state() {
    runners.clear();  // the frontend's plans before the handle they were built with
    cudaFree(workspace);
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(weight);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyTensorDescriptor(output);
    cudnnDestroyTensorDescriptor(input);
    cudnnDestroy(handle);
  }

  void describe_legacy(const conv2d_shape& s, precision math) {
    check(cudnnCreateTensorDescriptor(&input), "cudnnCreateTensorDescriptor");
    check(cudnnCreateTensorDescriptor(&output), "cudnnCreateTensorDescriptor");
    check(cudnnCreateTensorDescriptor(&bias), "cudnnCreateTensorDescriptor");
    check(cudnnCreateFilterDescriptor(&weight), "cudnnCreateFilterDescriptor");
    check(cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor");
    const auto i = [](std::int64_t v) { return static_cast<int>(v); };
    check(cudnnSetTensor4dDescriptor(input, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(s.batch), i(s.in_channels),
                                     i(s.height), i(s.width)),
          "input descriptor");
    check(cudnnSetTensor4dDescriptor(output, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(s.batch), i(s.out_channels),
                                     i(s.out_height()), i(s.out_width())),
          "output descriptor");
    check(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, i(s.out_channels), 1, 1),
          "bias descriptor");
    check(cudnnSetFilter4dDescriptor(weight, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, i(s.out_channels),
                                     i(s.in_channels), i(s.kernel_size), i(s.kernel_size)),
          "weight descriptor");
    check(cudnnSetConvolution2dDescriptor(conv, i(s.padding), i(s.padding), 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                          CUDNN_DATA_FLOAT),
          "convolution descriptor");
    // fp32: FMA only, so no TF32 tensor-core algorithm; tf32: tensor-op math, TF32 allowed.
    check(cudnnSetConvolutionMathType(conv, math == precision::tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
          "math type");
  }

  // The bias step after a convolution that did not include it.
  void add_bias() const {
    const float one = 1.0f, zero = 0.0f;
    if (pass == conv_pass::forward) {
      check(cudnnAddTensor(handle, &one, bias, buffers.bias, &one, output, buffers.output), "cudnnAddTensor");
    } else if (pass == conv_pass::backward_weight) {
      check(cudnnConvolutionBackwardBias(handle, &one, output, buffers.grad_output, &zero, bias, buffers.grad_bias),
            "cudnnConvolutionBackwardBias");
    }
  }

  std::unordered_map<std::int64_t, void*> variant_pack() const {
    switch (pass) {
      case conv_pass::forward:
        return {{uid_input, buffers.input}, {uid_weight, buffers.weight}, {uid_bias, buffers.bias},
                {uid_output, buffers.output}};
      case conv_pass::backward_input:
        return {{uid_grad_output, buffers.grad_output}, {uid_weight, buffers.weight},
                {uid_grad_input, buffers.grad_input}};
      case conv_pass::backward_weight:
        return {{uid_grad_output, buffers.grad_output}, {uid_input, buffers.input},
                {uid_grad_weight, buffers.grad_weight}};
    }
    return {};
  }

  // Every plan the frontend builds for each graph of the pass, once per engine config.
  void add_frontend_candidates(const conv2d_shape& shape, precision math) {
    std::vector<fe::NumericalNote_t> excluded;
    for (const auto note : excluded_notes(math)) excluded.push_back(to_frontend(note));
    std::vector<fe::BehaviorNote_t> excluded_behavior;
    for (const auto behavior : excluded_behaviors()) excluded_behavior.push_back(to_frontend(behavior));
    std::set<std::string> seen;
    for (const auto& spec : graph_specs(pass)) {
      try {
        const auto graph = make_graph(pass, spec, shape);
        check(graph->validate(), "validate");
        check(graph->build_operation_graph(handle), "build_operation_graph");
        check(graph->create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::B, fe::HeurMode_t::FALLBACK}),
              "create_execution_plans");
        graph->deselect_numeric_notes(excluded);
        graph->deselect_behavior_notes(excluded_behavior);
        graph->deselect_workspace_greater_than(max_workspace_bytes);
        check(graph->check_support(), "check_support");
        check(graph->build_plans(fe::BuildPlanPolicy_t::ALL), "build_plans");
        // The pack without the bias when the graph leaves it out (it names only its own tensors).
        auto pack = variant_pack();
        if (pass == conv_pass::forward && !spec.fused_bias) pack.erase(uid_bias);
        const bool bias_after = !spec.fused_bias;
        for (std::int64_t plan = 0; plan < graph->get_execution_plan_count(); ++plan) {
          std::int64_t bytes = 0, engine = -1;
          std::string tag;
          std::unordered_map<fe::KnobType_t, std::int64_t> knobs;
          // Plans that were deselected or failed to build have no workspace size.
          if (graph->get_workspace_size_plan_at_index(plan, bytes).is_bad()) continue;
          if (graph->get_plan_name_at_index(plan, tag).is_bad()) continue;
          if (graph->get_engine_and_knobs_at_index(plan, engine, knobs).is_bad()) continue;
          // The heuristics modes overlap: each engine config once.
          if (!seen.insert(std::string(spec.name) + " " + tag).second) continue;
          candidates.push_back({cudnn_route::frontend, std::string(spec.name) + " " + tag, engine, bytes, {}});
          runners.push_back([this, graph, plan, pack, bias_after](void* workspace, std::size_t) mutable {
            check(graph->execute_plan_at_index(handle, pack, workspace, plan), "execute_plan_at_index");
            if (bias_after) add_bias();
          });
        }
      } catch (const std::exception& e) {
        skipped.push_back(std::string("frontend ") + spec.name + ": " + e.what());
      }
    }
  }

  // The workspace each legacy algorithm asks for, as cudnnGet*WorkspaceSize answers.
  std::size_t legacy_workspace(int algorithm) const {
    std::size_t bytes = 0;
    cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
    switch (pass) {
      case conv_pass::forward:
        status = cudnnGetConvolutionForwardWorkspaceSize(handle, input, weight, conv, output,
                                                         static_cast<cudnnConvolutionFwdAlgo_t>(algorithm), &bytes);
        break;
      case conv_pass::backward_input:
        status = cudnnGetConvolutionBackwardDataWorkspaceSize(
            handle, weight, output, conv, input, static_cast<cudnnConvolutionBwdDataAlgo_t>(algorithm), &bytes);
        break;
      case conv_pass::backward_weight:
        status = cudnnGetConvolutionBackwardFilterWorkspaceSize(
            handle, input, output, conv, weight, static_cast<cudnnConvolutionBwdFilterAlgo_t>(algorithm), &bytes);
        break;
    }
    return status == CUDNN_STATUS_SUCCESS ? bytes : 0;
  }

  void run_legacy(int algorithm, void* workspace, std::size_t bytes) const {
    const float one = 1.0f, zero = 0.0f;
    switch (pass) {
      case conv_pass::forward:
        check(cudnnConvolutionForward(handle, &one, input, buffers.input, weight, buffers.weight, conv,
                                      static_cast<cudnnConvolutionFwdAlgo_t>(algorithm), workspace, bytes, &zero,
                                      output, buffers.output),
              "cudnnConvolutionForward");
        break;
      case conv_pass::backward_input:
        check(cudnnConvolutionBackwardData(handle, &one, weight, buffers.weight, output, buffers.grad_output, conv,
                                           static_cast<cudnnConvolutionBwdDataAlgo_t>(algorithm), workspace, bytes,
                                           &zero, input, buffers.grad_input),
              "cudnnConvolutionBackwardData");
        break;
      case conv_pass::backward_weight:
        check(cudnnConvolutionBackwardFilter(handle, &one, input, buffers.input, output, buffers.grad_output, conv,
                                             static_cast<cudnnConvolutionBwdFilterAlgo_t>(algorithm), workspace,
                                             bytes, &zero, weight, buffers.grad_weight),
              "cudnnConvolutionBackwardFilter");
        break;
    }
    add_bias();
  }

  // Every algorithm cudnnFind*AlgorithmEx ran successfully on the buffers, with `scratch` (the
  // largest workspace any algorithm asks for, up to the cap) as its search space.
  void add_legacy_candidates(void* scratch, std::size_t scratch_bytes) {
    int count = 0, returned = 0;
    std::vector<std::pair<int, std::size_t>> found;  // algorithm, workspace
    const auto keep = [&](const auto& results) {
      for (int r = 0; r < returned; ++r) {
        if (results[r].status != CUDNN_STATUS_SUCCESS) continue;
        found.emplace_back(static_cast<int>(results[r].algo), results[r].memory);
      }
    };
    switch (pass) {
      case conv_pass::forward: {
        check(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &count), "algorithm count");
        std::vector<cudnnConvolutionFwdAlgoPerf_t> results(static_cast<std::size_t>(count));
        check(cudnnFindConvolutionForwardAlgorithmEx(handle, input, buffers.input, weight, buffers.weight, conv, output,
                                                     buffers.output, count, &returned, results.data(), scratch,
                                                     scratch_bytes),
              "cudnnFindConvolutionForwardAlgorithmEx");
        keep(results);
        break;
      }
      case conv_pass::backward_input: {
        check(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &count), "algorithm count");
        std::vector<cudnnConvolutionBwdDataAlgoPerf_t> results(static_cast<std::size_t>(count));
        check(cudnnFindConvolutionBackwardDataAlgorithmEx(handle, weight, buffers.weight, output, buffers.grad_output,
                                                          conv, input, buffers.grad_input, count, &returned,
                                                          results.data(), scratch, scratch_bytes),
              "cudnnFindConvolutionBackwardDataAlgorithmEx");
        keep(results);
        break;
      }
      case conv_pass::backward_weight: {
        check(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &count), "algorithm count");
        std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> results(static_cast<std::size_t>(count));
        check(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle, input, buffers.input, output, buffers.grad_output,
                                                            conv, weight, buffers.grad_weight, count, &returned,
                                                            results.data(), scratch, scratch_bytes),
              "cudnnFindConvolutionBackwardFilterAlgorithmEx");
        keep(results);
        break;
      }
    }
    if (found.empty()) skipped.push_back("legacy: cudnnFind ran no algorithm successfully");
    for (const auto& [algorithm, bytes] : found) {
      candidates.push_back({cudnn_route::legacy, "algorithm " + std::to_string(algorithm), algorithm,
                            static_cast<std::int64_t>(bytes), {}});
      runners.push_back([this, algorithm = algorithm](void* workspace, std::size_t size) {
        run_legacy(algorithm, workspace, size);
      });
    }
  }

  // Times every candidate with `workspace`, each run after overwriting the L2 cache.
  void time_candidates(void* workspace, std::size_t workspace_bytes) {
    int device = 0, l2 = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device), "L2 size");
    const std::size_t flush_bytes = 2 * static_cast<std::size_t>(std::max(l2, 1 << 20));
    device_memory flush(flush_bytes);
    cudaEvent_t start{}, stop{};
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    std::optional<double> best;
    int fill = 0;
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      auto& times = candidates[c].times_us;
      try {
        runners[c](workspace, workspace_bytes);  // warm-up, and whether it runs at all
        check(cudaStreamSynchronize(stream), "warm-up");
        for (int r = 0; r < timed_runs; ++r) {
          check(cudaMemsetAsync(flush.data, ++fill & 0xff, flush_bytes, stream), "flushing L2");
          check(cudaEventRecord(start, stream), "cudaEventRecord");
          runners[c](workspace, workspace_bytes);
          check(cudaEventRecord(stop, stream), "cudaEventRecord");
          check(cudaEventSynchronize(stop), "cudaEventSynchronize");
          float ms = 0.0f;
          check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
          times.push_back(ms * 1e3);
          if (r == 0 && !worth_timing_further(times.front(), best)) break;
        }
        const double median = median_us(times);
        if (!best || median < *best) best = median;
      } catch (const std::exception&) {
        // A candidate that fails to run is no candidate; a sticky CUDA error would fail the rest.
        times.clear();
        cudaGetLastError();
      }
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
};

cudnn_baseline::cudnn_baseline(conv_pass pass, const conv2d_shape& shape, precision math,
                               const conv_buffers& buffers, cudaStream_t stream)
    : state_(std::make_unique<state>(pass, buffers, stream)) {
  auto& s = *state_;
  check(cudnnCreate(&s.handle), "cudnnCreate");
  check(cudnnSetStream(s.handle, stream), "cudnnSetStream");
  s.describe_legacy(shape, math);
  s.add_frontend_candidates(shape, math);

  // One scratch space serves cudnnFind and the timing of every candidate.
  int algorithms = 0;
  switch (pass) {
    case conv_pass::forward: check(cudnnGetConvolutionForwardAlgorithmMaxCount(s.handle, &algorithms), "count"); break;
    case conv_pass::backward_input:
      check(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(s.handle, &algorithms), "count");
      break;
    case conv_pass::backward_weight:
      check(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(s.handle, &algorithms), "count");
      break;
  }
  std::size_t scratch_bytes = 1;
  for (int a = 0; a < algorithms; ++a) {
    const std::size_t bytes = s.legacy_workspace(a);
    if (bytes <= static_cast<std::size_t>(max_workspace_bytes)) scratch_bytes = std::max(scratch_bytes, bytes);
  }
  for (const auto& c : s.candidates) {
    scratch_bytes = std::max(scratch_bytes, static_cast<std::size_t>(c.workspace_bytes));
  }
  {
    device_memory scratch(scratch_bytes);
    try {
      s.add_legacy_candidates(scratch.data, scratch_bytes);
    } catch (const std::exception& e) {
      s.skipped.push_back(std::string("legacy: ") + e.what());
    }
    s.time_candidates(scratch.data, scratch_bytes);
  }

  const auto winner = fastest(s.candidates);
  if (!winner) {
    std::string reasons;
    for (const auto& reason : s.skipped) reasons += "; " + reason;
    throw std::runtime_error(std::string("cuDNN ran no engine or algorithm for the ") + to_string(pass) + " pass of " +
                             kernels::describe(shape) + " at " + kernels::to_string(math) + " (" +
                             std::to_string(s.candidates.size()) + " candidates failed to run" + reasons + ")");
  }
  s.winner = *winner;
  const auto winner_bytes = static_cast<std::size_t>(s.candidates[s.winner].workspace_bytes);
  check(cudaMalloc(&s.workspace, std::max<std::size_t>(winner_bytes, 1)), "cudaMalloc workspace");
}

cudnn_baseline::~cudnn_baseline() = default;

void cudnn_baseline::run() const {
  state_->runners[state_->winner](state_->workspace,
                                  static_cast<std::size_t>(state_->candidates[state_->winner].workspace_bytes));
}

const cudnn_candidate& cudnn_baseline::winner() const { return state_->candidates[state_->winner]; }

std::string cudnn_baseline::describe() const { return dev::describe(state_->candidates, state_->winner); }

}  // namespace trackbench::kernels::dev
