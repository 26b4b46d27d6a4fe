#pragma once
// What the CUDA runtime says about this machine, without any CUDA header.
#include <cstdint>
#include <string>
#include <vector>

namespace trackbench::kernels {

struct gpu_device {
  int index = 0;
  std::string name;
  std::string uuid;  // "GPU-xxxxxxxx-...", as nvidia-smi prints it
  int compute_major = 0;
  int compute_minor = 0;
  int sm_count = 0;
  std::uint64_t memory_bytes = 0;
};

struct cuda_report {
  bool built_with_cuda = false;
  bool usable = false;      // at least one GPU the runtime can use
  std::string reason;       // why not usable, in words; empty when usable
  int runtime_version = 0;  // CUDA encoding, 13000 for 13.0; 0 when unknown
  int driver_version = 0;   // highest CUDA version the driver supports; 0 without a driver
  std::vector<gpu_device> devices;
};

// Never throws: a missing driver or GPU is a fact to report, not a failure.
cuda_report probe_cuda();

// 13000 -> "13.0", 12040 -> "12.4", 0 -> "none".
std::string format_cuda_version(int version);

}  // namespace trackbench::kernels
