#pragma once
// What the NVIDIA Management Library says about the driver and each GPU, loaded at run time
// (dlopen), so a machine without the driver still runs: everything is then unavailable, with
// the reason, and nothing fails.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace trackbench::tracking {

// The library dlopen()s: TRACKBENCH_NVML_LIBRARY when set (tests point it at a fake), else
// libnvidia-ml.so.1, which the driver installs.
std::string nvml_library();

// One device as NVML lists it. A value NVML did not give is -1 (numbers), NaN (power), empty
// (bus id) or "unavailable" (modes), and `reason` says which and why.
struct nvml_gpu {
  std::string uuid;            // "GPU-xxxxxxxx-...", as CUDA and nvidia-smi print it
  std::string pci_bus_id;      // domain:bus:device.function, e.g. 00000000:19:00.0
  std::int64_t sm_clock_mhz = -1;          // current
  std::int64_t sm_clock_max_mhz = -1;
  std::int64_t memory_clock_mhz = -1;      // current
  std::int64_t memory_clock_max_mhz = -1;
  double power_limit_watts = std::numeric_limits<double>::quiet_NaN();  // the power management limit
  std::string ecc_mode = "unavailable";          // enabled or disabled (the current mode)
  std::string persistence_mode = "unavailable";  // enabled or disabled
  std::string reason;  // "ecc_mode: Not Supported; ..."; empty when NVML gave every value
};

struct nvml_report {
  bool loaded = false;         // the library loaded and nvmlInit_v2 succeeded
  std::string reason;          // why not, or what it could not say; empty when it said everything
  std::string driver_version;  // nvmlSystemGetDriverVersion, e.g. 580.159.04; empty when not loaded
  std::vector<nvml_gpu> gpus;  // every device NVML lists, in its order
};

// Never throws.
nvml_report query_nvml();

}  // namespace trackbench::tracking
