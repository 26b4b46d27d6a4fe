#pragma once
// The training loop: configuration, device choice, and a trainer that runs
// epochs on data kept resident on the training device.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/metrics.h"
#include "trackbench/trainer/model.h"

namespace trackbench::trainer {

enum class optimizer_kind { adam, sgd };
enum class device_kind { automatic, cpu, cuda };

optimizer_kind parse_optimizer(const std::string& name);  // throws input_error
std::string to_string(optimizer_kind kind);
device_kind parse_device(const std::string& name);  // auto, cpu, cuda; throws input_error
std::string to_string(device_kind kind);

// Everything that affects the result of a run.
struct train_config {
  std::string dataset = "mnist-sample";
  std::optional<std::filesystem::path> data_dir;
  conv_backend conv = conv_backend::cudnn;
  optimizer_kind optimizer = optimizer_kind::adam;
  double learning_rate = 1e-3;
  double momentum = 0.9;  // SGD only
  double weight_decay = 0.0;
  bool one_cycle = false;  // one-cycle learning rate: warm up to learning_rate, then anneal
  std::int64_t batch_size = 64;
  std::int64_t eval_batch_size = 1000;
  int epochs = 10;
  std::uint64_t seed = 1;
  int threads = 0;  // CPU threads; 0: every hardware thread
  bool deterministic = false;
  device_kind device = device_kind::automatic;
  double validation_fraction = 0.1;
};

// Throws input_error naming the flag of the first bad value.
void validate(const train_config& config);

// The device a run trains on; throws input_error when CUDA is asked for and unusable.
torch::Device resolve_device(device_kind kind);

// Learning rate at `step` (0-based) of `total_steps` under the one-cycle schedule:
// cosine warm-up from max/25 over the first 30% of steps, then cosine decay to max/25e4.
double one_cycle_learning_rate(double max_learning_rate, std::int64_t step, std::int64_t total_steps);

struct step_progress {
  int epoch = 0;
  int epochs = 0;
  std::int64_t step = 0;  // steps done this epoch
  std::int64_t steps = 0;
  double loss = 0.0;  // of the latest step
  double images_per_second = 0.0;
  double elapsed_seconds = 0.0;
};

// Receives the run's progress; the trainer calls it from its own thread.
class training_observer {
 public:
  virtual ~training_observer() = default;
  virtual void on_step(const step_progress& progress) { (void)progress; }
  virtual void on_epoch(const epoch_metrics& metrics) { (void)metrics; }
};

// Everything needed to continue a run exactly after `epochs_done` epochs, given the same
// config: the model's parameters, the optimizer's per-parameter state and the random
// generators' states. (Each epoch's shuffle derives from the seed and the epoch number, so it
// needs no state of its own.) Tensors are CPU copies, named by module path.
struct training_state {
  int epochs_done = 0;
  std::vector<std::pair<std::string, torch::Tensor>> parameters;       // conv1.weight, ...
  std::vector<std::pair<std::string, torch::Tensor>> optimizer_state;  // conv1.weight.exp_avg, conv1.weight.step, ...
  torch::Tensor cpu_generator;   // uint8 state of LibTorch's default CPU generator (dropout on the CPU)
  torch::Tensor cuda_generator;  // the same for the training GPU; undefined for CPU runs
};

class trainer {
 public:
  // Applies threads, seed and determinism settings, and moves the data to the device once.
  trainer(train_config config, const dataset& data);

  // Trains epoch `epoch` (1-based) and evaluates. Throws training_error on a non-finite loss.
  epoch_metrics train_epoch(int epoch, training_observer* observer = nullptr);

  // What one training step leaves on the training device, so that a GPU step does not wait for
  // the host: the batch's mean loss and its number of correct predictions (both 0-d).
  struct step_result {
    torch::Tensor loss;     // float32
    torch::Tensor correct;  // int64
  };
  // One optimizer step (forward, loss, backward, update) on the training images at `indices`
  // (int64 positions in the training split, on the training device), as train_epoch takes each
  // step; benchmarks time it alone. The loss is not checked: train_epoch does that.
  step_result train_step(const torch::Tensor& indices);
  // Epochs first_epoch..epochs of the config (all of them by default).
  std::vector<epoch_metrics> run(training_observer* observer = nullptr, int first_epoch = 1);

  training_state capture_state(int epochs_done);
  // Throws input_error when the state does not fit this model and optimizer.
  void restore_state(const training_state& state);

  classification_metrics evaluate_test();

  const train_config& config() const { return config_; }
  const torch::Device& device() const { return device_; }
  int threads() const { return threads_; }
  digit_cnn& model() { return model_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  std::int64_t train_size() const { return train_.labels.size(0); }
  std::int64_t validation_size() const { return validation_.labels.size(0); }
  std::int64_t test_size() const { return test_.labels.size(0); }
  std::int64_t steps_per_epoch() const;
  // The seeded train/validation split of the training set, and the seeds behind it and the shuffles.
  const train_validation_split& split() const { return split_; }
  std::uint64_t split_seed() const;
  std::uint64_t shuffle_seed(int epoch) const;

 private:
  struct resident_split {
    torch::Tensor images;  // uint8 [N,1,28,28] on the device
    torch::Tensor labels;  // int64 [N] on the device
  };

  torch::Tensor normalise(const torch::Tensor& images) const;
  classification_metrics evaluate(const resident_split& split);

  train_config config_;
  torch::Device device_;
  int threads_ = 0;
  train_validation_split split_;
  resident_split train_, validation_, test_;
  digit_cnn model_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

}  // namespace trackbench::trainer
