#include "trackbench/tracking/environment/nvml.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace trackbench::tracking {
namespace {

// The few NVML declarations this file calls, as the NVML API reference documents them (there
// is no nvml.h to include where the driver is not installed).
using nvml_return = int;  // nvmlReturn_t
constexpr nvml_return nvml_success = 0;
struct nvml_device_st;
using nvml_device = nvml_device_st*;  // nvmlDevice_t
using nvml_clock_type = int;          // nvmlClockType_t
constexpr nvml_clock_type nvml_clock_sm = 1;
constexpr nvml_clock_type nvml_clock_mem = 2;
using nvml_enable_state = int;  // nvmlEnableState_t: NVML_FEATURE_DISABLED 0, NVML_FEATURE_ENABLED 1
constexpr unsigned driver_version_buffer = 80;  // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE
constexpr unsigned uuid_buffer = 96;            // NVML_DEVICE_UUID_V2_BUFFER_SIZE
struct nvml_pci_info {                          // nvmlPciInfo_t
  char bus_id_legacy[16];
  unsigned domain;
  unsigned bus;
  unsigned device;
  unsigned pci_device_id;
  unsigned pci_subsystem_id;
  char bus_id[32];
};
// Beyond any real machine: a count past it is a broken library, not GPUs.
constexpr unsigned max_devices = 1024;

struct library_closer {
  void operator()(void* handle) const { dlclose(handle); }
};

// The functions of one loaded library.
class nvml_api {
 public:
  explicit nvml_api(void* library) : library_(library) {}

  const std::string& missing() const { return missing_; }

  nvml_return (*init)() = nullptr;
  nvml_return (*shutdown)() = nullptr;
  const char* (*error_string)(nvml_return) = nullptr;
  nvml_return (*driver_version)(char*, unsigned) = nullptr;
  nvml_return (*device_count)(unsigned*) = nullptr;
  nvml_return (*device_by_index)(unsigned, nvml_device*) = nullptr;
  nvml_return (*uuid)(nvml_device, char*, unsigned) = nullptr;
  nvml_return (*pci_info)(nvml_device, nvml_pci_info*) = nullptr;
  nvml_return (*clock)(nvml_device, nvml_clock_type, unsigned*) = nullptr;
  nvml_return (*max_clock)(nvml_device, nvml_clock_type, unsigned*) = nullptr;
  nvml_return (*power_limit)(nvml_device, unsigned*) = nullptr;
  nvml_return (*ecc_mode)(nvml_device, nvml_enable_state*, nvml_enable_state*) = nullptr;
  nvml_return (*persistence_mode)(nvml_device, nvml_enable_state*) = nullptr;

  // Binds every function; false, with missing() naming the first absent one, when not all are there.
  bool bind_all() {
    bind(init, "nvmlInit_v2");
    bind(shutdown, "nvmlShutdown");
    bind(error_string, "nvmlErrorString");
    bind(driver_version, "nvmlSystemGetDriverVersion");
    bind(device_count, "nvmlDeviceGetCount_v2");
    bind(device_by_index, "nvmlDeviceGetHandleByIndex_v2");
    bind(uuid, "nvmlDeviceGetUUID");
    bind(pci_info, "nvmlDeviceGetPciInfo_v3");
    bind(clock, "nvmlDeviceGetClockInfo");
    bind(max_clock, "nvmlDeviceGetMaxClockInfo");
    bind(power_limit, "nvmlDeviceGetPowerManagementLimit");
    bind(ecc_mode, "nvmlDeviceGetEccMode");
    bind(persistence_mode, "nvmlDeviceGetPersistenceMode");
    return missing_.empty();
  }

  std::string describe(nvml_return status) const {
    const char* text = error_string(status);
    return text != nullptr ? std::string(text) : "NVML error " + std::to_string(status);
  }

 private:
  template <typename Function>
  void bind(Function*& target, const char* name) {
    target = reinterpret_cast<Function*>(dlsym(library_, name));
    if (target == nullptr && missing_.empty()) missing_ = name;
  }

  void* library_;
  std::string missing_;
};

std::string mode_name(nvml_enable_state state) { return state == 1 ? "enabled" : "disabled"; }

nvml_gpu describe_device(const nvml_api& api, nvml_device device) {
  nvml_gpu gpu;
  const auto note = [&](const char* field, nvml_return status) {
    if (status == nvml_success) return true;
    gpu.reason += (gpu.reason.empty() ? "" : "; ") + std::string(field) + ": " + api.describe(status);
    return false;
  };
  char uuid[uuid_buffer] = {};
  if (note("uuid", api.uuid(device, uuid, sizeof uuid))) gpu.uuid.assign(uuid, strnlen(uuid, sizeof uuid));
  nvml_pci_info pci{};
  if (note("pci_bus_id", api.pci_info(device, &pci))) gpu.pci_bus_id.assign(pci.bus_id, strnlen(pci.bus_id, sizeof pci.bus_id));
  const auto clock = [&](const char* field, auto query, nvml_clock_type type, std::int64_t& out) {
    unsigned mhz = 0;
    if (note(field, query(device, type, &mhz))) out = mhz;
  };
  clock("sm_clock_mhz", api.clock, nvml_clock_sm, gpu.sm_clock_mhz);
  clock("sm_clock_max_mhz", api.max_clock, nvml_clock_sm, gpu.sm_clock_max_mhz);
  clock("memory_clock_mhz", api.clock, nvml_clock_mem, gpu.memory_clock_mhz);
  clock("memory_clock_max_mhz", api.max_clock, nvml_clock_mem, gpu.memory_clock_max_mhz);
  unsigned milliwatts = 0;
  if (note("power_limit_watts", api.power_limit(device, &milliwatts))) gpu.power_limit_watts = milliwatts / 1000.0;
  nvml_enable_state current = 0;
  nvml_enable_state pending = 0;
  if (note("ecc_mode", api.ecc_mode(device, &current, &pending))) gpu.ecc_mode = mode_name(current);
  nvml_enable_state persistence = 0;
  if (note("persistence_mode", api.persistence_mode(device, &persistence))) gpu.persistence_mode = mode_name(persistence);
  return gpu;
}

}  // namespace

std::string nvml_library() {
  const char* named = std::getenv("TRACKBENCH_NVML_LIBRARY");
  return named != nullptr && *named != '\0' ? named : "libnvidia-ml.so.1";
}

nvml_report query_nvml() {
  nvml_report report;
  const std::string path = nvml_library();
  dlerror();
  const std::unique_ptr<void, library_closer> library(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!library) {
    const char* why = dlerror();
    report.reason = "cannot load " + path + ": " + (why != nullptr ? why : "unknown error");
    return report;
  }
  nvml_api api(library.get());
  if (!api.bind_all()) {
    report.reason = path + " lacks " + api.missing();
    return report;
  }
  if (const nvml_return status = api.init(); status != nvml_success) {
    report.reason = "nvmlInit_v2 failed: " + api.describe(status);
    return report;
  }
  report.loaded = true;
  char version[driver_version_buffer] = {};
  if (const nvml_return status = api.driver_version(version, sizeof version); status == nvml_success) {
    report.driver_version.assign(version, strnlen(version, sizeof version));
  } else {
    report.reason = "nvmlSystemGetDriverVersion failed: " + api.describe(status);
  }
  unsigned count = 0;
  if (const nvml_return status = api.device_count(&count); status != nvml_success) {
    report.reason += (report.reason.empty() ? "" : "; ") + std::string("nvmlDeviceGetCount_v2 failed: ") + api.describe(status);
    count = 0;
  }
  for (unsigned i = 0; i < count && i < max_devices; ++i) {
    nvml_device device = nullptr;
    if (const nvml_return status = api.device_by_index(i, &device); status != nvml_success) {
      nvml_gpu gpu;
      gpu.reason = "device " + std::to_string(i) + ": " + api.describe(status);
      report.gpus.push_back(std::move(gpu));
      continue;
    }
    report.gpus.push_back(describe_device(api, device));
  }
  api.shutdown();
  return report;
}

}  // namespace trackbench::tracking
