// Tuning harness, grad-weight and grad-bias (harness.cuh says what it checks).
#include "harness.cuh"

int main(int argc, char** argv) {
  using namespace trackbench::kernels;
  harness::pass_driver d;
  d.which = harness::pass::backward_weight;
  d.name = "backward_weight (+ bias)";
  d.run_custom = [](harness::tensors& t, int version, precision math, float* workspace) {
    conv2d_backward_weight_cuda(t.input.data, t.grad_output.data, t.grad_weight.data, t.grad_bias.data, workspace,
                                t.shape, nullptr, version, math);
  };
  // grad_weight, then grad_bias.
  d.results = [](const harness::tensors& t) {
    auto results = t.grad_weight.download();
    const auto bias = t.grad_bias.download();
    results.insert(results.end(), bias.begin(), bias.end());
    return results;
  };
  d.reference = [](const harness::tensors& t) {
    std::vector<float> weight(static_cast<std::size_t>(t.grad_weight.count));
    std::vector<float> bias(static_cast<std::size_t>(t.grad_bias.count));
    conv2d_backward_weight_reference(t.host_input.data(), t.host_grad_output.data(), weight.data(), bias.data(),
                                     t.shape);
    weight.insert(weight.end(), bias.begin(), bias.end());
    return weight;
  };
  return harness::run(d, argc, argv);
}
