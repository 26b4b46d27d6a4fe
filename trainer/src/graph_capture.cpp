#include "graph_capture.h"

#include <ATen/core/CachingHostAllocator.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDACachingAllocator.h>

namespace trackbench::trainer {

void capturable_graph::leave_generator_capture() noexcept {
  // In capture mode a generator's eager draws fail ("Offset increment outside graph capture").
  for (auto& [state, increment] : captured_generator_states_) state->capturing_ = false;
}

graph_capture::graph_capture(capturable_graph& graph)
    : graph_(graph), stream_(at::cuda::getCurrentCUDAStream()), pool_(at::cuda::graph_pool_handle()) {
  try {
    graph_.capture_begin(pool_);
  } catch (...) {
    abandon();
    throw;
  }
  begun_ = true;
}

graph_capture::~graph_capture() {
  if (open_) abandon();
}

void graph_capture::end() {
  graph_.capture_end();
  open_ = false;
}

void graph_capture::abandon() noexcept {
  if (graph_.capture_ended()) return;  // capture_end failed in instantiating: reset() releases the pools
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream_.stream(), &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    // An invalidated capture ends with an error and no graph.
    cudaGraph_t partial = nullptr;
    (void)cudaStreamEndCapture(stream_.stream(), &partial);
    if (partial != nullptr) (void)cudaGraphDestroy(partial);
  }
  // Each allocator refuses to end what is not under way (c10::Error): capture_begin may have
  // failed before it began, or capture_end may have ended it already. An allocator that began
  // took a reference to the pool, which is released here, once.
  const auto device = stream_.device_index();
  const auto succeeded = [](const auto& call) noexcept {
    try {
      call();
      return true;
    } catch (...) {  // abandon() runs in destructors, during unwinding
      return false;
    }
  };
  if (succeeded([&] { c10::cuda::CUDACachingAllocator::endAllocateToPool(device, pool_); }) || begun_) {
    (void)succeeded([&] { c10::cuda::CUDACachingAllocator::releasePool(device, pool_); });
  }
  auto* host = at::getHostAllocator(at::kCUDA);
  if (succeeded([&] { host->end_allocate_to_pool(pool_); }) || begun_) {
    (void)succeeded([&] { host->release_pool(pool_); });
  }
  graph_.leave_generator_capture();
  // The failed calls' error, which the next launch check (cudaGetLastError) would report as its own.
  (void)cudaGetLastError();
}

}  // namespace trackbench::trainer
