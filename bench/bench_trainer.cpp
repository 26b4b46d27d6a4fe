// The trainer's hot paths on the embedded sample, data resident on the training device:
//   train/step/<device>/<conv>/<batch>/manual_time    one training step on one batch: forward, loss,
//                                                     backward, optimizer update (trainer::train_step)
//   train/epoch/cuda/<conv>/<batch>/manual_time       one epoch of 7,200 images (the default run's
//                                                     training split) as train_epoch runs it: shuffle,
//                                                     steps, loss checks; its evaluation is not timed
//   train/epoch_1280/cpu/<conv>/<batch>/manual_time   the same over 1,280 images: a whole epoch takes
//                                                     9 s with cudnn and a minute with reference on 2 cores
//   eval/test/<device>/<conv>/manual_time             the evaluation pass over the 1,000 test images
//   train/epoch_fashion/cuda/<conv>/<batch>/manual_time  one epoch of full-size Fashion-MNIST (60,000
//                                                     images, Debian's dataset-fashion-mnist package): on
//                                                     the sample an epoch is too short to keep a GPU busy
//   eval/test_fashion/cuda/<conv>/manual_time         the evaluation pass over its 10,000 test images
//                                                     (both skipped, saying why, without the package)
//   data/decode/mnist-sample/manual_time              decoding the embedded gzip IDX files into tensors
// device and conv: cpu with cudnn (LibTorch's own convolution: oneDNN) and reference; cuda with
// cudnn and custom (registered only where a GPU is usable). Batches: 64 and 256 on the CPU,
// 128 and 1024 on the GPU, 128 and 512 for Fashion-MNIST. On the GPU the config's defaults
// apply: CUDA graphs on (a step is a replay, captured before the clock), FP32 precision. Counter: images/s. Time: the wall clock per iteration, after a
// GPU synchronisation.
// On the 2-core CI machine (AMD EPYC, shared with other builds) the suite took 5 min 24 s with
// --benchmark_repetitions=3 --benchmark_min_time=0.05, 4 min of it the reference backend;
// bench/README.md has the figures.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "bench_support.h"
#include "trackbench/kernels/cuda_device.h"
#include "trackbench/trainer/datasets.h"
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

train_config config_for(device_kind device, conv_backend conv, std::int64_t batch_size) {
  train_config config;
  config.device = device;
  config.conv = conv;
  config.batch_size = batch_size;
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

void train_step(benchmark::State& state, device_kind device, conv_backend conv) {
  const std::int64_t batch = state.range(0);
  trainer run(config_for(device, conv, batch), sample_cut(batch, 1));
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
  trainer run(config_for(device, conv, state.range(0)), sample_cut(images, 100));
  time_epochs(state, run);
}

void train_epoch_full_size(benchmark::State& state, device_kind device, conv_backend conv) {
  if (!fashion().data) {
    state.SkipWithError(fashion().reason.c_str());
    return;
  }
  trainer run(config_for(device, conv, state.range(0)), *fashion().data);
  time_epochs(state, run);
}

void evaluate_test_full_size(benchmark::State& state, device_kind device, conv_backend conv) {
  if (!fashion().data) {
    state.SkipWithError(fashion().reason.c_str());
    return;
  }
  trainer run(config_for(device, conv, 64), *fashion().data);
  run.evaluate_test();  // warm-up
  time_each_iteration(state, [&] { benchmark::DoNotOptimize(run.evaluate_test()); });
  set_images_per_second(state, run.test_size());
}


void evaluate_test(benchmark::State& state, device_kind device, conv_backend conv) {
  trainer run(config_for(device, conv, 64), sample());
  run.evaluate_test();  // warm-up
  time_each_iteration(state, [&] { benchmark::DoNotOptimize(run.evaluate_test()); });
  set_images_per_second(state, run.test_size());
}

void decode_sample(benchmark::State& state) {
  time_each_iteration(state, [] { benchmark::DoNotOptimize(load_dataset("mnist-sample", std::nullopt)); });
  set_images_per_second(state, sample().train.size() + sample().test.size());
}

struct target {
  device_kind device;
  conv_backend conv;
  std::vector<std::int64_t> batches;
  std::int64_t epoch_images;
  const char* epoch_name;
};

void register_for(const target& t) {
  const std::string suffix = "/" + to_string(t.device) + "/" + to_string(t.conv);
  auto* step = benchmark::RegisterBenchmark(("train/step" + suffix).c_str(), [t](benchmark::State& state) {
    train_step(state, t.device, t.conv);
  });
  auto* epoch = benchmark::RegisterBenchmark(
      (std::string("train/") + t.epoch_name + suffix).c_str(),
      [t](benchmark::State& state) { train_epoch(state, t.device, t.conv, t.epoch_images); });
  for (const auto batch : t.batches) {
    step->Arg(batch);
    epoch->Arg(batch);
  }
  auto* eval = benchmark::RegisterBenchmark(("eval/test" + suffix).c_str(),
                                            [t](benchmark::State& state) { evaluate_test(state, t.device, t.conv); });
  for (auto* family : {step, epoch, eval}) family->UseManualTime()->Unit(benchmark::kMillisecond);
  if (t.device != device_kind::cuda) return;  // full size only where an epoch is seconds, not minutes
  auto* full_epoch = benchmark::RegisterBenchmark(
      ("train/epoch_fashion" + suffix).c_str(),
      [t](benchmark::State& state) { train_epoch_full_size(state, t.device, t.conv); });
  for (const auto batch : {128, 512}) full_epoch->Arg(batch);
  auto* full_eval = benchmark::RegisterBenchmark(
      ("eval/test_fashion" + suffix).c_str(),
      [t](benchmark::State& state) { evaluate_test_full_size(state, t.device, t.conv); });
  for (auto* family : {full_epoch, full_eval}) family->UseManualTime()->Unit(benchmark::kMillisecond);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("data/decode/mnist-sample", decode_sample)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  for (const auto conv : {conv_backend::cudnn, conv_backend::reference}) {
    register_for({device_kind::cpu, conv, {64, 256}, 1280, "epoch_1280"});
  }
  if (kernels::probe_cuda().usable && torch::cuda::is_available()) {
    for (const auto conv : {conv_backend::cudnn, conv_backend::custom}) {
      register_for({device_kind::cuda, conv, {128, 1024}, 7200, "epoch"});
    }
  }
  return true;
}();

}  // namespace
}  // namespace trackbench::trainer
