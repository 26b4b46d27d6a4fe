// A stand-in for libnvidia-ml.so.1 with the functions trackbench calls, answering fixed values
// for two devices, so the NVML path is tested on machines without a driver
// (TRACKBENCH_NVML_LIBRARY names it). Device 1 supports neither ECC nor a power limit, as a
// consumer card answers NVML_ERROR_NOT_SUPPORTED.
#include <cstdio>
#include <cstring>

namespace {

constexpr int success = 0;
constexpr int invalid_argument = 2;
constexpr int not_supported = 3;
constexpr int insufficient_size = 7;

struct device {
  const char* uuid;
  const char* bus_id;
  unsigned sm_clock, sm_clock_max, memory_clock, memory_clock_max;
  int power_limit_milliwatts;  // negative: not supported
  int ecc;                     // negative: not supported
  int persistence;
};

const device devices[] = {
    {"GPU-00000000-1111-2222-3333-444444444444", "00000000:19:00.0", 1755, 1980, 2619, 2619, 700000, 1, 1},
    {"GPU-55555555-6666-7777-8888-999999999999", "00000000:3B:00.0", 210, 2100, 405, 10501, -1, -1, 0},
};

const device* find(void* handle) {
  for (const auto& d : devices) {
    if (handle == &d) return &d;
  }
  return nullptr;
}

int copy(const char* text, char* out, unsigned length) {
  if (out == nullptr) return invalid_argument;
  if (std::strlen(text) + 1 > length) return insufficient_size;
  std::memcpy(out, text, std::strlen(text) + 1);
  return success;
}

struct pci_info {  // nvmlPciInfo_t
  char bus_id_legacy[16];
  unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
  char bus_id[32];
};

}  // namespace

extern "C" {

int nvmlInit_v2() { return success; }
int nvmlShutdown() { return success; }

const char* nvmlErrorString(int status) {
  switch (status) {
    case success:
      return "Success";
    case invalid_argument:
      return "Invalid Argument";
    case not_supported:
      return "Not Supported";
    case insufficient_size:
      return "Insufficient Size";
  }
  return "Unknown Error";
}

int nvmlSystemGetDriverVersion(char* version, unsigned length) { return copy("999.12.34", version, length); }

int nvmlDeviceGetCount_v2(unsigned* count) {
  *count = sizeof devices / sizeof devices[0];
  return success;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** handle) {
  if (index >= sizeof devices / sizeof devices[0]) return invalid_argument;
  *handle = const_cast<device*>(&devices[index]);
  return success;
}

int nvmlDeviceGetUUID(void* handle, char* uuid, unsigned length) { return copy(find(handle)->uuid, uuid, length); }

int nvmlDeviceGetPciInfo_v3(void* handle, pci_info* pci) {
  std::memset(pci, 0, sizeof *pci);
  std::snprintf(pci->bus_id, sizeof pci->bus_id, "%s", find(handle)->bus_id);
  return success;
}

int nvmlDeviceGetClockInfo(void* handle, int type, unsigned* mhz) {
  const device* d = find(handle);
  if (type != 1 && type != 2) return invalid_argument;  // NVML_CLOCK_SM, NVML_CLOCK_MEM
  *mhz = type == 1 ? d->sm_clock : d->memory_clock;
  return success;
}

int nvmlDeviceGetMaxClockInfo(void* handle, int type, unsigned* mhz) {
  const device* d = find(handle);
  if (type != 1 && type != 2) return invalid_argument;
  *mhz = type == 1 ? d->sm_clock_max : d->memory_clock_max;
  return success;
}

int nvmlDeviceGetPowerManagementLimit(void* handle, unsigned* milliwatts) {
  const device* d = find(handle);
  if (d->power_limit_milliwatts < 0) return not_supported;
  *milliwatts = static_cast<unsigned>(d->power_limit_milliwatts);
  return success;
}

int nvmlDeviceGetEccMode(void* handle, int* current, int* pending) {
  const device* d = find(handle);
  if (d->ecc < 0) return not_supported;
  *current = d->ecc;
  *pending = d->ecc;
  return success;
}

int nvmlDeviceGetPersistenceMode(void* handle, int* mode) {
  *mode = find(handle)->persistence;
  return success;
}

}  // extern "C"
