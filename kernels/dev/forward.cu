// Tuning harness, forward pass: output = conv(input, weight) + bias (harness.cuh says what it checks).
#include "harness.cuh"

int main(int argc, char** argv) {
  using namespace trackbench::kernels;
  harness::pass_driver d;
  d.which = harness::pass::forward;
  d.name = "forward";
  d.run_custom = [](harness::tensors& t, int version, precision math, float*) {
    conv2d_forward_cuda(t.input.data, t.weight.data, t.bias.data, t.output.data, t.shape, false, nullptr, version,
                        math);
  };
  d.results = [](const harness::tensors& t) { return t.output.download(); };
  d.reference = [](const harness::tensors& t) {
    std::vector<float> output(static_cast<std::size_t>(t.output.count));
    conv2d_forward_reference(t.host_input.data(), t.host_weight.data(), t.host_bias.data(), output.data(), t.shape,
                             false);
    return output;
  };
  return harness::run(d, argc, argv);
}
