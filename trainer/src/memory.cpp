#include "memory.h"

#include <malloc.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#if TRACKBENCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace trackbench::trainer {

// Linux keeps a resident-set high-water mark per process; writing 5 to
// clear_refs resets it, so each epoch can report its own peak.
void reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  if (clear_refs) clear_refs << "5";
}

std::int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      std::int64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

void reset_peak_cuda(const torch::Device& device) {
#if TRACKBENCH_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#else
  (void)device;
#endif
}

std::optional<std::int64_t> peak_cuda_bytes(const torch::Device& device) {
#if TRACKBENCH_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  }
#else
  (void)device;
#endif
  return std::nullopt;
}

// LibTorch's CPU tensors come from malloc, and glibc hands freed memory back to the kernel: blocks
// above its mmap threshold (at most 32 MiB; a batch of 256 has several) are unmapped on free and the
// heap's free top is trimmed. Each step then page-faults its activations in again, 4 KiB at a time,
// which on this project's virtual machines cost a quarter of a batch-64 step and over a third of a
// batch-256 one. Kept on the heap, the same memory serves step after step. Process-wide, set once.
void keep_freed_memory_for_reuse() {
#ifdef __GLIBC__
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  });
#endif
}

}  // namespace trackbench::trainer
