#pragma once
// What a run's memory does: the per-epoch peaks it reports, and the allocator setting that keeps
// CPU steps from page-faulting their activations in again.
#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace trackbench::trainer {

// Resets the process's resident-set high-water mark, so each epoch reports its own peak.
void reset_peak_rss();
std::int64_t peak_rss_bytes();

// The CUDA caching allocator's peak on `device`; nothing for a CPU device.
void reset_peak_cuda(const torch::Device& device);
std::optional<std::int64_t> peak_cuda_bytes(const torch::Device& device);

// Process-wide, set once: freed CPU memory stays on the heap for the next step.
void keep_freed_memory_for_reuse();

}  // namespace trackbench::trainer
