#pragma once
// Data-parallel training: which process of a job this is, and the collectives the training
// loop needs, behind one interface so the loop does not know which engine runs them.
// Engines: "none" (one process, today's run), "mpi" (Open MPI, CPU training) and "nccl"
// (NCCL through LibTorch's c10d, one GPU per rank: cuda:LOCAL_RANK). The launcher's
// variables decide: torchrun (RANK, WORLD_SIZE, LOCAL_RANK), mpirun (OMPI_COMM_WORLD_RANK,
// _SIZE, _LOCAL_RANK) or Slurm's srun (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID).
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace trackbench::trainer {

struct launch_info {
  std::string launcher = "none";  // none, torchrun, mpirun or slurm
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;  // ranks on this node
};

// Reads the launcher's variables; input_error names a variable that is set but malformed
// (not a number, rank outside the world).
launch_info detect_launch();

class process_group {
 public:
  virtual ~process_group() = default;
  virtual std::string engine() const = 0;  // none, mpi, nccl
  virtual const launch_info& launch() const = 0;
  int rank() const { return launch().rank; }
  int world_size() const { return launch().world_size; }
  // The settings that fix the engine's reduction order (MCA or NCCL variables), as applied.
  virtual std::map<std::string, std::string> settings() const = 0;

  // Collectives over every rank; `what` names the step in an error. Tensors are contiguous,
  // on the training device (a CPU tensor also serves NCCL, through the GPU), changed in place.
  virtual void broadcast(torch::Tensor& tensor, int root, const std::string& what) = 0;
  virtual void all_reduce_sum(torch::Tensor& tensor, const std::string& what) = 0;
  virtual void barrier(const std::string& what) = 0;
  // Every rank's `value`, in rank order (hosts, devices).
  virtual std::vector<std::string> all_gather(const std::string& value, const std::string& what) = 0;

  // "rank R (process P) ended" when a peer's process is known to have ended (under --nproc,
  // whose job folder holds the ranks' process ids); empty otherwise.
  virtual std::string ended_peer() { return {}; }

  // Ends the group after a run that completed on every rank (MPI_Finalize waits for all of
  // them). A failed rank exits without it, and the launcher ends the others.
  virtual void shutdown() {}

  // Called while a collective waits; it may throw to end the wait (a stop signal).
  void set_wait_check(std::function<void()> check) { wait_check_ = std::move(check); }

 protected:
  std::function<void()> wait_check_;
};

// The process's group, created on first use from the launch variables: MPI for CPU training,
// NCCL for `cuda` (which sets the device to LOCAL_RANK first). `deterministic` fixes the
// engine's reduction algorithms where the launcher left them free; later calls return the
// same group.
process_group& current_process_group(bool deterministic, bool cuda);

// Seconds a rank waits in one collective before it names the ranks that did not arrive and
// fails: TRACKBENCH_COLLECTIVE_TIMEOUT, 300 by default.
double collective_timeout_seconds();

}  // namespace trackbench::trainer
