// The trainer's hot paths on the embedded sample, data resident on the training device. Every row
// that trains or evaluates names its precision (fp32 or tf32, kernels/precision.h) after the conv
// backend, as the kernels suite's GPU rows do:
//   train/step/<device>/<conv>/<precision>/<batch>/manual_time   one training step on one batch:
//                                                     forward, loss, backward, optimizer update
//                                                     (trainer::train_step)
//   train/epoch/cuda/<conv>/fp32/<batch>/manual_time  one epoch of 7,200 images (the default run's
//                                                     training split) as train_epoch runs it: shuffle,
//                                                     steps, loss checks; its evaluation is not timed
//   train/epoch_1280/cpu/<conv>/fp32/<batch>/manual_time  the same over 1,280 images: a whole epoch
//                                                     takes 9 s with cudnn and a minute with reference
//                                                     on 2 cores
//   eval/test/<device>/<conv>/fp32/manual_time        the evaluation pass over the 1,000 test images
//   train/epoch_fashion/cuda/<conv>/fp32/<batch>/manual_time  one epoch of full-size Fashion-MNIST
//                                                     (60,000 images, Debian's dataset-fashion-mnist
//                                                     package): on the sample an epoch is too short to
//                                                     keep a GPU busy
//   eval/test_fashion/cuda/<conv>/fp32/manual_time    the evaluation pass over its 10,000 test images
//                                                     (both skipped, saying why, without the package)
//   data/decode/mnist-sample/manual_time              decoding the embedded gzip IDX files into tensors
//   train/scaling/<device>/<conv>/fp32/<ranks>/<batch>/iterations:3/manual_time
//                                                     data-parallel scaling: one epoch of a job of
//                                                     <ranks> ranks, <batch> images per rank and step,
//                                                     started through mpirun as `trackbench train
//                                                     --nproc` starts one (this executable is each
//                                                     rank), timed by rank 0 after a warm-up epoch.
//                                                     Counters images/s (the whole job's) and
//                                                     efficiency: images/s over <ranks> times the
//                                                     1-rank job's in the same suite run (absent when
//                                                     that one was filtered out). CPU: 1 and 2 ranks
//                                                     of one thread each over 640 images; GPU (with
//                                                     two or more): 1, 2, 4, 8 ranks up to the GPU
//                                                     count, one GPU each, over the 7,200 images.
// device and conv: cpu with cudnn (LibTorch's own convolution: oneDNN) and reference; cuda with
// cudnn and custom (registered only where a GPU is usable), and for the training step also
// custom_v3, the kernels' version that is not yet the default (`train --conv custom_v3`). Precision: fp32 everywhere (the CPU
// computes nothing else); on the GPU the training step also at tf32 (tensor cores, for the custom
// kernels, cuDNN and cuBLAS alike, as `train --precision tf32` sets it). Batches: 64 and 256 on
// the CPU, 128 and 1024 on the GPU, 128 and 512 for Fashion-MNIST. On the GPU the config's other
// defaults apply: CUDA graphs off (eager steps) until a GPU run has checked them. Counter:
// images/s. Time: the wall clock per iteration, after a GPU synchronisation.
// On the 2-core CI machine (AMD EPYC, shared with other builds) the suite took 5 min 24 s with
// --benchmark_repetitions=3 --benchmark_min_time=0.05, 4 min of it the reference backend;
// bench/README.md has the figures.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "bench_support.h"
#include "trackbench/kernels/conv2d.h"
#include "trackbench/kernels/cuda_device.h"
#include "trackbench/kernels/precision.h"
#include "trackbench/tracking/analysis/statistics.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/distributed.h"
#include "trackbench/trainer/local_job.h"
#include "trackbench/trainer/train.h"

namespace trackbench::trainer {
namespace {

using bench::time_each_iteration;

const dataset& sample() {
  static const dataset data = load_dataset("mnist-sample", std::nullopt);
  return data;
}

// The sample with its training set cut to `train_images` (all of them trained on: no
// validation split) and its test set to `test_images`.
dataset sample_cut(std::int64_t train_images, std::int64_t test_images) {
  auto data = sample();
  data.train.images = data.train.images.slice(0, 0, train_images);
  data.train.labels = data.train.labels.slice(0, 0, train_images);
  data.test.images = data.test.images.slice(0, 0, test_images);
  data.test.labels = data.test.labels.slice(0, 0, test_images);
  return data;
}

train_config config_for(device_kind device, conv_choice conv, std::int64_t batch_size,
                        kernels::precision precision = kernels::precision::fp32) {
  train_config config;
  config.device = device;
  config.conv = conv.backend;
  config.conv_version = conv.kernel_version;
  config.batch_size = batch_size;
  config.precision = precision;
  config.validation_fraction = 0.0;
  return config;
}

void synchronize(const trainer& run) {
  if (run.device().is_cuda()) torch::cuda::synchronize();
}

void set_images_per_second(benchmark::State& state, std::int64_t images_per_iteration) {
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(images_per_iteration),
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

// A family's name: what it measures, then device, conv backend and precision, as the kernels
// suite's GPU rows name backend and precision (conv/<layer>/<pass>/<backend>/<precision>/...).
// `conv` is --conv's name: a backend, or custom_vN for a custom kernel version by number.
std::string benchmark_family(const std::string& kind, device_kind device, const std::string& conv,
                             kernels::precision precision) {
  return kind + "/" + to_string(device) + "/" + conv + "/" + kernels::to_string(precision);
}

void train_step(benchmark::State& state, device_kind device, conv_choice conv, kernels::precision precision) {
  const std::int64_t batch = state.range(0);
  trainer run(config_for(device, conv, batch, precision), sample_cut(batch, 1));
  const auto indices = torch::arange(batch, torch::TensorOptions().dtype(torch::kInt64).device(run.device()));
  for (int i = 0; i < 2; ++i) run.train_step(indices);  // warm-up: allocator, library handles
  synchronize(run);
  time_each_iteration(state, [&] {
    run.train_step(indices);
    synchronize(run);
  });
  set_images_per_second(state, batch);
}

// Full-size Fashion-MNIST, or why it cannot be loaded.
struct full_size_data {
  std::optional<dataset> data;
  std::string reason;
};

const full_size_data& fashion() {
  static const full_size_data loaded = [] {
    full_size_data result;
    try {
      // A machine without Debian's package (the staged GPU check) names a copy of its files.
      const char* dir = std::getenv("TRACKBENCH_FASHION_MNIST_DIR");
      result.data = load_dataset("fashion-mnist", dir != nullptr && *dir != '\0'
                                                      ? std::optional<std::filesystem::path>(dir)
                                                      : std::nullopt);
    } catch (const std::exception& e) {
      result.reason = std::string("no full-size data set (install Debian's dataset-fashion-mnist or set "
                                  "TRACKBENCH_FASHION_MNIST_DIR): ") + e.what();
    }
    return result;
  }();
  return loaded;
}

// Times train_epoch's training steps (it evaluates afterwards, untimed) on `data`.
void time_epochs(benchmark::State& state, trainer& run) {
  int epoch = 1;
  // Warm-up: on the GPU a whole epoch, so that the last, smaller batch has run too; on the CPU
  // one step is enough (and an epoch with the references takes 10 s).
  if (run.device().is_cuda()) {
    run.train_epoch(epoch++);
  } else {
    run.train_step(torch::arange(run.config().batch_size, torch::kInt64));
  }
  for (auto _ : state) state.SetIterationTime(run.train_epoch(epoch++).train_seconds);
  set_images_per_second(state, run.train_size());
}

// train_epoch evaluates after training; a 100-image test set keeps that (untimed) part short.
void train_epoch(benchmark::State& state, device_kind device, conv_backend conv, std::int64_t images) {
  trainer run(config_for(device, {conv}, state.range(0)), sample_cut(images, 100));
  time_epochs(state, run);
}

void train_epoch_full_size(benchmark::State& state, device_kind device, conv_backend conv) {
  if (!fashion().data) {
    state.SkipWithError(fashion().reason.c_str());
    return;
  }
  trainer run(config_for(device, {conv}, state.range(0)), *fashion().data);
  time_epochs(state, run);
}

void evaluate_test_full_size(benchmark::State& state, device_kind device, conv_backend conv) {
  if (!fashion().data) {
    state.SkipWithError(fashion().reason.c_str());
    return;
  }
  trainer run(config_for(device, {conv}, 64), *fashion().data);
  run.evaluate_test();  // warm-up
  time_each_iteration(state, [&] { benchmark::DoNotOptimize(run.evaluate_test()); });
  set_images_per_second(state, run.test_size());
}


void evaluate_test(benchmark::State& state, device_kind device, conv_backend conv) {
  trainer run(config_for(device, {conv}, 64), sample());
  run.evaluate_test();  // warm-up
  time_each_iteration(state, [&] { benchmark::DoNotOptimize(run.evaluate_test()); });
  set_images_per_second(state, run.test_size());
}

void decode_sample(benchmark::State& state) {
  time_each_iteration(state, [] { benchmark::DoNotOptimize(load_dataset("mnist-sample", std::nullopt)); });
  set_images_per_second(state, sample().train.size() + sample().test.size());
}

// ---- scaling: jobs of several ranks -------------------------------------------------------

constexpr int scaling_epochs = 3;  // timed, after one warm-up epoch
constexpr const char* scaling_rank_flag = "--scaling-rank";
constexpr const char* epoch_seconds_note = "epoch_seconds";

struct scaling_case {
  device_kind device;
  conv_backend conv;
  std::int64_t images;  // the epoch, split between the ranks
};

// Images/s of each repetition of the 1-rank job so far, per device, conv and batch: the base of
// the efficiency of the larger jobs, which Google Benchmark runs after it.
std::map<std::tuple<device_kind, conv_backend, std::int64_t>, std::vector<double>>& one_rank_rates() {
  static std::map<std::tuple<device_kind, conv_backend, std::int64_t>, std::vector<double>> rates;
  return rates;
}

// One rank of a scaling job (this executable under mpirun): trains the warm-up epoch and the
// timed ones; rank 0 leaves the timed epochs' training seconds in the job folder.
int run_scaling_rank(char** argv) {
  const scaling_case c{parse_device(argv[2]), parse_conv_backend(argv[3]), std::stoll(argv[5])};
  auto config = config_for(c.device, {c.conv}, std::stoll(argv[4]));
  if (c.device == device_kind::cpu) config.threads = 1;  // one core per rank
  trainer run(config, sample_cut(c.images, 100));
  std::ostringstream seconds;
  for (int epoch = 1; epoch <= scaling_epochs + 1; ++epoch) {
    const auto metrics = run.train_epoch(epoch);
    if (epoch > 1) seconds << metrics.train_seconds << "\n";
  }
  if (run.group().rank() == 0) write_job_note(epoch_seconds_note, seconds.str());
  run.group().shutdown();
  return 0;
}

void train_scaling(benchmark::State& state, const scaling_case& c) {
  const auto ranks = static_cast<int>(state.range(0));
  const std::int64_t batch = state.range(1);
  local_job job;
  job.nproc = ranks;
  job.arguments = {scaling_rank_flag, to_string(c.device), to_string(c.conv), std::to_string(batch),
                   std::to_string(c.images)};
  std::vector<double> seconds;
  job.on_end = [&](const std::filesystem::path& dir, int) {
    std::istringstream note(read_job_note(dir, epoch_seconds_note));
    for (double value = 0.0; note >> value;) seconds.push_back(value);
  };
  if (const int code = run_local_job(job); code != 0 || seconds.size() != scaling_epochs) {
    state.SkipWithError(("the job of " + std::to_string(ranks) + " ranks failed (exit code " + std::to_string(code) +
                         "); its ranks' errors are above").c_str());
    return;
  }
  std::size_t next = 0;
  for (auto _ : state) state.SetIterationTime(seconds[next++]);
  set_images_per_second(state, c.images);
  const double rate = static_cast<double>(c.images) * scaling_epochs / std::accumulate(seconds.begin(), seconds.end(), 0.0);
  auto& base = one_rank_rates()[{c.device, c.conv, batch}];
  if (ranks == 1) base.push_back(rate);
  if (base.empty()) {
    state.SetLabel("no efficiency: the 1-rank job did not run in this suite run");
  } else {
    state.counters["efficiency"] = rate / (ranks * tracking::statistics::median(base));
  }
}

void register_scaling(const scaling_case& c, const std::vector<int>& ranks, std::int64_t batch) {
  auto* family = benchmark::RegisterBenchmark(
      benchmark_family("train/scaling", c.device, to_string(c.conv), kernels::precision::fp32).c_str(),
      [c](benchmark::State& state) { train_scaling(state, c); });
  for (const int n : ranks) family->Args({n, batch});
  family->Iterations(scaling_epochs)->UseManualTime()->Unit(benchmark::kMillisecond);
}

struct target {
  device_kind device;
  conv_backend conv;
  std::vector<std::int64_t> batches;
  std::int64_t epoch_images;
  const char* epoch_name;
  std::vector<kernels::precision> step_precisions;  // tf32 only on the GPU's tensor cores
};

void register_for(const target& t) {
  constexpr auto fp32 = kernels::precision::fp32;
  const auto name = [&t](const std::string& kind, kernels::precision precision) {
    return benchmark_family(kind, t.device, to_string(t.conv), precision);
  };
  std::vector<benchmark::internal::Benchmark*> families;
  for (const auto precision : t.step_precisions) {
    auto* step = benchmark::RegisterBenchmark(
        name("train/step", precision).c_str(),
        [t, precision](benchmark::State& state) { train_step(state, t.device, {t.conv}, precision); });
    for (const auto batch : t.batches) step->Arg(batch);
    families.push_back(step);
  }
  auto* epoch = benchmark::RegisterBenchmark(
      name(std::string("train/") + t.epoch_name, fp32).c_str(),
      [t](benchmark::State& state) { train_epoch(state, t.device, t.conv, t.epoch_images); });
  for (const auto batch : t.batches) epoch->Arg(batch);
  families.push_back(epoch);
  families.push_back(benchmark::RegisterBenchmark(
      name("eval/test", fp32).c_str(), [t](benchmark::State& state) { evaluate_test(state, t.device, t.conv); }));
  if (t.device == device_kind::cuda) {  // full size only where an epoch is seconds, not minutes
    auto* full_epoch = benchmark::RegisterBenchmark(
        name("train/epoch_fashion", fp32).c_str(),
        [t](benchmark::State& state) { train_epoch_full_size(state, t.device, t.conv); });
    for (const auto batch : {128, 512}) full_epoch->Arg(batch);
    families.push_back(full_epoch);
    families.push_back(benchmark::RegisterBenchmark(
        name("eval/test_fashion", fp32).c_str(),
        [t](benchmark::State& state) { evaluate_test_full_size(state, t.device, t.conv); }));
  }
  for (auto* family : families) family->UseManualTime()->Unit(benchmark::kMillisecond);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("data/decode/mnist-sample", decode_sample)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  for (const auto conv : {conv_backend::cudnn, conv_backend::reference}) {
    register_for({device_kind::cpu, conv, {64, 256}, 1280, "epoch_1280", {kernels::precision::fp32}});
  }
  register_scaling({device_kind::cpu, conv_backend::cudnn, 640}, {1, 2}, 64);
  if (kernels::probe_cuda().usable && torch::cuda::is_available()) {
    for (const auto conv : {conv_backend::cudnn, conv_backend::custom}) {
      register_for(
          {device_kind::cuda, conv, {128, 1024}, 7200, "epoch", {kernels::precision::fp32, kernels::precision::tf32}});
    }
    // Kernel versions other than the default train by name (--conv custom_vN) until a GPU run
    // makes one the default: their step runs beside the default's.
    for (int version = 1; version <= kernels::conv2d_version_count; ++version) {
      if (version == kernels::conv2d_default_version || version == 1) continue;  // v1 is the naive baseline
      const auto conv = "custom_v" + std::to_string(version);
      for (const auto precision : {kernels::precision::fp32, kernels::precision::tf32}) {
        benchmark::RegisterBenchmark(benchmark_family("train/step", device_kind::cuda, conv, precision).c_str(),
                                     [conv, precision](benchmark::State& state) {
                                       train_step(state, device_kind::cuda, parse_conv(conv), precision);
                                     })
            ->Arg(128)
            ->Arg(1024)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
    const auto gpus = static_cast<int>(torch::cuda::device_count());
    if (gpus >= 2) {
      std::vector<int> ranks;
      for (int n = 1; n <= std::min(gpus, 8); n *= 2) ranks.push_back(n);
      for (const auto conv : {conv_backend::cudnn, conv_backend::custom}) {
        register_scaling({device_kind::cuda, conv, 7200}, ranks, 128);
      }
    }
  }
  return true;
}();

}  // namespace
}  // namespace trackbench::trainer

// Google Benchmark's main, except in the ranks of a scaling job.
int main(int argc, char** argv) {
  if (argc == 6 && std::strcmp(argv[1], trackbench::trainer::scaling_rank_flag) == 0) {
    try {
      return trackbench::trainer::run_scaling_rank(argv);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: scaling rank: %s\n", e.what());
      return 1;
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
