#pragma once
// LibTorch's SGD (momentum, L2 weight decay; no Nesterov, no dampening) whose update on CUDA
// reads the learning rate from a float32 device tensor, so that a step captured into a CUDA
// graph follows a changing rate (the one-cycle schedule) on replay. Eager CUDA steps read it
// from such a tensor too, filled from the options, and start a momentum buffer from zeros as a
// captured step does, so that a run is the same bits with CUDA graphs and without. On the CPU,
// until use_device_rate, it is torch::optim::SGD's own step. It keeps SGD's per-parameter state
// (the momentum buffer), so saving and restoring that state works as for torch::optim::SGD.
#include <torch/torch.h>

namespace trackbench::trainer {

class device_rate_sgd : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;
  // Nesterov, dampening and closures are refused (TORCH_CHECK): the trainer uses none of them.
  torch::Tensor step(LossClosure closure = nullptr) override;

  // For a step captured into a CUDA graph, whose replays cannot read host numbers: from here on
  // the rate is read from `learning_rate` (a float32 scalar on the parameters' device, which the
  // caller fills before each step), and missing momentum buffers are created now as zeros, so
  // that a capture allocates nothing that must outlive it (the first step's buffer is then
  // 0 * momentum + update, as eager CUDA steps compute it). One rate for every parameter: an
  // optimizer of several parameter groups, each with its own rate, is refused (c10::Error).
  void use_device_rate(torch::Tensor learning_rate);

 private:
  torch::Tensor learning_rate_;  // undefined: the options' rate
};

}  // namespace trackbench::trainer
