#include "trackbench/trainer/distributed.h"

#include <cstdlib>
#include <memory>
#include <mutex>

#include "distributed_engines.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::trainer {
namespace {

// The variable's value as an integer in [min, max]; nullopt when unset.
std::optional<int> integer_variable(const char* name, int min, int max) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < min || value > max) {
    throw input_error(std::string("environment variable ") + name + "=" + text + ": expected an integer from " +
                      std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<int>(value);
}

// One launcher's names for rank, world size, local rank and local world size.
struct launcher_variables {
  const char* launcher;
  const char* rank;
  const char* world_size;
  const char* local_rank;
  const char* local_world_size;
};

// mpirun and srun set their variables in every process; torchrun's RANK is checked last, as an
// MPI or Slurm job may pass a RANK of its own through.
constexpr launcher_variables launchers[] = {
    {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
    // Slurm's tasks per node may read "2(x3)"; its local world size is left at one.
    {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", nullptr},
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
};

constexpr int max_world = 1 << 20;

class single_process_group final : public process_group {
 public:
  std::string engine() const override { return "none"; }
  const launch_info& launch() const override { return launch_; }
  std::map<std::string, std::string> settings() const override { return {}; }
  void broadcast(torch::Tensor&, int, const std::string&) override {}
  void all_reduce_sum(torch::Tensor&, const std::string&) override {}
  void barrier(const std::string&) override {}
  std::vector<std::string> all_gather(const std::string& value, const std::string&) override { return {value}; }

 private:
  launch_info launch_;
};

}  // namespace

launch_info detect_launch() {
  for (const auto& names : launchers) {
    const auto world_size = integer_variable(names.world_size, 1, max_world);
    if (!world_size) continue;
    const auto rank = integer_variable(names.rank, 0, *world_size - 1);
    if (!rank) {
      throw input_error(std::string("environment variable ") + names.world_size + " is set but " + names.rank +
                        " is not: the " + names.launcher + " launch is incomplete");
    }
    launch_info info;
    info.launcher = names.launcher;
    info.world_size = *world_size;
    info.rank = *rank;
    info.local_rank = integer_variable(names.local_rank, 0, max_world).value_or(0);
    if (names.local_world_size != nullptr) {
      info.local_world_size = integer_variable(names.local_world_size, 1, max_world).value_or(1);
    }
    return info;
  }
  return {};
}

double collective_timeout_seconds() {
  return integer_variable("TRACKBENCH_COLLECTIVE_TIMEOUT", 1, 7 * 24 * 3600).value_or(300);
}

process_group& current_process_group(bool deterministic, bool cuda) {
  static std::once_flag once;
  static std::unique_ptr<process_group> group;
  std::call_once(once, [&] {
    const auto launch = detect_launch();
    // A world of one needs no engine: the run is today's one-process run.
    if (launch.world_size == 1) {
      group = std::make_unique<single_process_group>();
      return;
    }
    if (cuda) {
#if TRACKBENCH_WITH_CUDA
      group = make_nccl_group(launch, deterministic);
      return;
#else
      throw input_error("a GPU run of several ranks needs the NCCL engine of trackbench's CUDA build");
#endif
    }
    if (launch.launcher == "torchrun") {
      throw input_error("under torchrun trackbench trains on GPUs with NCCL; on the CPU launch with mpirun, srun or "
                        "trackbench train --nproc N (docs/distributed.md)");
    }
    group = make_mpi_group(launch, deterministic);
  });
  return *group;
}

}  // namespace trackbench::trainer
