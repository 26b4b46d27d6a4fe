#include <gtest/gtest.h>

#include "support/error_message.h"
#include "trackbench/kernels/cuda_device.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/train.h"

namespace trackbench::trainer {
namespace {

using testing::error_message;

// The embedded sample cut to `train_count` training images, to keep each test to seconds.
dataset small_sample(std::int64_t train_count) {
  auto data = load_dataset("mnist-sample", std::nullopt);
  data.train.images = data.train.images.slice(0, 0, train_count);
  data.train.labels = data.train.labels.slice(0, 0, train_count);
  return data;
}

train_config cpu_config() {
  train_config config;
  config.device = device_kind::cpu;
  config.epochs = 1;
  config.threads = 2;
  return config;
}

TEST(Train, OneShortEpochLowersTheLoss) {
  const auto data = small_sample(1200);
  trainer run(cpu_config(), data);
  const double before = run.evaluate_test().loss;
  const auto metrics = run.train_epoch(1);
  EXPECT_LT(metrics.test.loss, 0.7 * before) << "before " << before;
  EXPECT_GT(metrics.test.accuracy, 0.5);
  EXPECT_EQ(run.train_size() + run.validation_size(), 1200);
  EXPECT_EQ(run.validation_size(), 120);
  ASSERT_TRUE(metrics.validation.has_value());
  EXPECT_GT(metrics.images_per_second, 0.0);
  EXPECT_GT(metrics.peak_rss_bytes, 0);
  EXPECT_FALSE(metrics.peak_cuda_bytes.has_value());
  std::int64_t counted = 0;
  for (const auto& row : metrics.test.confusion) {
    for (auto cell : row) counted += cell;
  }
  EXPECT_EQ(counted, run.test_size());
}

std::vector<torch::Tensor> weights_after_one_epoch(const dataset& data, std::uint64_t seed) {
  auto config = cpu_config();
  config.deterministic = true;
  config.seed = seed;
  trainer run(config, data);
  run.train_epoch(1);
  std::vector<torch::Tensor> weights;
  for (const auto& p : run.model()->parameters()) weights.push_back(p.detach().clone());
  return weights;
}

TEST(Train, DeterministicRunsGiveBitwiseIdenticalWeights) {
  const auto data = small_sample(600);
  const auto first = weights_after_one_epoch(data, 5);
  const auto second = weights_after_one_epoch(data, 5);
  const auto other_seed = weights_after_one_epoch(data, 6);
  ASSERT_EQ(first.size(), second.size());
  bool all_equal = true;
  bool any_differs_from_other_seed = false;
  for (std::size_t i = 0; i < first.size(); ++i) {
    all_equal = all_equal && torch::equal(first[i], second[i]);
    any_differs_from_other_seed = any_differs_from_other_seed || !torch::equal(first[i], other_seed[i]);
  }
  EXPECT_TRUE(all_equal);
  EXPECT_TRUE(any_differs_from_other_seed) << "a different seed must change the weights";
}

TEST(Train, NonFiniteLossNamesEpochAndStep) {
  const auto data = small_sample(640);
  auto config = cpu_config();
  config.optimizer = optimizer_kind::sgd;
  config.learning_rate = 1e30;  // the first update overflows the weights
  trainer run(config, data);
  const auto message = error_message<training_error>([&] { run.train_epoch(1); });
  EXPECT_NE(message.find("at epoch 1, step 2 of 9"), std::string::npos) << message;
}

TEST(Train, MissingGpuWithDeviceCudaIsAClearError) {
  if (kernels::probe_cuda().usable) GTEST_SKIP() << "a usable GPU is present; this checks its absence";
  const auto data = small_sample(100);
  auto config = cpu_config();
  config.device = device_kind::cuda;
  const auto message = error_message<input_error>([&] { trainer run(config, data); });
  EXPECT_NE(message.find("--device cuda: no usable CUDA GPU"), std::string::npos) << message;
}

TEST(Train, AutoDeviceFallsBackToCpuWithoutGpu) {
  if (kernels::probe_cuda().usable) GTEST_SKIP() << "a usable GPU is present; auto picks it";
  EXPECT_TRUE(resolve_device(device_kind::automatic).is_cpu());
}

TEST(Train, ValidationNamesTheFlag) {
  auto config = cpu_config();
  config.batch_size = 0;
  EXPECT_NE(error_message<input_error>([&] { validate(config); }).find("--batch-size"), std::string::npos);
  config = cpu_config();
  config.learning_rate = std::nan("");
  EXPECT_NE(error_message<input_error>([&] { validate(config); }).find("--lr"), std::string::npos);
  config = cpu_config();
  config.validation_fraction = 1.0;
  EXPECT_NE(error_message<input_error>([&] { validate(config); }).find("--validation-fraction"), std::string::npos);
}

TEST(Train, OneCycleWarmsUpThenAnneals) {
  const double peak = 0.01;
  const std::int64_t total = 1000;
  EXPECT_NEAR(one_cycle_learning_rate(peak, 0, total), peak / 25.0, 1e-12);
  double highest = 0.0;
  std::int64_t highest_step = 0;
  for (std::int64_t step = 0; step < total; ++step) {
    const double lr = one_cycle_learning_rate(peak, step, total);
    if (lr > highest) {
      highest = lr;
      highest_step = step;
    }
  }
  EXPECT_NEAR(highest, peak, 1e-9);
  EXPECT_NEAR(static_cast<double>(highest_step), 299.0, 1.0);
  EXPECT_NEAR(one_cycle_learning_rate(peak, total - 1, total), peak / 25.0 / 1e4, 1e-12);
}

TEST(Train, OneCycleRunEndsAtItsFloor) {
  const auto data = small_sample(320);
  auto config = cpu_config();
  config.one_cycle = true;
  config.epochs = 2;
  trainer run(config, data);
  const auto history = run.run();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_GT(history[0].learning_rate, history[1].learning_rate);
  EXPECT_NEAR(history[1].learning_rate, config.learning_rate / 25.0 / 1e4, 1e-12);
}

TEST(Train, NamesRoundTrip) {
  for (auto kind : {optimizer_kind::adam, optimizer_kind::sgd}) EXPECT_EQ(parse_optimizer(to_string(kind)), kind);
  for (auto kind : {device_kind::automatic, device_kind::cpu, device_kind::cuda}) EXPECT_EQ(parse_device(to_string(kind)), kind);
  EXPECT_THROW(parse_device("tpu"), input_error);
  EXPECT_THROW(parse_optimizer("lion"), input_error);
}

}  // namespace
}  // namespace trackbench::trainer
