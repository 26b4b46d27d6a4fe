#pragma once
// What a run ran on: machine, operating system, toolchain, libraries and GPUs.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "trackbench/kernels/cuda_device.h"
#include "trackbench/tracking/environment/nvml.h"

namespace trackbench::tracking {

struct environment {
  std::string cpu_model;
  int cpu_cores = 0;         // physical cores
  int hardware_threads = 0;  // logical processors
  int libtorch_threads = 0;  // LibTorch's intra-op default
  std::uint64_t memory_bytes = 0;
  std::string os;      // PRETTY_NAME of /etc/os-release
  std::string kernel;  // uname: sysname release machine
  std::string hostname;
  std::string compiler;  // what built trackbench
  std::string cxx_flags;
  std::string build_type;
  std::string cuda_compiler;  // empty in a build without CUDA
  std::string libtorch_version;
  std::string libtorch_cuda_version;  // CUDA LibTorch was built for; empty for a CPU LibTorch
  std::string cudnn_version;          // cuDNN LibTorch loads; empty when it has none
  std::string nvidia_driver_version;  // from NVML, else /proc/driver/nvidia/version; empty without a driver
  kernels::cuda_report cuda;
  nvml_report nvml;  // the driver and each GPU's clocks, power limit, ECC and persistence modes, PCI bus id
};

// Never throws; what cannot be read is left empty.
environment capture_environment();

// Flat, with the field names and types of a snapshot's /environment group (docs/snapshot-format.md);
// "gpus" is an array of per-GPU objects, each CUDA device with what NVML says about the device
// of the same UUID.
nlohmann::ordered_json to_json(const environment& env);

// "580.159.04" from the first line of /proc/driver/nvidia/version, as the proprietary and the
// open kernel module write it; empty when the line names no version.
std::string parse_nvidia_driver_version(const std::string& line);

// "9.19.0" from cuDNN's 91900 encoding.
std::string format_cudnn_version(long version);

}  // namespace trackbench::tracking
