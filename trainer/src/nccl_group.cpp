// The GPU engine: NCCL through LibTorch's c10d (ProcessGroupNCCL), both shipped in the torch
// wheel, meeting its peers through a c10d::TCPStore at MASTER_ADDR:MASTER_PORT.
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "distributed_engines.h"
#include "trackbench/trainer/errors.h"

extern char** environ;

namespace trackbench::trainer {
namespace {

// With --deterministic: one algorithm, one protocol and a fixed number of channels, so each sum
// adds the ranks' values in one order for a given world size and buffer; NVLink SHARP (NVLS)
// reduces inside the switch, in an order NCCL does not fix.
constexpr const char* deterministic_settings[][2] = {{"NCCL_ALGO", "Ring"},
                                                     {"NCCL_PROTO", "Simple"},
                                                     {"NCCL_MIN_NCHANNELS", "4"},
                                                     {"NCCL_MAX_NCHANNELS", "4"},
                                                     {"NCCL_NVLS_ENABLE", "0"}};

std::string required_variable(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw input_error(std::string("the NCCL engine meets its peers at MASTER_ADDR:MASTER_PORT, and ") + name +
                      " is not set (torchrun sets both; under mpirun or srun export them)");
  }
  return value;
}

class nccl_group final : public process_group {
 public:
  nccl_group(const launch_info& launch, bool deterministic)
      : launch_(launch), device_(torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank)) {
    // The device first: NCCL's communicator binds to the current one.
    c10::cuda::set_device(device_.index());
    for (const auto& [name, value] : deterministic_settings) {
      if (deterministic) ::setenv(name, value, 0);
    }
    for (char** variable = environ; *variable != nullptr; ++variable) {
      const std::string entry(*variable);
      if (entry.rfind("NCCL_", 0) == 0) {
        const auto equals = entry.find('=');
        settings_[entry.substr(0, equals)] = entry.substr(equals + 1);
      }
    }
    const auto host = required_variable("MASTER_ADDR");
    const auto port_text = required_variable("MASTER_PORT");
    char* end = nullptr;
    const long port = std::strtol(port_text.c_str(), &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
      throw input_error("environment variable MASTER_PORT=" + port_text + ": expected a port from 1 to 65535");
    }
    const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(collective_timeout_seconds() * 1000));
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(port);
    options.numWorkers = launch_.world_size;
    options.timeout = timeout;
    const char* agent_store = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    if (agent_store != nullptr && std::strcmp(agent_store, "True") == 0) {
      // torchrun's agent already serves the store; its workers keep their keys under the
      // restart attempt, as PyTorch's own rendezvous does.
      options.isServer = false;
      const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
      store_ = c10::make_intrusive<c10d::PrefixStore>(std::string("/worker/attempt_") + (attempt ? attempt : "0"),
                                                      c10::make_intrusive<c10d::TCPStore>(host, options));
    } else {
      options.isServer = launch_.rank == 0;
      options.multiTenant = true;
      store_ = c10::make_intrusive<c10d::TCPStore>(host, options);
    }
    auto group_options = c10d::ProcessGroupNCCL::Options::create();
    group_options->timeout = timeout;
    group_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, launch_.rank, launch_.world_size, group_options);
  }

  std::string engine() const override { return "nccl"; }
  const launch_info& launch() const override { return launch_; }
  std::map<std::string, std::string> settings() const override { return settings_; }

  void broadcast(torch::Tensor& tensor, int root, const std::string& what) override {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    on_device(tensor, what, [&](std::vector<at::Tensor>& tensors) { return group_->broadcast(tensors, options); });
  }

  void all_reduce_sum(torch::Tensor& tensor, const std::string& what) override {
    on_device(tensor, what, [&](std::vector<at::Tensor>& tensors) { return group_->allreduce(tensors); });
  }

  void barrier(const std::string& what) override { wait(group_->barrier(), what); }

  // Through the store: a few short strings need no GPU buffers.
  std::vector<std::string> all_gather(const std::string& value, const std::string& what) override {
    const std::string prefix = "trackbench/gather/" + std::to_string(++gathers_) + "/";
    try {
      store_->set(prefix + std::to_string(launch_.rank), value);
      std::vector<std::string> values;
      for (int rank = 0; rank < launch_.world_size; ++rank) {
        const auto bytes = store_->get(prefix + std::to_string(rank));
        values.emplace_back(bytes.begin(), bytes.end());
      }
      return values;
    } catch (const c10::Error& e) {
      throw training_error("rank " + std::to_string(launch_.rank) + ": " + what + " failed: " + e.what_without_backtrace());
    }
  }

  void shutdown() override { group_->shutdown(); }

 private:
  // NCCL reduces device tensors: a CPU tensor (a generator's state) travels through the GPU.
  template <typename collective>
  void on_device(torch::Tensor& tensor, const std::string& what, collective run) {
    std::vector<at::Tensor> tensors{tensor.is_cuda() ? tensor : tensor.to(device_)};
    wait(run(tensors), what);
    if (!tensor.is_cuda()) tensor.copy_(tensors.front().cpu());
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) {
    try {
      work->wait();
    } catch (const c10::Error& e) {
      throw training_error("rank " + std::to_string(launch_.rank) + ": " + what + " failed: " + e.what_without_backtrace());
    }
  }

  launch_info launch_;
  torch::Device device_;
  std::map<std::string, std::string> settings_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> group_;
  std::int64_t gathers_ = 0;
};

}  // namespace

std::unique_ptr<process_group> make_nccl_group(const launch_info& launch, bool deterministic) {
  return std::make_unique<nccl_group>(launch, deterministic);
}

}  // namespace trackbench::trainer
