#pragma once
// The training loop: configuration, device choice, and a trainer that runs
// epochs on data kept resident on the training device.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "trackbench/trainer/config.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/distributed.h"
#include "trackbench/trainer/metrics.h"

namespace trackbench::trainer {

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
  // Applies threads, seed, determinism and precision settings, and moves the data to the device once.
  trainer(train_config config, const dataset& data);
  ~trainer();
  trainer(const trainer&) = delete;
  trainer& operator=(const trainer&) = delete;

  // The set-up before the first step that depends on the state training starts from: on CUDA
  // with graphs, capturing them (after a few eager steps whose effects are then undone). Call
  // it after restore_state; train_epoch, train_step and evaluate_test call it when it has not
  // run. Its time adds to warmup_seconds().
  void prepare();
  // Whether the steps run as CUDA graph replays: config cuda_graphs on a CUDA device, in a run of
  // one process (data-parallel steps run eagerly). Both optimizers, with or without --one-cycle,
  // read their rate from the device on replay.
  bool uses_cuda_graphs() const;

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
  // step; benchmarks time it alone. The loss is not checked: train_epoch does that. With CUDA
  // graphs a step of a captured batch size is a replay, whose results the next replay overwrites.
  step_result train_step(const torch::Tensor& indices);
  // The ranks this trainer trains with (one, without a launcher): each takes its share of every
  // global batch of batch_size x world_size images and of each evaluation.
  process_group& group() const { return *group_; }
  std::int64_t global_batch_size() const { return config_.batch_size * group_->world_size(); }
  // Epochs first_epoch..epochs of the config (all of them by default).
  std::vector<epoch_metrics> run(training_observer* observer = nullptr, int first_epoch = 1);

  // Copies on the CPU of the parameters, the optimizer state and the generators' states.
  training_state capture_state(int epochs_done);
  // The same state uncopied: the model's and optimizer's own tensors, on the training device,
  // valid until the next step changes them. For a caller that copies what it keeps at once (the
  // snapshot recorder copies straight into its records, one copy instead of two).
  training_state view_state(int epochs_done);
  // Throws input_error when the state does not fit this model and optimizer. Not after
  // prepare() captured CUDA graphs, which hold the state's tensors (std::logic_error).
  void restore_state(const training_state& state);

  classification_metrics evaluate_test();

  // Wall time of the set-up before the first step: seeding, the split, the data and the model
  // on the device (with the CUDA context on a GPU), and prepare(). Time to a target counts it.
  double warmup_seconds() const { return warmup_seconds_; }
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

  struct cuda_graphs;  // the captured graphs and their static buffers (train_graphs.cpp)

  torch::Tensor normalise(const torch::Tensor& images) const;
  // One step as LibTorch runs it op by op: what train_step runs without graphs, and what the
  // training graphs capture.
  step_result eager_step(const torch::Tensor& indices);
  // One data-parallel step: this rank's share of a global batch of `global_count` images
  // (possibly none), the gradients averaged over the global batch through the group, then the
  // update every rank makes alike. The result is the global batch's loss and correct count.
  step_result data_parallel_step(const torch::Tensor& indices, std::int64_t global_count);
  // Sets the optimizer's rate, and the device copy a graph replay reads.
  void apply_learning_rate(double learning_rate);
  classification_metrics evaluate(const resident_split& split);
  // train_graphs.cpp: capture, and the replays that stand in for eager_step and evaluate.
  void capture_graphs();
  // Replays the training graph of `indices`' batch size: the step, its loss into the epoch's
  // losses at `step`, its loss and correct count added to the epoch's totals.
  step_result replay_step(const torch::Tensor& indices, std::int64_t step);
  bool has_step_graph(std::int64_t batch_size) const;
  classification_metrics evaluate_with_graphs(const resident_split& split);
  // The epoch totals the training graphs add to, zeroed: losses per step, loss sum, correct.
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> zeroed_graph_totals();

  train_config config_;
  torch::Device device_;
  process_group* group_ = nullptr;
  int threads_ = 0;
  double warmup_seconds_ = 0.0;
  train_validation_split split_;
  resident_split train_, validation_, test_;
  digit_cnn model_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  bool prepared_ = false;
  std::unique_ptr<cuda_graphs> graphs_;  // set by prepare() when uses_cuda_graphs()
};

}  // namespace trackbench::trainer
