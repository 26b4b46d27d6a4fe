#pragma once
// A CUDA graph capture that cannot be left open (compiled in CUDA builds only). LibTorch 2.11's
// CUDAGraph::capture_begin sets the stream capturing, puts the CUDA generators in capture mode
// and routes the stream's device and pinned-host allocations into the graph's pool; only
// capture_end undoes that, and CUDAGraph::reset() does not when the capture did not end. An
// exception between the two would leave every later CUDA call of the process failing, and
// every eager dropout draw throwing.
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>

namespace trackbench::trainer {

// A CUDA graph whose capture, when it cannot end, can be given up.
class capturable_graph : public at::cuda::CUDAGraph {
 public:
  // Takes the registered generators out of capture mode: what capture_end's epilogue does,
  // which LibTorch does not export.
  void leave_generator_capture() noexcept;
  // Whether capture_end got as far as owning the pools, which reset() then releases.
  bool capture_ended() const { return capture_ended_; }
};

// Captures what the current stream queues from construction until end() into `graph`, in a
// memory pool of its own (a fresh at::cuda::graph_pool_handle(): the trainer's graphs replay in
// any order, and a shared pool is safe only for replays in capture order). Destroyed before
// end(), it ends the stream's capture and destroys what it captured, ends the allocations into
// the pool and releases it, and leaves the generators' capture mode.
class graph_capture {
 public:
  explicit graph_capture(capturable_graph& graph);
  ~graph_capture();
  graph_capture(const graph_capture&) = delete;
  graph_capture& operator=(const graph_capture&) = delete;
  // capture_end: the graph can replay from here on.
  void end();

 private:
  void abandon() noexcept;

  capturable_graph& graph_;
  c10::cuda::CUDAStream stream_;  // the capturing stream
  at::cuda::MempoolId_t pool_;
  bool begun_ = false;  // capture_begin returned: it took a reference to the pool in both allocators
  bool open_ = true;
};

}  // namespace trackbench::trainer
