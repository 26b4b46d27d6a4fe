// Tuning harness, grad-input with the ReLU mask training fuses into it (grad_input *= input > 0;
// the random input plays the ReLU's output). harness.cuh says what it checks.
#include "harness.cuh"

int main(int argc, char** argv) {
  using namespace trackbench::kernels;
  harness::pass_driver d;
  d.which = harness::pass::backward_input;
  d.name = "backward_input (ReLU-masked)";
  d.run_custom = [](harness::tensors& t, int version, precision math, float*) {
    conv2d_backward_input_cuda(t.grad_output.data, t.weight.data, t.grad_input.data, t.shape, nullptr, version, math,
                               t.input.data);
  };
  d.results = [](const harness::tensors& t) { return t.grad_input.download(); };
  d.reference = [](const harness::tensors& t) {
    std::vector<float> grad_input(static_cast<std::size_t>(t.grad_input.count));
    conv2d_backward_input_reference(t.host_grad_output.data(), t.host_weight.data(), grad_input.data(), t.shape);
    for (std::size_t e = 0; e < grad_input.size(); ++e) {
      if (!(t.host_input[e] > 0.0f)) grad_input[e] = 0.0f;
    }
    return grad_input;
  };
  return harness::run(d, argc, argv);
}
