#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "support/error_message.h"
#include "trackbench/kernels/conv2d.h"
#include "trackbench/kernels/cuda_device.h"
#include "trackbench/trainer/device_rate_sgd.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/fused_adam.h"
#include "trackbench/trainer/graph_shapes.h"
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

std::vector<torch::Tensor> parameters_of(trainer& run) {
  std::vector<torch::Tensor> weights;
  for (const auto& p : run.model()->parameters()) weights.push_back(p.detach().clone());
  return weights;
}

TEST(Train, TrainStepUpdatesEveryParameterAndFitsItsBatch) {
  trainer run(cpu_config(), small_sample(200));
  const auto batch = torch::arange(64, torch::kInt64);
  const auto before = parameters_of(run);
  const auto first = run.train_step(batch);
  const auto after = parameters_of(run);
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_FALSE(torch::equal(before[i], after[i])) << "parameter " << i;
  EXPECT_EQ(first.loss.dim(), 0);
  EXPECT_TRUE(std::isfinite(first.loss.item<float>()));
  const auto correct = first.correct.item<std::int64_t>();
  EXPECT_GE(correct, 0);
  EXPECT_LE(correct, 64);
  // Repeated steps on one batch memorise it.
  trainer::step_result last = first;
  for (int i = 0; i < 30; ++i) last = run.train_step(batch);
  EXPECT_LT(last.loss.item<float>(), 0.25f * first.loss.item<float>());
  EXPECT_GT(last.correct.item<std::int64_t>(), correct);
}

bool bitwise_equal(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return true;
}

std::vector<torch::Tensor> weights_after_one_epoch(const dataset& data, std::uint64_t seed) {
  auto config = cpu_config();
  config.deterministic = true;
  config.seed = seed;
  trainer run(config, data);
  run.train_epoch(1);
  return parameters_of(run);
}

TEST(Train, DeterministicRunsGiveBitwiseIdenticalWeights) {
  const auto data = small_sample(600);
  const auto first = weights_after_one_epoch(data, 5);
  EXPECT_TRUE(bitwise_equal(first, weights_after_one_epoch(data, 5)));
  EXPECT_FALSE(bitwise_equal(first, weights_after_one_epoch(data, 6))) << "a different seed must change the weights";
}

void expect_resume_matches_uninterrupted(train_config config) {
  const auto data = small_sample(640);
  config.deterministic = true;
  config.epochs = 3;
  trainer uninterrupted(config, data);
  uninterrupted.run();

  trainer first_part(config, data);
  first_part.train_epoch(1);
  const training_state state = first_part.capture_state(1);
  EXPECT_EQ(state.epochs_done, 1);
  EXPECT_EQ(state.parameters.size(), 8u);
  EXPECT_FALSE(state.optimizer_state.empty());

  trainer resumed(config, data);
  resumed.restore_state(state);
  resumed.run(nullptr, 2);
  EXPECT_TRUE(bitwise_equal(parameters_of(resumed), parameters_of(uninterrupted)));

  // Each part of the state matters: without it, or with other dropout draws, the run differs.
  trainer without_state(config, data);
  without_state.run(nullptr, 2);
  EXPECT_FALSE(bitwise_equal(parameters_of(without_state), parameters_of(uninterrupted)));
  trainer other_dropout(config, data);
  other_dropout.restore_state(state);
  torch::manual_seed(config.seed + 1);
  other_dropout.run(nullptr, 2);
  EXPECT_FALSE(bitwise_equal(parameters_of(other_dropout), parameters_of(uninterrupted)));
}

TEST(Train, ResumingFromCapturedStateIsBitwiseEqualWithAdam) { expect_resume_matches_uninterrupted(cpu_config()); }

TEST(Train, ResumingFromCapturedStateIsBitwiseEqualWithSgdMomentum) {
  auto config = cpu_config();
  config.optimizer = optimizer_kind::sgd;
  config.learning_rate = 0.01;
  expect_resume_matches_uninterrupted(config);
}

TEST(Train, RestoringAMismatchedStateIsRefused) {
  const auto data = small_sample(200);
  trainer run(cpu_config(), data);
  run.train_epoch(1);
  auto state = run.capture_state(1);
  state.parameters[0].second = torch::zeros({3});
  const auto message = error_message<input_error>([&] { run.restore_state(state); });
  EXPECT_NE(message.find("saved parameters 'conv1.weight' has shape [3]"), std::string::npos) << message;

  auto sgd_config = cpu_config();
  sgd_config.optimizer = optimizer_kind::sgd;
  trainer sgd_run(sgd_config, data);
  const auto before = parameters_of(sgd_run);
  const auto adam_state = run.capture_state(1);
  const auto mismatch = error_message<input_error>([&] { sgd_run.restore_state(adam_state); });
  EXPECT_NE(mismatch.find("which sgd does not keep"), std::string::npos) << mismatch;
  EXPECT_TRUE(bitwise_equal(parameters_of(sgd_run), before)) << "a refused state must change nothing";
}

// view_state hands out the live tensors (the recorder copies them once, into its records);
// capture_state copies, so training on does not change what it returned.
TEST(Train, ViewStateAliasesTheModelAndCaptureStateCopiesIt) {
  const auto data = small_sample(200);
  trainer run(cpu_config(), data);
  run.train_epoch(1);
  const auto view = run.view_state(1);
  const auto copy = run.capture_state(1);
  ASSERT_EQ(view.parameters.size(), copy.parameters.size());
  ASSERT_EQ(view.optimizer_state.size(), copy.optimizer_state.size());
  ASSERT_FALSE(view.optimizer_state.empty());
  for (std::size_t i = 0; i < view.parameters.size(); ++i) {
    EXPECT_TRUE(torch::equal(view.parameters[i].second, copy.parameters[i].second)) << view.parameters[i].first;
    EXPECT_NE(view.parameters[i].second.data_ptr(), copy.parameters[i].second.data_ptr()) << view.parameters[i].first;
  }
  const auto copied = copy.parameters[0].second.clone();
  run.train_epoch(2);
  EXPECT_FALSE(torch::equal(view.parameters[0].second, copied)) << "the view follows training";
  EXPECT_TRUE(torch::equal(copy.parameters[0].second, copied)) << "the copy does not";
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

// Five steps on the GPU with the rate and step counts as host numbers, then as the device
// tensors a captured step reads (no graph here: the same kernels, op by op).
std::vector<torch::Tensor> after_five_gpu_steps(bool device_scalars) {
  torch::manual_seed(21);
  const auto on_gpu = torch::TensorOptions().device(torch::kCUDA);
  std::vector<torch::Tensor> params{torch::randn({64, 32, 3, 3}, on_gpu).requires_grad_(),
                                    torch::randn({10}, on_gpu).requires_grad_()};
  // 1e-3, the default, is not a float: the rate the device tensor holds is rounded.
  fused_adam optimizer(params, torch::optim::AdamOptions(1e-3));
  if (device_scalars) optimizer.use_device_scalars(torch::full({}, 1e-3, on_gpu.dtype(torch::kFloat32)));
  for (int step = 0; step < 5; ++step) {
    optimizer.zero_grad();
    (params[0].sin().sum() + (params[1] * params[1]).sum() * 3).backward();
    optimizer.step();
  }
  optimizer.sync_host_steps();
  for (const auto& param : params) {
    EXPECT_EQ(static_cast<const torch::optim::AdamParamState&>(*optimizer.state().at(param.unsafeGetTensorImpl())).step(),
              5);
  }
  return {params[0].detach().cpu(), params[1].detach().cpu()};
}

TEST(Train, FusedAdamWithDeviceScalarsStepsBitwiseLikeHostScalarsOnGpu) {
  const auto cuda = kernels::probe_cuda();
  if (!cuda.usable) GTEST_SKIP() << "no usable CUDA device: " << cuda.reason;
  EXPECT_TRUE(bitwise_equal(after_five_gpu_steps(false), after_five_gpu_steps(true)));
}

// The same run with LibTorch's convolution and with the project's op: same seed, same
// initialisation, so the accuracies differ only through rounding.
void expect_trains_like_cudnn(train_config config, conv_backend backend) {
  const auto data = small_sample(1200);
  config.epochs = 2;
  trainer cudnn_run(config, data);
  const double cudnn_accuracy = cudnn_run.run().back().test.accuracy;
  config.conv = backend;
  trainer run(config, data);
  const double accuracy = run.run().back().test.accuracy;
  EXPECT_GT(cudnn_accuracy, 0.8);
  EXPECT_NEAR(accuracy, cudnn_accuracy, 0.02) << to_string(backend) << " against cudnn";
}

TEST(Train, ReferenceConvTrainsLikeCudnn) { expect_trains_like_cudnn(cpu_config(), conv_backend::reference); }

TEST(Train, CustomConvTrainsLikeCudnnOnGpu) {
  const auto cuda = kernels::probe_cuda();
  if (!cuda.usable) GTEST_SKIP() << "no usable CUDA device: " << cuda.reason;
  auto config = cpu_config();
  config.device = device_kind::cuda;
  expect_trains_like_cudnn(config, conv_backend::custom);
}

// The GPU checks of CUDA graphs: a graph run against the same run op by op, bitwise, with a
// partial last batch, dropout, the one-cycle rate and evaluation all replayed.
train_config gpu_graph_config(bool graphs, int kernel_version = kernels::conv2d_default_version) {
  auto config = cpu_config();
  config.device = device_kind::cuda;
  config.conv = conv_backend::custom;
  config.conv_version = kernel_version;
  config.deterministic = true;
  config.cuda_graphs = graphs;
  config.batch_size = 100;  // 576 training images: five full batches and one of 76
  config.epochs = 2;
  return config;
}

std::vector<epoch_metrics> two_epochs(const train_config& config, const dataset& data, std::vector<torch::Tensor>& weights) {
  trainer run(config, data);
  EXPECT_EQ(run.uses_cuda_graphs(), config.cuda_graphs);
  auto history = run.run();
  weights = parameters_of(run);
  return history;
}

void expect_graph_run_equals_eager_run(train_config config) {
  const auto data = small_sample(640);
  std::vector<torch::Tensor> eager_weights, graph_weights;
  config.cuda_graphs = false;
  const auto eager = two_epochs(config, data, eager_weights);
  config.cuda_graphs = true;
  const auto graphed = two_epochs(config, data, graph_weights);
  EXPECT_TRUE(bitwise_equal(eager_weights, graph_weights));
  ASSERT_EQ(eager.size(), graphed.size());
  for (std::size_t i = 0; i < eager.size(); ++i) {
    EXPECT_EQ(eager[i].train_loss, graphed[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(eager[i].train_accuracy, graphed[i].train_accuracy) << "epoch " << i + 1;
    EXPECT_EQ(eager[i].test.loss, graphed[i].test.loss) << "epoch " << i + 1;
    EXPECT_EQ(eager[i].test.confusion, graphed[i].test.confusion) << "epoch " << i + 1;
    ASSERT_TRUE(graphed[i].validation.has_value());
    EXPECT_EQ(eager[i].validation->loss, graphed[i].validation->loss) << "epoch " << i + 1;
    EXPECT_EQ(eager[i].learning_rate, graphed[i].learning_rate) << "epoch " << i + 1;
  }
}

// The default kernels, and v3 (implicit GEMM), whose kernels differ most from the others'.
constexpr int graphed_kernel_versions[] = {kernels::conv2d_default_version, 3};

TEST(Train, CudaGraphRunIsBitwiseEqualToTheEagerRunOnGpu) {
  const auto cuda = kernels::probe_cuda();
  if (!cuda.usable) GTEST_SKIP() << "no usable CUDA device: " << cuda.reason;
  for (const int version : graphed_kernel_versions) {
    SCOPED_TRACE("custom_v" + std::to_string(version));
    auto config = gpu_graph_config(true, version);
    config.one_cycle = true;
    expect_graph_run_equals_eager_run(config);
  }
}

TEST(Train, CudaGraphRunWithSgdMomentumIsBitwiseEqualToTheEagerRunOnGpu) {
  const auto cuda = kernels::probe_cuda();
  if (!cuda.usable) GTEST_SKIP() << "no usable CUDA device: " << cuda.reason;
  for (const int version : graphed_kernel_versions) {
    SCOPED_TRACE("custom_v" + std::to_string(version));
    auto config = gpu_graph_config(true, version);
    config.optimizer = optimizer_kind::sgd;
    config.learning_rate = 0.01;
    expect_graph_run_equals_eager_run(config);
    config.one_cycle = true;  // the rate read from the device on replay
    expect_graph_run_equals_eager_run(config);
  }
}

TEST(Train, ResumingUnderCudaGraphsIsBitwiseEqualOnGpu) {
  const auto cuda = kernels::probe_cuda();
  if (!cuda.usable) GTEST_SKIP() << "no usable CUDA device: " << cuda.reason;
  expect_resume_matches_uninterrupted(gpu_graph_config(true));
}

// Graphs stay off by default until a committed GPU result shows graph runs bitwise equal to
// eager runs, and faster.
TEST(Train, CudaGraphsAreOffByDefault) {
  EXPECT_FALSE(train_config{}.cuda_graphs);
  if (!kernels::probe_cuda().usable) return;  // the rest needs a GPU
  auto config = cpu_config();
  config.device = device_kind::cuda;
  EXPECT_FALSE(trainer(config, small_sample(100)).uses_cuda_graphs());
}

TEST(Train, CudaGraphsApplyOnlyWhereTheyCan) {
  auto config = cpu_config();
  config.cuda_graphs = true;
  trainer on_cpu(config, small_sample(100));
  EXPECT_FALSE(on_cpu.uses_cuda_graphs());
  EXPECT_GT(on_cpu.warmup_seconds(), 0.0);
  if (!kernels::probe_cuda().usable) return;  // the rest needs a GPU
  config = gpu_graph_config(true);
  config.optimizer = optimizer_kind::sgd;
  config.one_cycle = true;
  EXPECT_TRUE(trainer(config, small_sample(100)).uses_cuda_graphs()) << "SGD reads its one-cycle rate from the device";
}

// Every batch a graph run trains or evaluates on has its captured size, and warm-up, which runs
// each size on the split it names, can slice a batch of that size from it.
void expect_shapes_cover_every_batch(std::int64_t train_count, std::int64_t validation_count, std::int64_t test_count,
                                     std::int64_t batch_size, std::int64_t eval_batch_size) {
  SCOPED_TRACE(::testing::Message() << train_count << " by " << batch_size << "; " << validation_count << " and "
                                    << test_count << " by " << eval_batch_size);
  const auto shapes = graph_shapes_for(train_count, validation_count, test_count, batch_size, eval_batch_size);
  for (std::int64_t begin = 0; begin < train_count; begin += batch_size) {
    EXPECT_EQ(shapes.train.count(std::min(batch_size, train_count - begin)), 1u) << "training batch at " << begin;
  }
  for (const std::int64_t count : {validation_count, test_count}) {
    for (std::int64_t begin = 0; begin < count; begin += eval_batch_size) {
      EXPECT_EQ(shapes.evaluation.count(std::min(eval_batch_size, count - begin)), 1u) << "evaluation batch at " << begin;
    }
  }
  for (const auto& [size, split] : shapes.evaluation) {
    EXPECT_LE(size, split == evaluation_split::validation ? validation_count : test_count) << "warm-up batch " << size;
  }
}

TEST(Train, GraphShapesCoverEveryBatchOnASplitThatHasIt) {
  // A validation remainder (1500 in batches of 1000 leave 500) larger than the whole test set
  // (300): only the validation split has a batch of 500.
  const auto shapes = graph_shapes_for(576, 1500, 300, 100, 1000);
  EXPECT_EQ(shapes.train, (std::set<std::int64_t>{76, 100}));
  const std::map<std::int64_t, evaluation_split> expected{
      {300, evaluation_split::test}, {500, evaluation_split::validation}, {1000, evaluation_split::validation}};
  EXPECT_EQ(shapes.evaluation, expected);
  expect_shapes_cover_every_batch(576, 1500, 300, 100, 1000);
  expect_shapes_cover_every_batch(600, 0, 1000, 100, 1000);  // no remainders, no validation
  expect_shapes_cover_every_batch(50, 20, 2000, 64, 1000);   // a batch larger than the split
  expect_shapes_cover_every_batch(54000, 6000, 10000, 64, 1000);
}

TEST(Train, Tf32NeedsAGpu) {
  auto config = cpu_config();
  config.precision = kernels::precision::tf32;
  const auto message = error_message<input_error>([&] { trainer run(config, small_sample(100)); });
  EXPECT_NE(message.find("--precision tf32"), std::string::npos) << message;
  EXPECT_NE(message.find("needs a GPU"), std::string::npos) << message;
}

TEST(Train, ConvBackendMustSuitTheDevice) {
  if (kernels::probe_cuda().usable) GTEST_SKIP() << "a usable GPU is present; this checks --conv custom without one";
  auto config = cpu_config();
  config.conv = conv_backend::custom;
  const auto message = error_message<input_error>([&] { trainer run(config, small_sample(100)); });
  EXPECT_NE(message.find("--conv custom_v2 runs the CUDA kernels and needs a GPU"), std::string::npos) << message;
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

// Five steps of each optimizer from the same parameters and gradients.
template <typename Optimizer>
std::vector<torch::Tensor> after_five_steps(const torch::optim::AdamOptions& options) {
  torch::manual_seed(21);
  std::vector<torch::Tensor> params{torch::randn({64, 32, 3, 3}).requires_grad_(), torch::randn({10}).requires_grad_()};
  Optimizer optimizer(params, options);
  for (int step = 0; step < 5; ++step) {
    optimizer.zero_grad();
    (params[0].sin().sum() + (params[1] * params[1]).sum() * 3).backward();
    optimizer.step();
  }
  for (const auto& param : params) {
    const auto& state = static_cast<const torch::optim::AdamParamState&>(
        *optimizer.state().at(param.unsafeGetTensorImpl()));
    EXPECT_EQ(state.step(), 5);  // the state torch::optim::Adam saves and restores
  }
  return {params[0].detach(), params[1].detach()};
}

TEST(Train, FusedAdamStepsLikeLibtorchAdam) {
  for (const double weight_decay : {0.0, 0.01}) {
    const auto options = torch::optim::AdamOptions(1e-2).weight_decay(weight_decay);
    const auto fused = after_five_steps<fused_adam>(options);
    const auto plain = after_five_steps<torch::optim::Adam>(options);
    for (std::size_t i = 0; i < fused.size(); ++i) {
      const double worst = (fused[i] - plain[i]).abs().max().item<double>();
      EXPECT_LT(worst, 1e-6) << "parameter " << i << ", weight decay " << weight_decay;
    }
    torch::manual_seed(21);
    const auto initial = torch::randn({64, 32, 3, 3});
    // Adam moves each weight by about the learning rate per step, whatever the gradient's scale.
    EXPECT_GT((fused[0] - initial).abs().mean().item<double>(), 0.01) << "five steps at lr 0.01 moved the weights";
  }
}

// Five SGD steps (momentum, weight decay) from the same parameters and gradients, the rate
// changing each step as the one-cycle schedule changes it: through the options, or, when
// `device_rate`, through the tensor a captured step reads (the options then say 1.0, which
// would throw the weights far off).
std::vector<torch::Tensor> after_five_sgd_steps(torch::optim::SGD& optimizer, std::vector<torch::Tensor>& params,
                                                const torch::Tensor& device_rate) {
  const double rates[] = {0.01, 0.03, 0.05, 0.02, 0.004};
  for (const double rate : rates) {
    if (device_rate.defined()) {
      device_rate.fill_(rate);
    } else {
      optimizer.param_groups().front().options().set_lr(static_cast<float>(rate));
    }
    optimizer.zero_grad();
    (params[0].sin().sum() + (params[1] * params[1]).sum() * 3).backward();
    optimizer.step();
  }
  return {params[0].detach().clone(), params[1].detach().clone()};
}

std::vector<torch::Tensor> fresh_sgd_params() {
  torch::manual_seed(22);
  return {torch::randn({64, 32, 3, 3}).requires_grad_(), torch::randn({10}).requires_grad_()};
}

TEST(Train, DeviceRateSgdOnTheCpuIsLibtorchSgd) {
  const auto options = torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(1e-3);
  auto ours_params = fresh_sgd_params();
  device_rate_sgd ours(ours_params, options);
  auto plain_params = fresh_sgd_params();
  torch::optim::SGD plain(plain_params, options);
  const auto a = after_five_sgd_steps(ours, ours_params, {});
  const auto b = after_five_sgd_steps(plain, plain_params, {});
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
}

// With its rate on the device, a momentum buffer starts from zeros, as a captured step's does:
// the first step's buffer is 0 * momentum + update, which eager CUDA steps compute too. It
// equals the update but for a zero gradient's sign, which LibTorch's SGD (a clone) keeps.
TEST(Train, DeviceRateSgdStartsItsMomentumFromZeros) {
  const auto first_buffer = [](torch::optim::SGD& optimizer, torch::Tensor& param) {
    optimizer.zero_grad();
    (param * torch::tensor({-0.0f, 0.25f, -4.0f})).sum().backward();  // the gradient: -0, 0.25, -4
    optimizer.step();
    return static_cast<const torch::optim::SGDParamState&>(*optimizer.state().at(param.unsafeGetTensorImpl()))
        .momentum_buffer();
  };
  const auto options = torch::optim::SGDOptions(1.0).momentum(0.9);
  auto param = torch::tensor({1.0f, -2.0f, 3.0f}).requires_grad_();
  device_rate_sgd ours(std::vector<torch::Tensor>{param}, options);
  ours.use_device_rate(torch::full({}, 0.5f));
  const auto buffer = first_buffer(ours, param);
  EXPECT_TRUE(torch::equal(buffer, torch::tensor({0.0f, 0.25f, -4.0f}))) << buffer;
  EXPECT_FALSE(std::signbit(buffer[0].item<float>())) << "0 * momentum + -0 is +0";
  EXPECT_TRUE(torch::equal(param.detach(), torch::tensor({1.0f, -2.125f, 5.0f}))) << "parameter minus half the buffer";

  auto plain_param = torch::tensor({1.0f, -2.0f, 3.0f}).requires_grad_();
  torch::optim::SGD plain(std::vector<torch::Tensor>{plain_param}, options);
  EXPECT_TRUE(std::signbit(first_buffer(plain, plain_param)[0].item<float>())) << "LibTorch's clone keeps -0";
}

// One device rate serves every parameter, so an optimizer of several groups, each with a rate
// of its own, is refused before anything changes.
TEST(Train, DeviceRatesRefuseSeveralParameterGroups) {
  auto params = fresh_sgd_params();
  const std::vector<torch::optim::OptimizerParamGroup> groups{torch::optim::OptimizerParamGroup({params[0]}),
                                                              torch::optim::OptimizerParamGroup({params[1]})};
  const auto rate = torch::full({}, 0.01f);
  device_rate_sgd sgd(groups, torch::optim::SGDOptions(0.01).momentum(0.9));
  const auto sgd_message = error_message<c10::Error>([&] { sgd.use_device_rate(rate); });
  EXPECT_NE(sgd_message.find("use_device_rate reads one rate for every parameter, so it takes one parameter group; "
                             "this optimizer has 2"), std::string::npos) << sgd_message;
  EXPECT_TRUE(sgd.state().empty()) << "no momentum buffers created";
  fused_adam adam(groups, torch::optim::AdamOptions(0.01));
  const auto adam_message = error_message<c10::Error>([&] { adam.use_device_scalars(rate); });
  EXPECT_NE(adam_message.find("use_device_scalars reads one rate for every parameter, so it takes one parameter "
                              "group; this optimizer has 2"), std::string::npos) << adam_message;
  EXPECT_TRUE(adam.state().empty()) << "no Adam state created";
}

TEST(Train, DeviceRateSgdReadsItsRateFromTheTensor) {
  auto plain_params = fresh_sgd_params();
  torch::optim::SGD plain(plain_params, torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(1e-3));
  const auto expected = after_five_sgd_steps(plain, plain_params, {});
  auto params = fresh_sgd_params();
  device_rate_sgd ours(params, torch::optim::SGDOptions(1.0).momentum(0.9).weight_decay(1e-3));
  const auto rate = torch::zeros({}, torch::kFloat32);
  ours.use_device_rate(rate);
  for (const auto& param : params) {  // created as zeros, before any step
    const auto& slot = ours.state().at(param.unsafeGetTensorImpl());
    EXPECT_EQ(static_cast<const torch::optim::SGDParamState&>(*slot).momentum_buffer().abs().sum().item<double>(), 0.0);
  }
  const auto actual = after_five_sgd_steps(ours, params, rate);
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double worst = (actual[i] - expected[i]).abs().max().item<double>();
    EXPECT_LT(worst, 1e-5) << "parameter " << i;
  }
  const auto initial = fresh_sgd_params();
  EXPECT_GT((actual[0] - initial[0]).abs().mean().item<double>(), 1e-3) << "the steps moved the weights";
}

}  // namespace
}  // namespace trackbench::trainer
