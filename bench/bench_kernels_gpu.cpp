// The kernels suite's GPU backends, registered only where a GPU is usable, each at both
// precisions (kernels/precision.h), named conv/<layer>/<pass>/<backend>/<precision>/<batch>:
//   custom          the project's CUDA kernels (kernels/conv2d.h), default version, called directly
//   custom_v<N>     each other kernel version, for tuning
//   cudnn_libtorch  LibTorch's convolution on CUDA: cuDNN with cudnn.benchmark on, TF32 allowed
//                   exactly when the precision is tf32
//   cudnn           cuDNN called directly (kernels/dev/cudnn_baseline.h, shared with the tuning
//                   harness): every engine the cuDNN frontend's heuristics (modes A, B, FALLBACK)
//                   offer for the pass's graph and every algorithm of the legacy API's
//                   cudnnFind*AlgorithmEx, each timed on the benchmark's own tensors, the fastest
//                   kept with its workspace; at fp32 no tensor-core (TF32) engine and FMA math, at
//                   tf32 TF32 allowed. The label names the winner (route, engine or algorithm,
//                   workspace, how many were timed), the counters cudnn_frontend (1 when a frontend
//                   plan won, 0 for a legacy algorithm) and cudnn_engine (its engine id or
//                   algorithm number). Against cudnn_libtorch it measures LibTorch's overhead.
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

#include "conv_bench.h"
#include "cudnn_baseline.h"
#include "trackbench/kernels/cuda_device.h"

namespace trackbench::bench {
namespace {

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
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

// The direct cuDNN baseline's name for a pass.
kernels::dev::conv_pass dev_pass(conv_pass pass) {
  switch (pass) {
    case conv_pass::forward: return kernels::dev::conv_pass::forward;
    case conv_pass::backward_input: return kernels::dev::conv_pass::backward_input;
    case conv_pass::backward_weight: return kernels::dev::conv_pass::backward_weight;
  }
  throw std::invalid_argument("unknown conv pass");
}

kernels::dev::conv_buffers buffers_of(const conv_tensors& t) {
  kernels::dev::conv_buffers b;
  b.input = t.input.data_ptr<float>();
  b.weight = t.weight.data_ptr<float>();
  b.bias = t.bias.data_ptr<float>();
  b.output = t.output.data_ptr<float>();
  b.grad_output = t.grad_output.data_ptr<float>();
  b.grad_input = t.grad_input.data_ptr<float>();
  b.grad_weight = t.grad_weight.data_ptr<float>();
  b.grad_bias = t.grad_bias.data_ptr<float>();
  return b;
}

enum class gpu_backend { custom, cudnn_libtorch, cudnn };

// The direct baseline searches every engine when it is built, which takes a while for some
// shapes, and Google Benchmark calls a row's function several times (to size its iterations,
// then once per repetition): the row last built keeps its tensors and search for its next call.
// Held until exit and never destroyed, so no CUDA or cuDNN call runs while the process tears
// the runtime down.
struct cudnn_row {
  std::string key;
  conv_tensors tensors;
  std::unique_ptr<kernels::dev::cudnn_baseline> baseline;
};

const kernels::dev::cudnn_baseline& cudnn_row_baseline(const conv_layer& layer, const kernels::conv2d_shape& shape,
                                                       conv_pass pass, kernels::precision math) {
  static auto* row = new cudnn_row;
  const auto row_name = conv_benchmark_name(layer, pass, "cudnn", math) + "/" + std::to_string(shape.batch);
  if (row->key != row_name) {
    *row = cudnn_row{};  // the previous row's memory goes before this one's is taken
    row->tensors = make_conv_tensors(shape, torch::kCUDA);
    row->baseline = std::make_unique<kernels::dev::cudnn_baseline>(dev_pass(pass), shape, math,
                                                                   buffers_of(row->tensors), current_stream());
    row->key = row_name;
  }
  return *row->baseline;
}

void gpu_benchmark(benchmark::State& state, const conv_layer& layer, conv_pass pass, gpu_backend backend, int version,
                   kernels::precision math) {
  const auto shape = shape_of(layer, state.range(0));
  try {
    switch (backend) {
      case gpu_backend::custom: {
        const auto t = make_conv_tensors(shape, torch::kCUDA);
        const auto floats = kernels::conv2d_backward_weight_workspace_floats(shape, version, math);
        const auto workspace = torch::empty({std::max<std::int64_t>(1, floats)}, t.input.options());
        time_on_gpu(state, [&] { custom_conv(pass, shape, t, workspace, version, math); });
        break;
      }
      case gpu_backend::cudnn_libtorch: {
        const auto t = make_conv_tensors(shape, torch::kCUDA);
        at::globalContext().setBenchmarkCuDNN(true);
        at::globalContext().setAllowTF32CuDNN(math == kernels::precision::tf32);
        time_on_gpu(state, [&] { libtorch_conv(pass, t); });
        break;
      }
      case gpu_backend::cudnn: {
        const auto& conv = cudnn_row_baseline(layer, shape, pass, math);
        state.SetLabel(conv.describe());
        // Which route and engine won, for tables that compare rows: 1 frontend, 0 legacy.
        state.counters["cudnn_frontend"] = conv.winner().route == kernels::dev::cudnn_route::frontend ? 1.0 : 0.0;
        state.counters["cudnn_engine"] = static_cast<double>(conv.winner().engine);
        time_on_gpu(state, [&] { conv.run(); });
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
    const auto name = conv_benchmark_name(layer, pass, backend_name, math);
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
