// The trainer's hot paths on the embedded sample: data decoding, one training
// step and one evaluation pass, on the CPU (and the GPU when one is usable).
#include <benchmark/benchmark.h>

#include "trackbench/kernels/cuda_device.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/train.h"

namespace trackbench::trainer {
namespace {

const dataset& sample() {
  static const dataset data = load_dataset("mnist-sample", std::nullopt);
  return data;
}

train_config config_for(device_kind device, std::int64_t batch_size) {
  train_config config;
  config.device = device;
  config.batch_size = batch_size;
  config.epochs = 1;
  return config;
}

void decode_sample(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(load_dataset("mnist-sample", std::nullopt));
  state.SetItemsProcessed(state.iterations() * 8000);
}
BENCHMARK(decode_sample)->Unit(benchmark::kMillisecond);

// One iteration is one epoch of 8 steps: the subset is sized so that the 90% kept
// for training (10% is the validation split) fills 8 batches.
void train_steps(benchmark::State& state, device_kind device) {
  const std::int64_t batch = state.range(0);
  auto data = sample();
  data.train.images = data.train.images.slice(0, 0, batch * 8 * 10 / 9 + 1);
  data.train.labels = data.train.labels.slice(0, 0, data.train.images.size(0));
  trainer run(config_for(device, batch), data);
  run.train_epoch(1);  // warm-up: allocator and kernel selection
  std::int64_t images = 0;
  for (auto _ : state) {
    const auto metrics = run.train_epoch(1);
    images += run.train_size();
    state.SetIterationTime(metrics.train_seconds);
  }
  state.SetItemsProcessed(images);
}
BENCHMARK_CAPTURE(train_steps, cpu, device_kind::cpu)->Arg(64)->Arg(256)->UseManualTime()->Unit(benchmark::kMillisecond);

void evaluate_test_set(benchmark::State& state) {
  trainer run(config_for(device_kind::cpu, 64), sample());
  for (auto _ : state) benchmark::DoNotOptimize(run.evaluate_test());
  state.SetItemsProcessed(state.iterations() * run.test_size());
}
BENCHMARK(evaluate_test_set)->Unit(benchmark::kMillisecond);

// GPU variants register only where a GPU is usable.
const bool gpu_registered = [] {
  if (!kernels::probe_cuda().usable) return false;
  benchmark::RegisterBenchmark("train_steps/cuda", [](benchmark::State& state) { train_steps(state, device_kind::cuda); })
      ->Arg(128)
      ->Arg(1024)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
}  // namespace trackbench::trainer
