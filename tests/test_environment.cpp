#include <gtest/gtest.h>
#include <torch/torch.h>

#include "trackbench/kernels/cuda_device.h"
#include "trackbench/tracking/environment.h"

namespace trackbench::tracking {
namespace {

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

TEST(Environment, VersionFormats) {
  EXPECT_EQ(kernels::format_cuda_version(13000), "13.0");
  EXPECT_EQ(kernels::format_cuda_version(12040), "12.4");
  EXPECT_EQ(kernels::format_cuda_version(0), "none");
  EXPECT_EQ(format_cudnn_version(91900), "9.19.0");
  EXPECT_EQ(format_cudnn_version(0), "");
}

}  // namespace
}  // namespace trackbench::tracking
