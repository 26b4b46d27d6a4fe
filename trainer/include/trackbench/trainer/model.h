#pragma once
// The digit CNN of PyTorch's examples/mnist, with its convolutions behind one
// seam so a run can choose which implementation computes them.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "trackbench/kernels/precision.h"

namespace trackbench::trainer {

enum class conv_backend {
  cudnn,      // LibTorch's own convolution: cuDNN on GPU, oneDNN on CPU
  custom,     // the project's CUDA kernels (kernels/conv2d.h) as an autograd op; GPU only
  reference,  // the same autograd op computed by the kernels' CPU references; CPU only
};

conv_backend parse_conv_backend(const std::string& name);  // throws input_error
std::string to_string(conv_backend backend);
std::vector<std::string> conv_backend_names();

// The seam: every convolution of the model goes through here (stride 1), with the ReLU that
// follows it, so backends that fuse it into their epilogue can.
// `precision` is the run's (--precision); cuDNN takes it from LibTorch's TF32 switch, which the
// trainer sets to match, and the custom op carries it to its kernels.
torch::Tensor conv2d(conv_backend backend, const torch::Tensor& input, const torch::Tensor& weight,
                     const torch::Tensor& bias, std::int64_t padding, bool relu,
                     kernels::precision precision = kernels::precision::fp32);

// The block after the second convolution, 2x2 max pooling, ReLU and dropout, as one autograd
// op on the CPU: one pass over the convolution's output instead of four (max_pool2d, relu,
// bernoulli_, mul), and a backward that routes each gradient straight to the pixel that won its
// window. ReLU after the pooling gives the same values and gradients as before it (max and ReLU
// commute) on a quarter of the elements.
// input: [N, C, H, W] float32 on the CPU; output [N, C, H/2, W/2] (floor, as max_pool2d). Each
// output element is dropped with probability `drop`, the rest scaled by 1 / (1 - drop). The mask
// hashes the element's index with one 64-bit draw from LibTorch's default CPU generator per call,
// so it does not depend on the thread count, and the generator's state (saved with a run)
// decides it. drop = 0 (evaluation) draws nothing.
torch::Tensor pool_relu_dropout(const torch::Tensor& input, double drop);

// conv 1->32 3x3, ReLU, conv 32->64 3x3, ReLU, maxpool 2, dropout 0.25,
// fc 9216->128, ReLU, dropout 0.5, fc 128->10, log-softmax. On the CPU the pooling, its ReLU
// and the first dropout run as pool_relu_dropout, with its own dropout draws.
// Parameter names (conv1.weight, ..., fc2.bias) match the PyTorch example's.
class digit_cnn_impl : public torch::nn::Module {
 public:
  explicit digit_cnn_impl(conv_backend backend = conv_backend::cudnn,
                          kernels::precision precision = kernels::precision::fp32);
  torch::Tensor forward(torch::Tensor input);  // [N,1,28,28] float -> [N,10] log-probabilities
  conv_backend backend() const { return backend_; }
  kernels::precision precision() const { return precision_; }

 private:
  conv_backend backend_;
  kernels::precision precision_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  torch::nn::Dropout dropout1_{nullptr}, dropout2_{nullptr};
};
TORCH_MODULE_IMPL(digit_cnn, digit_cnn_impl);

}  // namespace trackbench::trainer
