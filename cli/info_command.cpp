#include <fmt/format.h>

#include <cmath>

#include "commands.h"
#include "console.h"
#include "trackbench/kernels/cuda_device.h"
#include "trackbench/tracking/environment/environment.h"

namespace trackbench::cli {

command add_info_command(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Describe this machine: CPU, memory, OS, toolchain, LibTorch, CUDA, cuDNN, GPUs");
  auto as_json = std::make_shared<bool>(false);
  sub->add_flag("--json", *as_json, "Print the description as JSON");
  return {sub, [as_json] {
            const auto env = tracking::capture_environment();
            if (*as_json) {
              fmt::print("{}\n", tracking::to_json(env).dump(2));
              return 0;
            }
            const auto row = [](const std::string& key, const std::string& value) {
              fmt::print("{:<18} {}\n", key, value.empty() ? "unknown" : value);
            };
            row("cpu", env.cpu_model);
            row("cores / threads", fmt::format("{} / {} (LibTorch uses {})", env.cpu_cores, env.hardware_threads,
                                               env.libtorch_threads));
            row("memory", format_bytes(env.memory_bytes));
            row("os", env.os);
            row("kernel", env.kernel);
            row("hostname", env.hostname);
            row("compiler", fmt::format("{} ({}, {})", env.compiler, env.build_type, env.cxx_flags));
            row("cuda compiler", env.cuda.built_with_cuda ? env.cuda_compiler : "none (built without CUDA)");
            row("libtorch", env.libtorch_version);
            row("libtorch cuda", env.libtorch_cuda_version.empty() ? "none (CPU-only LibTorch)" : env.libtorch_cuda_version);
            row("cudnn", env.cudnn_version.empty() ? "none" : env.cudnn_version);
            row("cuda runtime", kernels::format_cuda_version(env.cuda.runtime_version));
            row("cuda driver", env.cuda.driver_version > 0 ? kernels::format_cuda_version(env.cuda.driver_version)
                                                           : "none (no NVIDIA driver loaded)");
            row("nvidia driver", env.nvidia_driver_version.empty()
                                     ? "none"
                                     : env.nvidia_driver_version + (env.nvml.driver_version.empty() ? " (/proc)" : " (NVML)"));
            if (!env.nvml.reason.empty()) row("nvml", printable(env.nvml.reason));
            if (!env.cuda.usable) {
              row("gpus", "no usable GPU: " + env.cuda.reason);
              return 0;
            }
            const auto gpus = tracking::to_json(env)["gpus"];
            for (std::size_t i = 0; i < env.cuda.devices.size(); ++i) {
              const auto& gpu = env.cuda.devices[i];
              row(fmt::format("gpu {}", gpu.index),
                  fmt::format("{}, compute capability {}.{}, {} SMs, {}, {}", gpu.name, gpu.compute_major,
                              gpu.compute_minor, gpu.sm_count, format_bytes(gpu.memory_bytes), gpu.uuid));
              const auto& managed = gpus[i];
              const auto mhz = [](const nlohmann::ordered_json& value) {
                return value.get<std::int64_t>() < 0 ? std::string("?") : std::to_string(value.get<std::int64_t>());
              };
              const double watts = managed["power_limit_watts"].get<double>();
              row("", fmt::format("PCI {}, SM {}/{} MHz, memory {}/{} MHz (now/max), power limit {}, ECC {}, "
                                  "persistence {}{}",
                                  managed["pci_bus_id"].get<std::string>().empty() ? "?" : managed["pci_bus_id"].get<std::string>(),
                                  mhz(managed["sm_clock_mhz"]), mhz(managed["sm_clock_max_mhz"]),
                                  mhz(managed["memory_clock_mhz"]), mhz(managed["memory_clock_max_mhz"]),
                                  std::isnan(watts) ? std::string("?") : fmt::format("{:.0f} W", watts),
                                  managed["ecc_mode"].get<std::string>(), managed["persistence_mode"].get<std::string>(),
                                  managed["nvml_reason"].get<std::string>().empty()
                                      ? ""
                                      : " (" + printable(managed["nvml_reason"].get<std::string>()) + ")"));
            }
            return 0;
          }};
}

}  // namespace trackbench::cli
