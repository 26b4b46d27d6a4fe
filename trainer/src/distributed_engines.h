#pragma once
// The engines behind process_group that need more than the interface (distributed.cpp picks).
#include <memory>

#include "trackbench/trainer/distributed.h"

namespace trackbench::trainer {

// Open MPI over CPU tensors. Initialises MPI (finalised at exit); with `deterministic` it fixes
// the non-blocking collectives' algorithms by MCA variables the launcher did not set.
std::unique_ptr<process_group> make_mpi_group(const launch_info& launch, bool deterministic);

#if TRACKBENCH_WITH_CUDA
// NCCL through c10d; rendezvous through a TCPStore at MASTER_ADDR:MASTER_PORT (torchrun's agent
// store under TORCHELASTIC_USE_AGENT_STORE). With `deterministic` it sets NCCL_ALGO=Ring,
// NCCL_PROTO=Simple, fixed channel counts and NVLS off, where not set already.
std::unique_ptr<process_group> make_nccl_group(const launch_info& launch, bool deterministic);
#endif

}  // namespace trackbench::trainer
