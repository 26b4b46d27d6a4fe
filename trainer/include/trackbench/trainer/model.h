#pragma once
// The digit CNN of PyTorch's examples/mnist, with its convolutions behind one
// seam so a run can choose which implementation computes them.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "trackbench/kernels/conv2d.h"
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

// A --conv choice: the backend, and for custom the CUDA kernels' version (kernels/conv2d.h).
struct conv_choice {
  conv_backend backend = conv_backend::cudnn;
  int kernel_version = kernels::conv2d_default_version;  // read by custom only
};
// The --conv names: the backends, where "custom" is the kernels' default version, and
// custom_v1 .. custom_vN for each version by number. Throws input_error naming them all.
conv_choice parse_conv(const std::string& name);
std::vector<std::string> conv_names();
// What a run records: custom_vN for custom, whatever the version (so a file keeps its meaning
// when the default changes), the backend's name otherwise.
std::string conv_name(conv_backend backend, int kernel_version);

// Where the backward mask of a ReLU fused into one convolution is applied, when the next
// layer is a convolution too. The custom op can zero the gradient in the next layer's
// grad-input epilogue (kernels::conv2d_backward_input_cuda's relu_input) instead of in a pass
// of its own; cuDNN ignores it (its ReLU is LibTorch's).
enum class relu_mask {
  own,            // the layer masks its own ReLU's gradient (the only choice without a next conv)
  by_next_layer,  // relu: the next convolution's grad-input applies the mask (it must say from_input)
  from_input,     // the input is the previous layer's ReLU output, whose mask this grad-input applies
};

// The seam: every convolution of the model goes through here (stride 1), with the ReLU that
// follows it, so backends that fuse it into their epilogue can.
// `precision` is the run's (--precision); cuDNN takes it from LibTorch's TF32 switch, which the
// trainer sets to match, and the custom op carries it to its kernels. `kernel_version` is the
// custom kernels' (0: the default); the other backends ignore it.
torch::Tensor conv2d(conv_backend backend, const torch::Tensor& input, const torch::Tensor& weight,
                     const torch::Tensor& bias, std::int64_t padding, bool relu,
                     kernels::precision precision = kernels::precision::fp32, relu_mask mask = relu_mask::own,
                     int kernel_version = 0);

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
                          kernels::precision precision = kernels::precision::fp32, int kernel_version = 0);
  torch::Tensor forward(torch::Tensor input);  // [N,1,28,28] float -> [N,10] log-probabilities
  conv_backend backend() const { return backend_; }
  kernels::precision precision() const { return precision_; }

 private:
  conv_backend backend_;
  kernels::precision precision_;
  int kernel_version_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  torch::nn::Dropout dropout1_{nullptr}, dropout2_{nullptr};
};
TORCH_MODULE_IMPL(digit_cnn, digit_cnn_impl);

}  // namespace trackbench::trainer
