#include "trackbench/tracking/environment/environment.h"

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <sys/utsname.h>
#include <torch/version.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "build_info.h"

namespace trackbench::tracking {
namespace {

std::string trim(std::string text) {
  const auto begin = text.find_first_not_of(" \t\"");
  const auto end = text.find_last_not_of(" \t\"");
  return begin == std::string::npos ? std::string() : text.substr(begin, end - begin + 1);
}

// The value after "key:" (cpuinfo, meminfo) or "key=" (os-release) on the first matching line.
std::string field(const char* path, const std::string& key, char separator) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find(separator);
    if (at != std::string::npos && trim(line.substr(0, at)) == key) return trim(line.substr(at + 1));
  }
  return {};
}

int physical_cores() {
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, package;
  while (std::getline(in, line)) {
    const auto at = line.find(':');
    if (at == std::string::npos) continue;
    const std::string key = trim(line.substr(0, at));
    if (key == "physical id") package = trim(line.substr(at + 1));
    if (key == "core id") cores.emplace(package, trim(line.substr(at + 1)));
  }
  return static_cast<int>(cores.size());
}

std::string nvidia_driver_version() {
  std::ifstream in("/proc/driver/nvidia/version");
  std::string line;
  return std::getline(in, line) ? parse_nvidia_driver_version(line) : std::string();
}

}  // namespace

// The proprietary module's line has the version right after "Kernel Module"; the open one's says
// "Kernel Module for x86_64  580.159.04", so the first word made of digits and dots is taken.
std::string parse_nvidia_driver_version(const std::string& line) {
  const std::string marker = "Kernel Module";
  const auto at = line.find(marker);
  if (at == std::string::npos) return {};
  std::istringstream rest(line.substr(at + marker.size()));
  std::string word;
  while (rest >> word) {
    const bool version_like = std::isdigit(static_cast<unsigned char>(word.front())) &&
                              word.find('.') != std::string::npos &&
                              word.find_first_not_of("0123456789.") == std::string::npos;
    if (version_like) return word;
  }
  return {};
}

std::string format_cudnn_version(long version) {
  if (version <= 0) return {};
  return std::to_string(version / 10000) + "." + std::to_string((version % 10000) / 100) + "." +
         std::to_string(version % 100);
}

environment capture_environment() {
  environment env;
  env.cpu_model = field("/proc/cpuinfo", "model name", ':');
  env.hardware_threads = static_cast<int>(std::thread::hardware_concurrency());
  env.cpu_cores = physical_cores();
  if (env.cpu_cores == 0) env.cpu_cores = env.hardware_threads;  // no core ids: a VM that hides topology
  env.libtorch_threads = at::get_num_threads();
  std::istringstream mem_total(field("/proc/meminfo", "MemTotal", ':'));
  std::uint64_t kib = 0;
  mem_total >> kib;
  env.memory_bytes = kib * 1024;
  env.os = field("/etc/os-release", "PRETTY_NAME", '=');
  utsname names{};
  if (uname(&names) == 0) {
    env.kernel = std::string(names.sysname) + " " + names.release + " " + names.machine;
  }
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) == 0) env.hostname = host;

  env.compiler = TRACKBENCH_BUILD_COMPILER;
  env.cxx_flags = TRACKBENCH_BUILD_CXX_FLAGS;
  env.build_type = TRACKBENCH_BUILD_TYPE;
  env.cuda_compiler = TRACKBENCH_BUILD_CUDA_COMPILER;
  env.libtorch_version = TORCH_VERSION;
  // A CPU-only LibTorch's hooks throw for every CUDA question: the fields stay empty.
  const auto& hooks = at::detail::getCUDAHooks();
  try {
    env.libtorch_cuda_version = kernels::format_cuda_version(static_cast<int>(hooks.versionCUDART()));
  } catch (const std::exception&) {
  }
  try {
    if (hooks.hasCuDNN()) env.cudnn_version = format_cudnn_version(hooks.versionRuntimeCuDNN());
  } catch (const std::exception&) {
  }
  env.cuda = kernels::probe_cuda();
  env.nvml = query_nvml();
  // NVML says what the driver is whichever kernel module is loaded; /proc is the fallback.
  env.nvidia_driver_version = env.nvml.driver_version.empty() ? nvidia_driver_version() : env.nvml.driver_version;
  return env;
}

nlohmann::ordered_json to_json(const environment& env) {
  nlohmann::ordered_json gpus = nlohmann::ordered_json::array();
  for (const auto& gpu : env.cuda.devices) {
    // CUDA and NVML number devices differently (CUDA_VISIBLE_DEVICES, fastest first): the UUID matches them.
    nvml_gpu managed;
    managed.reason = env.nvml.loaded ? "NVML lists no device " + gpu.uuid : "NVML not loaded";
    for (const auto& candidate : env.nvml.gpus) {
      if (!gpu.uuid.empty() && candidate.uuid == gpu.uuid) managed = candidate;
    }
    gpus.push_back({{"index", gpu.index},
                    {"name", gpu.name},
                    {"uuid", gpu.uuid},
                    {"compute_capability", std::to_string(gpu.compute_major) + "." + std::to_string(gpu.compute_minor)},
                    {"sm_count", gpu.sm_count},
                    {"memory_bytes", static_cast<std::int64_t>(gpu.memory_bytes)},
                    {"driver_version", env.nvidia_driver_version},
                    {"pci_bus_id", managed.pci_bus_id},
                    {"sm_clock_mhz", managed.sm_clock_mhz},
                    {"sm_clock_max_mhz", managed.sm_clock_max_mhz},
                    {"memory_clock_mhz", managed.memory_clock_mhz},
                    {"memory_clock_max_mhz", managed.memory_clock_max_mhz},
                    {"power_limit_watts", managed.power_limit_watts},
                    {"ecc_mode", managed.ecc_mode},
                    {"persistence_mode", managed.persistence_mode},
                    {"nvml_reason", managed.reason}});
  }
  return {{"cpu_model", env.cpu_model},
          {"cpu_cores", env.cpu_cores},
          {"hardware_threads", env.hardware_threads},
          {"libtorch_threads", env.libtorch_threads},
          {"memory_bytes", static_cast<std::int64_t>(env.memory_bytes)},
          {"os", env.os},
          {"kernel", env.kernel},
          {"hostname", env.hostname},
          {"compiler", env.compiler},
          {"cxx_flags", env.cxx_flags},
          {"build_type", env.build_type},
          {"cuda_compiler", env.cuda_compiler},
          {"libtorch_version", env.libtorch_version},
          {"libtorch_cuda_version", env.libtorch_cuda_version},
          {"cudnn_version", env.cudnn_version},
          {"cuda_built", env.cuda.built_with_cuda},
          {"cuda_usable", env.cuda.usable},
          {"cuda_reason", env.cuda.reason},
          {"cuda_runtime_version", kernels::format_cuda_version(env.cuda.runtime_version)},
          {"cuda_driver_version", kernels::format_cuda_version(env.cuda.driver_version)},
          {"nvidia_driver_version", env.nvidia_driver_version},
          {"nvml_reason", env.nvml.reason},
          {"gpus", gpus}};
}

}  // namespace trackbench::tracking
