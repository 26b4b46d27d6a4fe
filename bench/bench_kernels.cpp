// The digit CNN's convolutions, pass by pass, for every backend this machine has:
//   conv/<layer>/<pass>/<backend>/<precision>/<batch>/manual_time
//   layer: conv1 (1->32, 28x28), conv2 (32->64, 26x26); 3x3, stride 1, no padding
//   pass: forward, backward_input, backward_weight (conv_bench.h says what each computes)
//   precision: fp32 on the CPU (IEEE single precision, the only one it has); fp32 and tf32 on the GPU
//     (kernels/precision.h)
//   batch: 1, 128, 1024
//   backend, CPU: reference (the plain loops of kernels/conv2d.h, one thread, called directly),
//     libtorch_cpu (at::convolution and at::convolution_backward: oneDNN, on LibTorch's threads)
//   backend, GPU only (bench_kernels_gpu.cpp): custom, custom_v<N>, cudnn_libtorch, cudnn
// Counters: FLOP/s and bytes/s (conv_bench.h has the model), and on the GPU fraction_of_peak
// and fraction_of_peak_bytes. Time is the wall clock per iteration (CUDA events on the GPU).
//
// The references are plain loops: at batch 1024 one conv2 pass took 3 to 7 s on the 2-core CI
// machine (AMD EPYC, shared with other builds), so those run one iteration per repetition
// (their names end in /fp32/1024/iterations:1/manual_time). With --benchmark_repetitions=3 and
// --benchmark_min_time=0.05 the CPU suite took 4 min 40 s there, a minute of it the references
// at batch 1024; bench/README.md has the figures.
#include <benchmark/benchmark.h>

#include <array>
#include <cmath>

#include "bench_support.h"
#include "conv_bench.h"

namespace trackbench::bench {

const char* to_string(conv_pass pass) {
  switch (pass) {
    case conv_pass::forward:
      return "forward";
    case conv_pass::backward_input:
      return "backward_input";
    case conv_pass::backward_weight:
      break;
  }
  return "backward_weight";
}

kernels::conv2d_shape shape_of(const conv_layer& layer, std::int64_t batch) {
  return {batch, layer.in_channels, layer.out_channels, layer.size, layer.size, 3, 0};
}

std::string conv_benchmark_name(const conv_layer& layer, conv_pass pass, const std::string& backend,
                                kernels::precision math) {
  return std::string("conv/") + layer.name + "/" + to_string(pass) + "/" + backend + "/" + kernels::to_string(math);
}

double conv_flops(const kernels::conv2d_shape& s) {
  return 2.0 * static_cast<double>(s.batch * s.out_channels * s.out_height() * s.out_width() * s.in_channels *
                                   s.kernel_size * s.kernel_size);
}

double conv_bytes(const kernels::conv2d_shape& s, conv_pass pass) {
  const auto input = s.batch * s.in_channels * s.height * s.width;
  const auto output = s.batch * s.out_channels * s.out_height() * s.out_width();
  const auto weight = s.out_channels * s.in_channels * s.kernel_size * s.kernel_size;
  const auto bias = s.out_channels;
  std::int64_t elements = 0;
  switch (pass) {
    case conv_pass::forward:
      elements = input + weight + bias + output;
      break;
    case conv_pass::backward_input:
      elements = output + weight + input;
      break;
    case conv_pass::backward_weight:
      elements = input + output + weight + bias;
      break;
  }
  return static_cast<double>(elements) * sizeof(float);
}

void set_conv_counters(benchmark::State& state, const kernels::conv2d_shape& shape, conv_pass pass) {
  constexpr auto per_iteration = benchmark::Counter::kIsIterationInvariantRate;
  state.counters["FLOP/s"] = benchmark::Counter(conv_flops(shape), per_iteration);
  state.counters["bytes/s"] = benchmark::Counter(conv_bytes(shape, pass), per_iteration);
}

conv_tensors make_conv_tensors(const kernels::conv2d_shape& s, const torch::Device& device) {
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const auto bound = 1.0 / std::sqrt(static_cast<double>(s.in_channels * s.kernel_size * s.kernel_size));
  conv_tensors t;
  t.input = torch::randn({s.batch, s.in_channels, s.height, s.width}, options);
  t.weight = torch::rand({s.out_channels, s.in_channels, s.kernel_size, s.kernel_size}, options) * (2 * bound) - bound;
  t.bias = torch::rand({s.out_channels}, options) * (2 * bound) - bound;
  t.output = torch::empty({s.batch, s.out_channels, s.out_height(), s.out_width()}, options);
  t.grad_output = torch::randn_like(t.output);
  t.grad_input = torch::empty_like(t.input);
  t.grad_weight = torch::empty_like(t.weight);
  t.grad_bias = torch::empty_like(t.bias);
  return t;
}

void libtorch_conv(conv_pass pass, const conv_tensors& t) {
  const std::int64_t stride[] = {1, 1}, padding[] = {0, 0}, dilation[] = {1, 1};
  if (pass == conv_pass::forward) {
    benchmark::DoNotOptimize(at::convolution(t.input, t.weight, t.bias, stride, padding, dilation, false, padding, 1));
    return;
  }
  const std::int64_t bias_sizes[] = {t.bias.size(0)};
  using output_mask = std::array<bool, 3>;  // grad_input, grad_weight, grad_bias
  const auto mask =
      pass == conv_pass::backward_input ? output_mask{true, false, false} : output_mask{false, true, true};
  benchmark::DoNotOptimize(at::convolution_backward(t.grad_output, t.input, t.weight, at::IntArrayRef(bias_sizes),
                                                    stride, padding, dilation, false, padding, 1, mask));
}

namespace {

void reference_conv(conv_pass pass, const kernels::conv2d_shape& s, const conv_tensors& t) {
  switch (pass) {
    case conv_pass::forward:
      kernels::conv2d_forward_reference(t.input.data_ptr<float>(), t.weight.data_ptr<float>(), t.bias.data_ptr<float>(),
                                        t.output.data_ptr<float>(), s, false);
      return;
    case conv_pass::backward_input:
      kernels::conv2d_backward_input_reference(t.grad_output.data_ptr<float>(), t.weight.data_ptr<float>(),
                                               t.grad_input.data_ptr<float>(), s);
      return;
    case conv_pass::backward_weight:
      kernels::conv2d_backward_weight_reference(t.input.data_ptr<float>(), t.grad_output.data_ptr<float>(),
                                                t.grad_weight.data_ptr<float>(), t.grad_bias.data_ptr<float>(), s);
      return;
  }
}

void reference_benchmark(benchmark::State& state, const conv_layer& layer, conv_pass pass) {
  const auto shape = shape_of(layer, state.range(0));
  const auto t = make_conv_tensors(shape, torch::kCPU);
  time_each_iteration(state, [&] { reference_conv(pass, shape, t); });
  set_conv_counters(state, shape, pass);
}

void libtorch_cpu_benchmark(benchmark::State& state, const conv_layer& layer, conv_pass pass) {
  const auto shape = shape_of(layer, state.range(0));
  const auto t = make_conv_tensors(shape, torch::kCPU);
  libtorch_conv(pass, t);  // warm-up: oneDNN builds its primitive for the shape once
  time_each_iteration(state, [&] { libtorch_conv(pass, t); });
  set_conv_counters(state, shape, pass);
}

void register_cpu_conv_benchmarks() {
  for (const auto& layer : conv_layers) {
    for (const auto pass : conv_passes) {
      const auto reference = [&layer, pass](benchmark::State& state) { reference_benchmark(state, layer, pass); };
      const auto reference_name = conv_benchmark_name(layer, pass, "reference", kernels::precision::fp32);
      auto* timed = benchmark::RegisterBenchmark(reference_name.c_str(), reference);
      auto* one_iteration = benchmark::RegisterBenchmark(reference_name.c_str(), reference)->Iterations(1);
      auto* libtorch = benchmark::RegisterBenchmark(
          conv_benchmark_name(layer, pass, "libtorch_cpu", kernels::precision::fp32).c_str(),
          [&layer, pass](benchmark::State& state) { libtorch_cpu_benchmark(state, layer, pass); });
      for (const auto batch : conv_batches) {
        (batch >= 1024 ? one_iteration : timed)->Arg(batch);
        libtorch->Arg(batch);
      }
      for (auto* family : {timed, one_iteration, libtorch}) family->UseManualTime()->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace
}  // namespace trackbench::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("libtorch_cpu_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("reference_threads", "1");
  trackbench::bench::register_cpu_conv_benchmarks();
#if TRACKBENCH_WITH_CUDA
  trackbench::bench::register_gpu_conv_benchmarks();
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
