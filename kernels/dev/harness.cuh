#pragma once
// The tuning harness's shared half (llm.c dev/cuda style): each driver (forward.cu,
// backward_input.cu, backward_weight.cu) is one pass of the digit CNN's convolutions, built by
// nvcc alone with the kernels' own sources and cuDNN (run.sh). For every layer and batch it
//   1. checks every kernel version at both precisions against the CPU reference of
//      kernels/conv2d.h on the first `check_batch` images (64; forward and grad-input of an
//      image depend on that image only, grad-weight is recomputed at that batch), printing the
//      worst absolute and relative error and whether each element is within
//      abs + rel * |ref|, with abs = tol * max(1, max |ref|) (the tests' tolerances):
//        fp32: tol 1e-5, rel 1e-4      tf32: tol 2e-3, rel 1e-3
//   2. checks bitwise determinism: two runs at the full batch give the same bits,
//   3. times it at the full batch with CUDA events, the L2 overwritten before each repetition,
//      against the direct cuDNN baseline of the bench's `cudnn` rows (cudnn_baseline.h: the
//      fastest of every frontend engine and legacy algorithm for the shape and precision, named
//      on cuDNN's line), and prints a table.
// Usage: <driver> [--layer=conv1|conv2] [--versions=V,V...] [--reps=N] [batch ...]
//   (default: both layers, every version, 20 repetitions, batches 128 and 1024)
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cudnn_baseline.h"
#include "trackbench/kernels/conv2d.h"

namespace harness {

using trackbench::kernels::conv2d_shape;
using trackbench::kernels::precision;

[[noreturn]] inline void fail(const std::string& message) {
  std::fprintf(stderr, "harness: %s\n", message.c_str());
  std::exit(1);
}

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail(std::string(what) + ": " + cudaGetErrorString(status));
}

// The pass a driver measures.
using pass = trackbench::kernels::dev::conv_pass;

struct layer {
  const char* name;
  std::int64_t in_channels, out_channels, size;
};
inline constexpr layer layers[] = {{"conv1", 1, 32, 28}, {"conv2", 32, 64, 26}};
inline constexpr std::int64_t check_batch = 64;

inline conv2d_shape shape_of(const layer& l, std::int64_t batch) {
  return {batch, l.in_channels, l.out_channels, l.size, l.size, 3, 0};
}

// Device buffer of floats.
struct buffer {
  float* data = nullptr;
  std::int64_t count = 0;
  explicit buffer(std::int64_t n) : count(n) {
    check(cudaMalloc(&data, static_cast<std::size_t>(std::max<std::int64_t>(n, 1)) * sizeof(float)), "cudaMalloc");
  }
  ~buffer() { cudaFree(data); }
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
  void upload(const std::vector<float>& host) {
    check(cudaMemcpy(data, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), "upload");
  }
  std::vector<float> download(std::int64_t n = -1) const {
    std::vector<float> host(static_cast<std::size_t>(n < 0 ? count : n));
    check(cudaMemcpy(host.data(), data, host.size() * sizeof(float), cudaMemcpyDeviceToHost), "download");
    return host;
  }
};

// Uniform in [-1, 1) from a fixed seed, so every run checks the same numbers.
inline std::vector<float> random_values(std::int64_t n, unsigned seed) {
  std::vector<float> v(static_cast<std::size_t>(n));
  std::uint64_t state = 0x9E3779B97F4A7C15ull ^ seed;
  for (auto& x : v) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<float>((state >> 40) * (1.0 / (1ull << 24))) * 2.0f - 1.0f;
  }
  return v;
}

// Every tensor of one layer at one batch, on the device (random inputs).
struct tensors {
  conv2d_shape shape;
  buffer input, weight, bias, output, grad_output, grad_input, grad_weight, grad_bias;
  std::vector<float> host_input, host_weight, host_bias, host_grad_output;
  explicit tensors(const conv2d_shape& s)
      : shape(s),
        input(s.batch * s.in_channels * s.height * s.width),
        weight(s.out_channels * s.in_channels * s.kernel_size * s.kernel_size),
        bias(s.out_channels),
        output(s.batch * s.out_channels * s.out_height() * s.out_width()),
        grad_output(output.count),
        grad_input(input.count),
        grad_weight(weight.count),
        grad_bias(s.out_channels) {
    host_input = random_values(input.count, 1);
    host_weight = random_values(weight.count, 2);
    host_bias = random_values(bias.count, 3);
    host_grad_output = random_values(grad_output.count, 4);
    input.upload(host_input);
    weight.upload(host_weight);
    bias.upload(host_bias);
    grad_output.upload(host_grad_output);
  }
};

struct error_report {
  double abs = 0.0, rel = 0.0;
  bool within = true;
};

inline error_report compare(const std::vector<float>& actual, const std::vector<float>& expected, precision math) {
  const double tol = math == precision::tf32 ? 2e-3 : 1e-5, rel_tol = math == precision::tf32 ? 1e-3 : 1e-4;
  double largest = 1.0;
  for (const float e : expected) largest = std::max(largest, std::fabs(static_cast<double>(e)));
  error_report r;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i], d = std::fabs(static_cast<double>(actual[i]) - e);
    r.abs = std::max(r.abs, d);
    if (e != 0.0) r.rel = std::max(r.rel, d / std::fabs(e));
    if (!(d <= tol * largest + rel_tol * std::fabs(e))) r.within = false;  // NaN fails too
  }
  return r;
}

// Median of `reps` timings of `work` in microseconds, each after overwriting the L2 cache.
class timer {
 public:
  timer() {
    int device = 0, l2 = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device), "L2 size");
    flush_bytes_ = 2 * static_cast<std::size_t>(std::max(l2, 1 << 20));
    check(cudaMalloc(&flush_, flush_bytes_), "cudaMalloc flush");
    check(cudaEventCreate(&start_), "event");
    check(cudaEventCreate(&stop_), "event");
  }
  ~timer() {
    cudaFree(flush_);
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;

  double median_us(const std::function<void()>& work, int reps) {
    work();  // warm-up: lazy module loading
    check(cudaDeviceSynchronize(), "warm-up");
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) {
      check(cudaMemsetAsync(flush_, r & 0xff, flush_bytes_), "flushing L2");
      check(cudaEventRecord(start_), "event");
      work();
      check(cudaEventRecord(stop_), "event");
      check(cudaEventSynchronize(stop_), "event");
      float ms = 0.0f;
      check(cudaEventElapsedTime(&ms, start_, stop_), "elapsed");
      times.push_back(ms * 1e3);
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }

 private:
  void* flush_ = nullptr;
  std::size_t flush_bytes_ = 0;
  cudaEvent_t start_{}, stop_{};
};

// The pass's buffers as the cuDNN baseline takes them.
inline trackbench::kernels::dev::conv_buffers buffers_of(tensors& t) {
  trackbench::kernels::dev::conv_buffers b;
  b.input = t.input.data;
  b.weight = t.weight.data;
  b.bias = t.bias.data;
  b.output = t.output.data;
  b.grad_output = t.grad_output.data;
  b.grad_input = t.grad_input.data;
  b.grad_weight = t.grad_weight.data;
  b.grad_bias = t.grad_bias.data;
  return b;
}

// What a driver supplies: the custom pass on `t` (writing the pass's results), the pass's
// results on the device (concatenated), and the CPU reference of the same on host vectors.
struct pass_driver {
  pass which;
  const char* name;
  std::function<void(tensors& t, int version, precision math, float* workspace)> run_custom;
  std::function<std::vector<float>(const tensors& t)> results;
  // The expected results for the first check_batch images (or the whole check batch).
  std::function<std::vector<float>(const tensors& t)> reference;
};

struct options {
  std::vector<std::int64_t> batches;
  std::string layer;
  std::vector<int> versions;  // empty: every version
  int reps = 20;
};

inline options parse(int argc, char** argv) {
  options o;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg.rfind("--layer=", 0) == 0) {
      o.layer = arg.substr(8);
      if (o.layer != "conv1" && o.layer != "conv2") fail("--layer: expected conv1 or conv2, got '" + o.layer + "'");
    } else if (arg.rfind("--versions=", 0) == 0) {
      std::string list = arg.substr(11) + ",";
      for (std::size_t at = 0, comma; (comma = list.find(',', at)) != std::string::npos; at = comma + 1) {
        const std::string item = list.substr(at, comma - at);
        const int v = std::atoi(item.c_str());
        if (v < 1 || v > trackbench::kernels::conv2d_version_count || std::to_string(v) != item) {
          fail("--versions: expected numbers 1.." + std::to_string(trackbench::kernels::conv2d_version_count) +
               " separated by commas, got '" + item + "'");
        }
        o.versions.push_back(v);
      }
    } else if (arg.rfind("--reps=", 0) == 0) {
      o.reps = std::atoi(arg.c_str() + 7);
      if (o.reps < 1) fail("--reps: expected a positive count, got '" + arg.substr(7) + "'");
    } else {
      char* end = nullptr;
      const long long batch = std::strtoll(arg.c_str(), &end, 10);
      if (end == arg.c_str() || *end != '\0' || batch < 1 || batch > 65535) {
        fail("expected a batch size 1..65535, --layer=conv1|conv2, --versions=V,V... or --reps=N; got '" + arg + "'");
      }
      o.batches.push_back(batch);
    }
  }
  if (o.batches.empty()) o.batches = {128, 1024};
  if (o.versions.empty()) {
    for (int v = 1; v <= trackbench::kernels::conv2d_version_count; ++v) o.versions.push_back(v);
  }
  return o;
}

inline void require_gpu() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    fail(std::string("no usable CUDA device (") +
         (status != cudaSuccess ? cudaGetErrorString(status) : "the runtime reports none") +
         "); this harness checks and times the kernels on a GPU");
  }
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
  std::printf("device: %s (sm_%d%d, %d SMs), cuDNN %zu\n", p.name, p.major, p.minor, p.multiProcessorCount,
              cudnnGetVersion());
}

// The direct cuDNN baseline for the pass on the default stream (the timer's); a search that
// finds nothing ends the harness with its reasons.
inline std::unique_ptr<trackbench::kernels::dev::cudnn_baseline> search_cudnn(pass p, tensors& t, precision math) {
  try {
    return std::make_unique<trackbench::kernels::dev::cudnn_baseline>(p, t.shape, math, buffers_of(t), nullptr);
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Runs the checks and timings for every layer, batch, precision and version; returns the exit
// status (1 when any check failed).
inline int run(const pass_driver& d, int argc, char** argv) {
  const auto o = parse(argc, argv);
  require_gpu();
  using namespace trackbench::kernels;
  bool all_ok = true;
  timer clock;
  std::printf("pass %s; error vs the CPU reference on %lld images; time: median of %d, L2 flushed\n", d.name,
              static_cast<long long>(check_batch), o.reps);
  std::printf("%-6s %6s %5s %-16s %10s %8s %10s %10s %5s %6s\n", "layer", "batch", "prec", "impl", "us",
              "cudnn/x", "worst abs", "worst rel", "ok", "determ");
  for (const auto& l : layers) {
    if (!o.layer.empty() && o.layer != l.name) continue;
    for (const auto batch : o.batches) {
      tensors full(shape_of(l, batch));
      tensors small(shape_of(l, std::min(batch, check_batch)));
      const auto expected = d.reference(small);
      for (const auto math : {precision::fp32, precision::tf32}) {
        const auto cudnn = search_cudnn(d.which, full, math);
        const double cudnn_us = clock.median_us([&] { cudnn->run(); }, o.reps);
        std::printf("%-6s %6lld %5s %-16s %10.1f %8s   %s\n", l.name, static_cast<long long>(batch),
                    to_string(math).c_str(), "cudnn", cudnn_us, "1.00", cudnn->describe().c_str());
        for (const int version : o.versions) {
          buffer workspace(std::max(conv2d_backward_weight_workspace_floats(full.shape, version, math),
                                    conv2d_backward_weight_workspace_floats(small.shape, version, math)));
          d.run_custom(small, version, math, workspace.data);
          check(cudaDeviceSynchronize(), "custom pass");
          const auto err = compare(d.results(small), expected, math);
          d.run_custom(full, version, math, workspace.data);
          const auto first = d.results(full);
          d.run_custom(full, version, math, workspace.data);
          const bool deterministic = same_bits(first, d.results(full));
          const double us = clock.median_us([&] { d.run_custom(full, version, math, workspace.data); }, o.reps);
          const std::string impl = "v" + std::to_string(version) + " " + conv2d_version_name(version);
          std::printf("%-6s %6lld %5s %-16s %10.1f %8.2f %10.2e %10.2e %5s %6s\n", l.name,
                      static_cast<long long>(batch), to_string(math).c_str(), impl.c_str(), us, cudnn_us / us,
                      err.abs, err.rel, err.within ? "yes" : "NO", deterministic ? "yes" : "NO");
          all_ok = all_ok && err.within && deterministic;
        }
      }
    }
  }
  std::printf(all_ok ? "all checks passed\n" : "SOME CHECKS FAILED\n");
  return all_ok ? 0 : 1;
}

}  // namespace harness
