#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "trackbench/kernels/cuda_device.h"
#include "trackbench/tracking/environment/environment.h"
#include "trackbench/tracking/environment/nvml.h"

namespace trackbench::tracking {
namespace {

// Points TRACKBENCH_NVML_LIBRARY at `library` for the test's lifetime.
class nvml_library_override {
 public:
  explicit nvml_library_override(const char* library) {
    if (const char* old = std::getenv("TRACKBENCH_NVML_LIBRARY")) saved_ = old;
    setenv("TRACKBENCH_NVML_LIBRARY", library, 1);
  }
  ~nvml_library_override() {
    if (saved_) {
      setenv("TRACKBENCH_NVML_LIBRARY", saved_->c_str(), 1);
    } else {
      unsetenv("TRACKBENCH_NVML_LIBRARY");
    }
  }
  nvml_library_override(const nvml_library_override&) = delete;
  nvml_library_override& operator=(const nvml_library_override&) = delete;

 private:
  std::optional<std::string> saved_;
};

// The UUIDs tests/support/fake_nvml.cpp lists.
constexpr const char* fake_gpu_0 = "GPU-00000000-1111-2222-3333-444444444444";
constexpr const char* fake_gpu_1 = "GPU-55555555-6666-7777-8888-999999999999";

TEST(Environment, DescribesThisMachine) {
  const auto env = capture_environment();
  EXPECT_FALSE(env.cpu_model.empty());
  EXPECT_GE(env.cpu_cores, 1);
  EXPECT_GE(env.hardware_threads, env.cpu_cores);
  EXPECT_GT(env.memory_bytes, 0u);
  EXPECT_FALSE(env.os.empty());
  EXPECT_EQ(env.kernel.rfind("Linux ", 0), 0u) << env.kernel;
  EXPECT_FALSE(env.compiler.empty());
  EXPECT_EQ(env.libtorch_version, TORCH_VERSION);
}

TEST(Environment, DriverVersionFromEitherKernelModule) {
  EXPECT_EQ(parse_nvidia_driver_version(
                "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 06:54:38 UTC 2025"),
            "580.65.06");
  // The open kernel module's line, as an H200 machine wrote it (recorded as "for" before).
  EXPECT_EQ(parse_nvidia_driver_version("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  "
                                        "Release Build  (dvs-builder@U22-I3-AF03-09-1)  Thu Oct 23 2025"),
            "580.159.04");
  EXPECT_EQ(parse_nvidia_driver_version("NVRM version: something else"), "");
  EXPECT_EQ(parse_nvidia_driver_version("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64"), "");
}

TEST(Environment, JsonCarriesEveryField) {
  const auto json = to_json(capture_environment());
  for (const char* key : {"cpu_model", "cpu_cores", "hardware_threads", "memory_bytes", "os", "kernel", "hostname",
                          "compiler", "build_type", "libtorch_version", "cudnn_version", "cuda_usable",
                          "cuda_runtime_version", "nvidia_driver_version"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
  EXPECT_TRUE(json["gpus"].is_array());
}

TEST(Environment, NoGpuIsReportedWithAReason) {
  const auto cuda = kernels::probe_cuda();
  if (cuda.usable) GTEST_SKIP() << "a usable GPU is present: " << cuda.devices.front().name;
  EXPECT_TRUE(cuda.devices.empty());
  EXPECT_FALSE(cuda.reason.empty());
}

TEST(Environment, GpusAreDescribedWhenPresent) {
  const auto cuda = kernels::probe_cuda();
  if (!cuda.usable) GTEST_SKIP() << "no usable GPU: " << cuda.reason;
  ASSERT_FALSE(cuda.devices.empty());
  for (const auto& gpu : cuda.devices) {
    EXPECT_FALSE(gpu.name.empty());
    EXPECT_EQ(gpu.uuid.rfind("GPU-", 0), 0u);
    EXPECT_GE(gpu.compute_major, 7);
    EXPECT_GT(gpu.sm_count, 0);
    EXPECT_GT(gpu.memory_bytes, 0u);
  }
  EXPECT_GT(cuda.driver_version, 0);
}

TEST(Environment, NvmlAnswersAreRecordedPerDevice) {
  const nvml_library_override fake(TRACKBENCH_FAKE_NVML);
  const auto report = query_nvml();
  ASSERT_TRUE(report.loaded) << report.reason;
  EXPECT_EQ(report.reason, "");
  EXPECT_EQ(report.driver_version, "999.12.34");
  ASSERT_EQ(report.gpus.size(), 2u);

  const auto& first = report.gpus[0];
  EXPECT_EQ(first.uuid, fake_gpu_0);
  EXPECT_EQ(first.pci_bus_id, "00000000:19:00.0");
  EXPECT_EQ(first.sm_clock_mhz, 1755);
  EXPECT_EQ(first.sm_clock_max_mhz, 1980);
  EXPECT_EQ(first.memory_clock_mhz, 2619);
  EXPECT_EQ(first.memory_clock_max_mhz, 2619);
  EXPECT_DOUBLE_EQ(first.power_limit_watts, 700.0);
  EXPECT_EQ(first.ecc_mode, "enabled");
  EXPECT_EQ(first.persistence_mode, "enabled");
  EXPECT_EQ(first.reason, "");

  // What a device does not support is unavailable, with NVML's reason, and the rest is kept.
  const auto& second = report.gpus[1];
  EXPECT_EQ(second.uuid, fake_gpu_1);
  EXPECT_EQ(second.sm_clock_mhz, 210);
  EXPECT_EQ(second.memory_clock_max_mhz, 10501);
  EXPECT_TRUE(std::isnan(second.power_limit_watts));
  EXPECT_EQ(second.ecc_mode, "unavailable");
  EXPECT_EQ(second.persistence_mode, "disabled");
  EXPECT_EQ(second.reason, "power_limit_watts: Not Supported; ecc_mode: Not Supported");
}

TEST(Environment, NvmlDriverVersionAndGpusByUuid) {
  const nvml_library_override fake(TRACKBENCH_FAKE_NVML);
  auto env = capture_environment();
  EXPECT_EQ(env.nvidia_driver_version, "999.12.34");
  // CUDA's device 0 is NVML's device 1 here (CUDA orders fastest first); one device NVML does not list.
  kernels::gpu_device listed;
  listed.index = 0;
  listed.uuid = fake_gpu_1;
  kernels::gpu_device unlisted;
  unlisted.index = 1;
  unlisted.uuid = "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
  env.cuda.devices = {listed, unlisted};
  const auto json = to_json(env);
  EXPECT_EQ(json["nvml_reason"], "");
  ASSERT_EQ(json["gpus"].size(), 2u);
  EXPECT_EQ(json["gpus"][0]["pci_bus_id"], "00000000:3B:00.0");
  EXPECT_EQ(json["gpus"][0]["sm_clock_max_mhz"], 2100);
  EXPECT_EQ(json["gpus"][0]["driver_version"], "999.12.34");
  EXPECT_EQ(json["gpus"][0]["nvml_reason"], "power_limit_watts: Not Supported; ecc_mode: Not Supported");
  EXPECT_EQ(json["gpus"][1]["pci_bus_id"], "");
  EXPECT_EQ(json["gpus"][1]["sm_clock_mhz"], -1);
  EXPECT_EQ(json["gpus"][1]["ecc_mode"], "unavailable");
  EXPECT_EQ(json["gpus"][1]["nvml_reason"], "NVML lists no device GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
}

TEST(Environment, WithoutNvmlTheDriverComesFromProcAndTheReasonIsRecorded) {
  const nvml_library_override absent("/nonexistent/libnvidia-ml.so.1");
  const auto report = query_nvml();
  EXPECT_FALSE(report.loaded);
  EXPECT_EQ(report.reason.rfind("cannot load /nonexistent/libnvidia-ml.so.1: ", 0), 0u) << report.reason;
  EXPECT_TRUE(report.gpus.empty());

  auto env = capture_environment();
  std::ifstream proc("/proc/driver/nvidia/version");
  std::string line;
  EXPECT_EQ(env.nvidia_driver_version, std::getline(proc, line) ? parse_nvidia_driver_version(line) : "");
  kernels::gpu_device gpu;
  gpu.uuid = fake_gpu_0;
  env.cuda.devices = {gpu};
  const auto json = to_json(env);
  EXPECT_EQ(json["nvml_reason"], report.reason);
  EXPECT_EQ(json["gpus"][0]["nvml_reason"], "NVML not loaded");
  EXPECT_EQ(json["gpus"][0]["persistence_mode"], "unavailable");
  EXPECT_TRUE(std::isnan(json["gpus"][0]["power_limit_watts"].get<double>()));
}

TEST(Environment, ALibraryWithoutNvmlIsNamedWithTheMissingFunction) {
  const nvml_library_override other("libm.so.6");
  const auto report = query_nvml();
  EXPECT_FALSE(report.loaded);
  EXPECT_EQ(report.reason, "libm.so.6 lacks nvmlInit_v2");
}

TEST(Environment, VersionFormats) {
  EXPECT_EQ(kernels::format_cuda_version(13000), "13.0");
  EXPECT_EQ(kernels::format_cuda_version(12040), "12.4");
  EXPECT_EQ(kernels::format_cuda_version(0), "none");
  EXPECT_EQ(format_cudnn_version(91900), "9.19.0");
  EXPECT_EQ(format_cudnn_version(0), "");
}

}  // namespace
}  // namespace trackbench::tracking
