#include "trackbench/kernels/cuda_device.h"

#include <cstdio>

#if TRACKBENCH_WITH_CUDA
#include "cuda_check.h"
#endif

namespace trackbench::kernels {

std::string format_cuda_version(int version) {
  if (version <= 0) return "none";
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

#if TRACKBENCH_WITH_CUDA

namespace {

std::string format_uuid(const cudaUUID_t& uuid) {
  const auto* b = reinterpret_cast<const unsigned char*>(uuid.bytes);
  char text[48];
  std::snprintf(text, sizeof text,
                "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return text;
}

}  // namespace

cuda_report probe_cuda() {
  cuda_report report;
  report.built_with_cuda = true;
  cudaRuntimeGetVersion(&report.runtime_version);
  cudaDriverGetVersion(&report.driver_version);
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    report.reason = std::string("the CUDA runtime reports ") + cudaGetErrorName(status) + ": " +
                    cudaGetErrorString(status);
    if (report.driver_version == 0) report.reason += " (no NVIDIA driver is loaded)";
    return report;
  }
  if (count == 0) {
    report.reason = "the CUDA runtime sees no GPU";
    return report;
  }
  try {
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp props{};
      CUDA_CHECK(cudaGetDeviceProperties(&props, i));
      report.devices.push_back({i, props.name, format_uuid(props.uuid), props.major, props.minor,
                                props.multiProcessorCount,
                                static_cast<std::uint64_t>(props.totalGlobalMem)});
    }
  } catch (const cuda_error& e) {
    report.devices.clear();
    report.reason = e.what();
    return report;
  }
  report.usable = true;
  return report;
}

#else

cuda_report probe_cuda() {
  cuda_report report;
  report.reason = "this build of trackbench has no CUDA support (nvcc or a CUDA LibTorch was missing at build time)";
  return report;
}

#endif

}  // namespace trackbench::kernels
