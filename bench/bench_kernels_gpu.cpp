// The kernels suite's GPU backends, registered only where a GPU is usable, each at both
// precisions (kernels/precision.h), named conv/<layer>/<pass>/<backend>/<precision>/<batch>:
//   custom          the project's CUDA kernels (kernels/conv2d.h), default version, called directly
//   custom_v<N>     each other kernel version, for tuning
//   cudnn_libtorch  LibTorch's convolution on CUDA: cuDNN with cudnn.benchmark on, TF32 allowed
//                   exactly when the precision is tf32
//   cudnn           cuDNN through its own C API: every algorithm it offers for the shape timed by
//                   cudnnFind*AlgorithmEx on the benchmark's own tensors, the fastest kept with
//                   the workspace it asks for; math type FMA (no TF32) at fp32, tensor-op math
//                   (TF32 allowed) at tf32. Against cudnn_libtorch it measures LibTorch's overhead.
// The best cuDNN for a row is the faster of cudnn and cudnn_libtorch at the same precision.
// Every backend runs on LibTorch's current stream. Each iteration is timed with CUDA events,
// after the L2 cache was overwritten (outside the timed region), so every pass starts cold
// as it would in a training step, where other layers' tensors went through L2 in between.
#include <ATen/cuda/CUDAEvent.h>
#include <benchmark/benchmark.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "conv_bench.h"
#include "trackbench/kernels/cuda_device.h"

namespace trackbench::bench {
namespace {

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

void check_cudnn(cudnnStatus_t status, const char* what) {
  if (status != CUDNN_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cudnnGetErrorString(status));
}

// FP32 lanes (FMA units) per SM, from the CUDA C++ Programming Guide's arithmetic throughput
// table: 64 on GP100 (6.0), Volta and Turing (7.x) and A100 (8.0), which pair them with FP64
// or INT32 units; 128 on the other Pascal parts (6.1, 6.2), on GA10x, Orin and Ada (8.6, 8.7,
// 8.9), where the INT32 datapath also issues FP32, and on Maxwell, Hopper and Blackwell.
int fp32_lanes_per_sm(int major, int minor) {
  if (major == 6 && minor == 0) return 64;
  if (major == 7) return 64;
  if (major == 8 && minor == 0) return 64;
  return 128;
}

// The GPU's peaks, from its attributes: FP32 = SMs x lanes x 2 (an FMA is two FLOP) x the
// boost clock; DRAM = memory clock x 2 (double data rate) x bus width.
struct gpu_peaks {
  double flops = 0.0;
  double bytes_per_second = 0.0;
  std::int64_t l2_bytes = 0;
};

gpu_peaks describe_gpu(int device) {
  cudaDeviceProp properties{};
  check_cuda(cudaGetDeviceProperties(&properties, device), "cudaGetDeviceProperties");
  auto attribute = [device](cudaDeviceAttr which, const char* what) {
    int value = 0;
    check_cuda(cudaDeviceGetAttribute(&value, which, device), what);
    return value;
  };
  const int sm_count = attribute(cudaDevAttrMultiProcessorCount, "SM count");
  const int clock_khz = attribute(cudaDevAttrClockRate, "clock rate");
  const int memory_clock_khz = attribute(cudaDevAttrMemoryClockRate, "memory clock rate");
  const int bus_bits = attribute(cudaDevAttrGlobalMemoryBusWidth, "memory bus width");
  const int lanes = fp32_lanes_per_sm(properties.major, properties.minor);

  gpu_peaks peaks;
  peaks.flops = static_cast<double>(sm_count) * lanes * 2.0 * clock_khz * 1e3;
  peaks.bytes_per_second = memory_clock_khz * 1e3 * 2.0 * bus_bits / 8.0;
  peaks.l2_bytes = attribute(cudaDevAttrL2CacheSize, "L2 cache size");

  const auto add = [](const char* key, const std::string& value) { benchmark::AddCustomContext(key, value); };
  add("gpu_name", properties.name);
  add("gpu_compute_capability", std::to_string(properties.major) + "." + std::to_string(properties.minor));
  add("gpu_sm_count", std::to_string(sm_count));
  add("gpu_fp32_lanes_per_sm", std::to_string(lanes));
  add("gpu_clock_mhz", std::to_string(clock_khz / 1000));
  add("gpu_memory_clock_mhz", std::to_string(memory_clock_khz / 1000));
  add("gpu_memory_bus_bits", std::to_string(bus_bits));
  add("gpu_l2_bytes", std::to_string(peaks.l2_bytes));
  add("gpu_peak_fp32_flops", std::to_string(peaks.flops));
  add("gpu_peak_dram_bytes_per_second", std::to_string(peaks.bytes_per_second));
  add("cudnn_version", std::to_string(cudnnGetVersion()));
  return peaks;
}

const gpu_peaks& peaks() {
  static const gpu_peaks value = describe_gpu(0);
  return value;
}

cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

// Times `work` (queued on the current stream) with CUDA events, the L2 overwritten before each
// iteration by a memset of twice its size, queued ahead of the start event.
template <typename Work>
void time_on_gpu(benchmark::State& state, Work&& work) {
  const auto flush =
      torch::empty({2 * peaks().l2_bytes}, torch::TensorOptions().dtype(torch::kUInt8).device(torch::kCUDA));
  work();  // warm-up: cuDNN's algorithm search in LibTorch, the caching allocator, lazy kernel loading
  at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
  int fill = 0;
  for (auto _ : state) {
    check_cuda(cudaMemsetAsync(flush.data_ptr(), ++fill & 0xff, flush.numel(), current_stream()), "flushing L2");
    start.record();
    work();
    stop.record();
    stop.synchronize();
    state.SetIterationTime(start.elapsed_time(stop) / 1e3);
  }
}

// Achieved FLOP/s and bytes/s over the GPU's peaks.
void set_peak_fractions(benchmark::State& state, const kernels::conv2d_shape& shape, conv_pass pass) {
  constexpr auto per_iteration = benchmark::Counter::kIsIterationInvariantRate;
  state.counters["fraction_of_peak"] = benchmark::Counter(conv_flops(shape) / peaks().flops, per_iteration);
  state.counters["fraction_of_peak_bytes"] =
      benchmark::Counter(conv_bytes(shape, pass) / peaks().bytes_per_second, per_iteration);
}

void custom_conv(conv_pass pass, const kernels::conv2d_shape& s, const conv_tensors& t, const torch::Tensor& workspace,
                 int version, kernels::precision math) {
  void* stream = current_stream();
  switch (pass) {
    case conv_pass::forward:
      kernels::conv2d_forward_cuda(t.input.data_ptr<float>(), t.weight.data_ptr<float>(), t.bias.data_ptr<float>(),
                                   t.output.data_ptr<float>(), s, false, stream, version, math);
      return;
    case conv_pass::backward_input:
      kernels::conv2d_backward_input_cuda(t.grad_output.data_ptr<float>(), t.weight.data_ptr<float>(),
                                          t.grad_input.data_ptr<float>(), s, stream, version, math);
      return;
    case conv_pass::backward_weight:
      kernels::conv2d_backward_weight_cuda(t.input.data_ptr<float>(), t.grad_output.data_ptr<float>(),
                                           t.grad_weight.data_ptr<float>(), t.grad_bias.data_ptr<float>(),
                                           workspace.data_ptr<float>(), s, stream, version, math);
      return;
  }
}

// cuDNN's convolution API for one layer, batch, pass and precision: the descriptors, the
// fastest algorithm cudnnFind*AlgorithmEx measured (it runs every candidate on these tensors),
// and that algorithm's workspace.
class cudnn_conv {
 public:
  cudnn_conv(const kernels::conv2d_shape& s, conv_pass pass, kernels::precision math, const conv_tensors& t)
      : pass_(pass) {
    check_cudnn(cudnnCreate(&handle_), "cudnnCreate");
    check_cudnn(cudnnSetStream(handle_, current_stream()), "cudnnSetStream");
    check_cudnn(cudnnCreateTensorDescriptor(&input_), "input descriptor");
    check_cudnn(cudnnCreateTensorDescriptor(&output_), "output descriptor");
    check_cudnn(cudnnCreateTensorDescriptor(&bias_), "bias descriptor");
    check_cudnn(cudnnCreateFilterDescriptor(&weight_), "weight descriptor");
    check_cudnn(cudnnCreateConvolutionDescriptor(&conv_), "convolution descriptor");
    const auto dim = [](std::int64_t v) { return static_cast<int>(v); };
    check_cudnn(cudnnSetTensor4dDescriptor(input_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, dim(s.batch),
                                           dim(s.in_channels), dim(s.height), dim(s.width)),
                "input descriptor");
    check_cudnn(cudnnSetTensor4dDescriptor(output_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, dim(s.batch),
                                           dim(s.out_channels), dim(s.out_height()), dim(s.out_width())),
                "output descriptor");
    check_cudnn(cudnnSetTensor4dDescriptor(bias_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, dim(s.out_channels), 1, 1),
                "bias descriptor");
    check_cudnn(cudnnSetFilter4dDescriptor(weight_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, dim(s.out_channels),
                                           dim(s.in_channels), dim(s.kernel_size), dim(s.kernel_size)),
                "weight descriptor");
    const int padding = dim(s.padding);
    check_cudnn(cudnnSetConvolution2dDescriptor(conv_, padding, padding, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                                CUDNN_DATA_FLOAT),
                "convolution descriptor");
    // fp32: FMA only, so the search cannot pick a TF32 tensor-core kernel; tf32: tensor-op
    // math, which lets cuDNN round FP32 inputs to TF32.
    check_cudnn(cudnnSetConvolutionMathType(conv_, math == kernels::precision::tf32 ? CUDNN_TENSOR_OP_MATH
                                                                                    : CUDNN_FMA_MATH),
                "math type");
    find_fastest(t);
    workspace_ = torch::empty({static_cast<std::int64_t>(std::max<std::size_t>(workspace_bytes_, 1))},
                              torch::TensorOptions().dtype(torch::kUInt8).device(torch::kCUDA));
  }

  ~cudnn_conv() {
    cudnnDestroyConvolutionDescriptor(conv_);
    cudnnDestroyFilterDescriptor(weight_);
    cudnnDestroyTensorDescriptor(bias_);
    cudnnDestroyTensorDescriptor(output_);
    cudnnDestroyTensorDescriptor(input_);
    cudnnDestroy(handle_);
  }
  cudnn_conv(const cudnn_conv&) = delete;
  cudnn_conv& operator=(const cudnn_conv&) = delete;

  void run(const conv_tensors& t) const {
    const float one = 1.0f, zero = 0.0f;
    void* workspace = workspace_.data_ptr();
    switch (pass_) {
      case conv_pass::forward:
        check_cudnn(cudnnConvolutionForward(handle_, &one, input_, t.input.data_ptr(), weight_, t.weight.data_ptr(),
                                            conv_, static_cast<cudnnConvolutionFwdAlgo_t>(algorithm_), workspace,
                                            workspace_bytes_, &zero, output_, t.output.data_ptr()),
                    "cudnnConvolutionForward");
        check_cudnn(cudnnAddTensor(handle_, &one, bias_, t.bias.data_ptr(), &one, output_, t.output.data_ptr()),
                    "cudnnAddTensor");
        return;
      case conv_pass::backward_input:
        check_cudnn(cudnnConvolutionBackwardData(handle_, &one, weight_, t.weight.data_ptr(), output_,
                                                 t.grad_output.data_ptr(), conv_,
                                                 static_cast<cudnnConvolutionBwdDataAlgo_t>(algorithm_), workspace,
                                                 workspace_bytes_, &zero, input_, t.grad_input.data_ptr()),
                    "cudnnConvolutionBackwardData");
        return;
      case conv_pass::backward_weight:
        check_cudnn(cudnnConvolutionBackwardFilter(handle_, &one, input_, t.input.data_ptr(), output_,
                                                   t.grad_output.data_ptr(), conv_,
                                                   static_cast<cudnnConvolutionBwdFilterAlgo_t>(algorithm_), workspace,
                                                   workspace_bytes_, &zero, weight_, t.grad_weight.data_ptr()),
                    "cudnnConvolutionBackwardFilter");
        check_cudnn(cudnnConvolutionBackwardBias(handle_, &one, output_, t.grad_output.data_ptr(), &zero, bias_,
                                                 t.grad_bias.data_ptr()),
                    "cudnnConvolutionBackwardBias");
        return;
    }
  }

  // "algorithm 1, workspace 0 bytes", for the benchmark's label.
  std::string describe() const {
    return "algorithm " + std::to_string(algorithm_) + ", workspace " + std::to_string(workspace_bytes_) + " bytes";
  }

 private:
  // The search's results come fastest first; the first that ran successfully wins.
  template <typename Perf>
  void pick(const std::vector<Perf>& results, int returned) {
    for (int i = 0; i < returned; ++i) {
      if (results[i].status != CUDNN_STATUS_SUCCESS) continue;
      algorithm_ = static_cast<int>(results[i].algo);
      workspace_bytes_ = results[i].memory;
      return;
    }
    throw std::runtime_error("cuDNN found no algorithm for the convolution");
  }

  // The search's scratch space: the largest workspace any algorithm asks for, up to a cap that
  // leaves room on any GPU this suite runs on (an algorithm wanting more is skipped by cuDNN).
  template <typename Algo, typename Size>
  torch::Tensor search_workspace(int count, Size size_of) const {
    constexpr std::size_t cap = std::size_t{1} << 30;
    std::size_t largest = 1;
    for (int a = 0; a < count; ++a) {
      std::size_t bytes = 0;
      if (size_of(static_cast<Algo>(a), &bytes) == CUDNN_STATUS_SUCCESS && bytes <= cap) {
        largest = std::max(largest, bytes);
      }
    }
    return torch::empty({static_cast<std::int64_t>(largest)},
                        torch::TensorOptions().dtype(torch::kUInt8).device(torch::kCUDA));
  }

  void find_fastest(const conv_tensors& t) {
    int count = 0, returned = 0;
    switch (pass_) {
      case conv_pass::forward: {
        check_cudnn(cudnnGetConvolutionForwardAlgorithmMaxCount(handle_, &count), "algorithm count");
        const auto scratch = search_workspace<cudnnConvolutionFwdAlgo_t>(count, [&](auto algo, std::size_t* bytes) {
          return cudnnGetConvolutionForwardWorkspaceSize(handle_, input_, weight_, conv_, output_, algo, bytes);
        });
        std::vector<cudnnConvolutionFwdAlgoPerf_t> results(static_cast<std::size_t>(count));
        check_cudnn(cudnnFindConvolutionForwardAlgorithmEx(handle_, input_, t.input.data_ptr(), weight_,
                                                           t.weight.data_ptr(), conv_, output_, t.output.data_ptr(),
                                                           count, &returned, results.data(), scratch.data_ptr(),
                                                           static_cast<std::size_t>(scratch.numel())),
                    "cudnnFindConvolutionForwardAlgorithmEx");
        pick(results, returned);
        return;
      }
      case conv_pass::backward_input: {
        check_cudnn(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle_, &count), "algorithm count");
        const auto scratch =
            search_workspace<cudnnConvolutionBwdDataAlgo_t>(count, [&](auto algo, std::size_t* bytes) {
              return cudnnGetConvolutionBackwardDataWorkspaceSize(handle_, weight_, output_, conv_, input_, algo,
                                                                  bytes);
            });
        std::vector<cudnnConvolutionBwdDataAlgoPerf_t> results(static_cast<std::size_t>(count));
        check_cudnn(cudnnFindConvolutionBackwardDataAlgorithmEx(
                        handle_, weight_, t.weight.data_ptr(), output_, t.grad_output.data_ptr(), conv_, input_,
                        t.grad_input.data_ptr(), count, &returned, results.data(), scratch.data_ptr(),
                        static_cast<std::size_t>(scratch.numel())),
                    "cudnnFindConvolutionBackwardDataAlgorithmEx");
        pick(results, returned);
        return;
      }
      case conv_pass::backward_weight: {
        check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle_, &count), "algorithm count");
        const auto scratch =
            search_workspace<cudnnConvolutionBwdFilterAlgo_t>(count, [&](auto algo, std::size_t* bytes) {
              return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle_, input_, output_, conv_, weight_, algo,
                                                                    bytes);
            });
        std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> results(static_cast<std::size_t>(count));
        check_cudnn(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                        handle_, input_, t.input.data_ptr(), output_, t.grad_output.data_ptr(), conv_, weight_,
                        t.grad_weight.data_ptr(), count, &returned, results.data(), scratch.data_ptr(),
                        static_cast<std::size_t>(scratch.numel())),
                    "cudnnFindConvolutionBackwardFilterAlgorithmEx");
        pick(results, returned);
        return;
      }
    }
  }

  conv_pass pass_;
  cudnnHandle_t handle_ = nullptr;
  cudnnTensorDescriptor_t input_ = nullptr, output_ = nullptr, bias_ = nullptr;
  cudnnFilterDescriptor_t weight_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  int algorithm_ = 0;
  std::size_t workspace_bytes_ = 0;
  torch::Tensor workspace_;
};

enum class gpu_backend { custom, cudnn_libtorch, cudnn };

void gpu_benchmark(benchmark::State& state, const conv_layer& layer, conv_pass pass, gpu_backend backend, int version,
                   kernels::precision math) {
  const auto shape = shape_of(layer, state.range(0));
  const auto t = make_conv_tensors(shape, torch::kCUDA);
  try {
    switch (backend) {
      case gpu_backend::custom: {
        const auto floats = kernels::conv2d_backward_weight_workspace_floats(shape, version, math);
        const auto workspace = torch::empty({std::max<std::int64_t>(1, floats)}, t.input.options());
        time_on_gpu(state, [&] { custom_conv(pass, shape, t, workspace, version, math); });
        break;
      }
      case gpu_backend::cudnn_libtorch:
        at::globalContext().setBenchmarkCuDNN(true);
        at::globalContext().setAllowTF32CuDNN(math == kernels::precision::tf32);
        time_on_gpu(state, [&] { libtorch_conv(pass, t); });
        break;
      case gpu_backend::cudnn: {
        const cudnn_conv conv(shape, pass, math, t);
        state.SetLabel(conv.describe());
        time_on_gpu(state, [&] { conv.run(t); });
        break;
      }
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  set_conv_counters(state, shape, pass);
  set_peak_fractions(state, shape, pass);
}

}  // namespace

void register_gpu_conv_benchmarks() {
  if (!kernels::probe_cuda().usable || !torch::cuda::is_available()) return;
  peaks();  // puts the device into the context now, before any benchmark runs
  const auto add = [](const conv_layer& layer, conv_pass pass, const std::string& backend_name, gpu_backend backend,
                      int version, kernels::precision math) {
    const auto run = [&layer, pass, backend, version, math](benchmark::State& state) {
      gpu_benchmark(state, layer, pass, backend, version, math);
    };
    const auto name = conv_benchmark_name(layer, pass, backend_name + "/" + kernels::to_string(math));
    auto* family = benchmark::RegisterBenchmark(name.c_str(), run);
    for (const auto batch : conv_batches) family->Arg(batch);
    family->UseManualTime()->Unit(benchmark::kMicrosecond);
  };
  for (const auto& layer : conv_layers) {
    for (const auto pass : conv_passes) {
      for (const auto math : {kernels::precision::fp32, kernels::precision::tf32}) {
        add(layer, pass, "custom", gpu_backend::custom, kernels::conv2d_default_version, math);
        for (int v = 1; v <= kernels::conv2d_version_count; ++v) {
          if (v == kernels::conv2d_default_version) continue;
          add(layer, pass, "custom_v" + std::to_string(v), gpu_backend::custom, v, math);
        }
        add(layer, pass, "cudnn_libtorch", gpu_backend::cudnn_libtorch, 0, math);
        add(layer, pass, "cudnn", gpu_backend::cudnn, 0, math);
      }
    }
  }
}

}  // namespace trackbench::bench
