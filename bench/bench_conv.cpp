// The digit CNN's convolutions on the GPU: the project's kernels against cuDNN, forward and
// backward, at batch 128 and 1024, timed with CUDA events on LibTorch's current stream.
//   conv/<layer>/<pass>/<backend>/<batch>
// backends: cudnn (LibTorch's defaults: cuDNN may round to TF32), cudnn_fp32 (TF32 off),
// custom (the autograd op with the default kernels), and v1, v2 (each kernel version called
// directly, for tuning). forward includes the ReLU; backward is everything autograd runs for
// the layer (input gradient only where the layer needs one, as in training).
// Registered only where a GPU is usable; without one the binary runs nothing.
#include <ATen/cuda/CUDAEvent.h>
#include <benchmark/benchmark.h>
#include <c10/cuda/CUDAStream.h>

#include <functional>

#include "trackbench/kernels/conv2d.h"
#include "trackbench/kernels/cuda_device.h"
#include "trackbench/trainer/model.h"

namespace trackbench {
namespace {

struct layer {
  const char* name;
  std::int64_t in_channels, out_channels, size;  // size: input height and width
  bool needs_input_grad;                          // conv1 reads the images, which need none
};
const layer layers[] = {{"conv1", 1, 32, 28, false}, {"conv2", 32, 64, 26, true}};

kernels::conv2d_shape shape_of(const layer& l, std::int64_t batch) {
  return {batch, l.in_channels, l.out_channels, l.size, l.size, 3, 0};
}

// Times `work` with CUDA events around each iteration.
void time_on_gpu(benchmark::State& state, const std::function<void()>& work) {
  work();  // warm-up: cuDNN's algorithm search, the caching allocator
  at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
  for (auto _ : state) {
    start.record();
    work();
    stop.record();
    stop.synchronize();
    state.SetIterationTime(start.elapsed_time(stop) / 1000.0);
  }
}

struct layer_tensors {
  torch::Tensor input, weight, bias;
};

layer_tensors make_tensors(const layer& l, std::int64_t batch) {
  const auto options = torch::TensorOptions().device(torch::kCUDA);
  return {torch::randn({batch, l.in_channels, l.size, l.size}, options),
          torch::randn({l.out_channels, l.in_channels, 3, 3}, options) * 0.1,
          torch::randn({l.out_channels}, options) * 0.1};
}

// Through the trainer's seam, as training runs it.
void seam(benchmark::State& state, const layer& l, bool backward, trainer::conv_backend backend, bool tf32) {
  at::globalContext().setAllowTF32CuDNN(tf32);
  at::globalContext().setBenchmarkCuDNN(true);
  const auto t = make_tensors(l, state.range(0));
  if (!backward) {
    const torch::NoGradGuard no_grad;
    time_on_gpu(state, [&] { trainer::conv2d(backend, t.input, t.weight, t.bias, 0, true); });
    return;
  }
  const auto input = t.input.clone().requires_grad_(l.needs_input_grad);
  const auto weight = t.weight.clone().requires_grad_();
  const auto bias = t.bias.clone().requires_grad_();
  const auto output = trainer::conv2d(backend, input, weight, bias, 0, true);
  const auto grad = torch::randn_like(output);
  std::vector<torch::Tensor> wrt{weight, bias};
  if (l.needs_input_grad) wrt.push_back(input);
  time_on_gpu(state, [&] { torch::autograd::grad({output}, wrt, {grad}, /*retain_graph=*/true); });
}

// One kernel version called directly; backward masks nothing, so it is the kernels alone.
void version(benchmark::State& state, const layer& l, bool backward, int v) {
  const auto s = shape_of(l, state.range(0));
  const auto t = make_tensors(l, s.batch);
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  auto output = torch::empty({s.batch, s.out_channels, s.out_height(), s.out_width()}, t.input.options());
  if (!backward) {
    time_on_gpu(state, [&] {
      kernels::conv2d_forward_cuda(t.input.data_ptr<float>(), t.weight.data_ptr<float>(), t.bias.data_ptr<float>(),
                                   output.data_ptr<float>(), s, true, stream, v);
    });
    return;
  }
  const auto grad = torch::randn_like(output);
  auto grad_input = torch::empty_like(t.input), grad_weight = torch::empty_like(t.weight),
       grad_bias = torch::empty_like(t.bias);
  auto workspace = torch::empty({std::max<std::int64_t>(1, kernels::conv2d_backward_weight_workspace_floats(s, v))},
                                t.input.options());
  time_on_gpu(state, [&] {
    if (l.needs_input_grad) {
      kernels::conv2d_backward_input_cuda(grad.data_ptr<float>(), t.weight.data_ptr<float>(),
                                          grad_input.data_ptr<float>(), s, stream, v);
    }
    kernels::conv2d_backward_weight_cuda(t.input.data_ptr<float>(), grad.data_ptr<float>(),
                                         grad_weight.data_ptr<float>(), grad_bias.data_ptr<float>(),
                                         workspace.data_ptr<float>(), s, stream, v);
  });
}

const bool registered = [] {
  if (!kernels::probe_cuda().usable || !torch::cuda::is_available()) return false;
  auto add = [](const std::string& name, std::function<void(benchmark::State&)> run) {
    benchmark::RegisterBenchmark(name.c_str(), run)->Arg(128)->Arg(1024)->UseManualTime()->Unit(benchmark::kMicrosecond);
  };
  for (const auto& l : layers) {
    for (const bool backward : {false, true}) {
      const std::string prefix = std::string("conv/") + l.name + (backward ? "/backward/" : "/forward/");
      add(prefix + "cudnn", [&l, backward](auto& s) { seam(s, l, backward, trainer::conv_backend::cudnn, true); });
      add(prefix + "cudnn_fp32", [&l, backward](auto& s) { seam(s, l, backward, trainer::conv_backend::cudnn, false); });
      add(prefix + "custom", [&l, backward](auto& s) { seam(s, l, backward, trainer::conv_backend::custom, false); });
      for (int v = 1; v <= kernels::conv2d_version_count; ++v) {
        add(prefix + "v" + std::to_string(v), [&l, backward, v](auto& s) { version(s, l, backward, v); });
      }
    }
  }
  return true;
}();

}  // namespace
}  // namespace trackbench
