// The CPU engine: Open MPI, which lives beside LibTorch in one process (the torch wheel ships
// no Gloo headers, and Debian's libgloo would clash with the Gloo symbols libtorch_cpu.so
// exports). Collectives are non-blocking and polled, so that a rank waiting for a peer can
// notice a stop signal, a dead peer or a hang and end the job with an error that names the rank.
// The C API only: Open MPI's deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#include <fcntl.h>
#include <mpi.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "distributed_engines.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/local_job.h"

extern char** environ;

namespace trackbench::trainer {
namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

// A rank that has not stamped the table for this long, at the collective others wait in, is
// stuck: waiting ranks stamp it every 50 ms.
constexpr std::int64_t stuck_ms = 2000;

constexpr auto spin_time = std::chrono::milliseconds(100);

// The algorithm of the non-blocking all-reduce with --deterministic: binomial (a reduction up
// a fixed tree, then a broadcast), so each sum adds the ranks' values in one order for a given
// world size whatever the buffer's size.
constexpr const char* deterministic_settings[][2] = {{"OMPI_MCA_coll_libnbc_iallreduce_algorithm", "2"}};

MPI_Datatype mpi_type(const torch::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kUInt8: return MPI_UINT8_T;
    default: throw std::invalid_argument(std::string("the MPI engine has no type for ") + c10::toString(tensor.scalar_type()));
  }
}

int mpi_count(const torch::Tensor& tensor) {
  if (!tensor.is_cpu() || !tensor.is_contiguous() || tensor.numel() > INT_MAX) {
    throw std::invalid_argument("the MPI engine takes contiguous CPU tensors of at most INT_MAX elements");
  }
  return static_cast<int>(tensor.numel());
}

bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  // The state follows the parenthesised command name; a zombie has ended.
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z' && line[close + 2] != 'X';
}

class mpi_group final : public process_group {
 public:
  mpi_group(const launch_info& launch, bool deterministic) : launch_(launch) {
    for (const auto& [name, value] : deterministic_settings) {
      if (deterministic) ::setenv(name, value, 0);  // MPI_Init reads the MCA variables
    }
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) MPI_Init(nullptr, nullptr);
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank != launch_.rank || size != launch_.world_size) {
      throw input_error(launch_.launcher + " says rank " + std::to_string(launch_.rank) + " of " +
                        std::to_string(launch_.world_size) + ", MPI says " + std::to_string(rank) + " of " +
                        std::to_string(size) + ": the launcher does not match the MPI library trackbench was built with");
    }
    for (char** variable = environ; *variable != nullptr; ++variable) {
      const std::string entry(*variable);
      if (entry.rfind("OMPI_MCA_coll", 0) == 0 || entry.rfind("OMPI_MCA_btl", 0) == 0) {
        const auto equals = entry.find('=');
        settings_[entry.substr(0, equals)] = entry.substr(equals + 1);
      }
    }
    open_job_dir();
  }

  ~mpi_group() override {
    if (progress_ != nullptr) ::munmap(const_cast<std::int64_t*>(progress_), table_bytes());
  }

  std::string engine() const override { return "mpi"; }
  const launch_info& launch() const override { return launch_; }
  std::map<std::string, std::string> settings() const override { return settings_; }

  void broadcast(torch::Tensor& tensor, int root, const std::string& what) override {
    MPI_Request request;
    MPI_Ibcast(tensor.data_ptr(), mpi_count(tensor), mpi_type(tensor), root, MPI_COMM_WORLD, &request);
    wait(request, what);
  }

  void all_reduce_sum(torch::Tensor& tensor, const std::string& what) override {
    MPI_Request request;
    MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), mpi_count(tensor), mpi_type(tensor), MPI_SUM, MPI_COMM_WORLD,
                   &request);
    wait(request, what);
  }

  void barrier(const std::string& what) override {
    MPI_Request request;
    MPI_Ibarrier(MPI_COMM_WORLD, &request);
    wait(request, what);
  }

  std::vector<std::string> all_gather(const std::string& value, const std::string& what) override {
    constexpr int width = 256;  // host names and device descriptions fit; longer ones are cut
    std::array<char, width> mine{};
    std::strncpy(mine.data(), value.c_str(), width - 1);
    std::vector<char> all(static_cast<std::size_t>(width) * launch_.world_size);
    MPI_Request request;
    MPI_Iallgather(mine.data(), width, MPI_CHAR, all.data(), width, MPI_CHAR, MPI_COMM_WORLD, &request);
    wait(request, what);
    std::vector<std::string> values;
    for (int rank = 0; rank < launch_.world_size; ++rank) values.emplace_back(all.data() + rank * width);
    return values;
  }

  std::string ended_peer() override {
    const auto dead = dead_peers();
    if (dead.empty()) return {};
    return "rank " + std::to_string(dead.front()) + " (process " + std::to_string(peer_pids_[dead.front()]) + ") ended";
  }

  void shutdown() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }

 private:
  // Under trackbench train --nproc the launcher hands every rank a job folder: each rank leaves
  // its process id there, and in a shared table counts the collectives it began and stamps the
  // time while it waits in one, which lets a waiting rank tell a dead peer from a slow one, and
  // a peer behind it or silent at the same collective (stopped, or stuck in the engine), and
  // name it.
  void open_job_dir() {
    job_dir_ = job_dir();
    if (job_dir_.empty()) return;
    {
      std::ofstream pid_file(job_dir_ / ("rank-" + std::to_string(launch_.rank) + ".pid"));
      pid_file << ::getpid() << '\n';
    }
    const int fd = ::open((job_dir_ / "progress").c_str(), O_RDWR);
    if (fd < 0) return;
    void* mapped = ::mmap(nullptr, table_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (mapped != MAP_FAILED) progress_ = static_cast<volatile std::int64_t*>(mapped);
  }

  // The peers whose process has ended, from the job folder (none without one).
  std::vector<int> dead_peers() {
    std::vector<int> dead;
    if (job_dir_.empty()) return dead;
    if (peer_pids_.empty()) peer_pids_.assign(launch_.world_size, 0);
    for (int rank = 0; rank < launch_.world_size; ++rank) {
      if (rank == launch_.rank) continue;
      if (peer_pids_[rank] == 0) {
        std::ifstream pid_file(job_dir_ / ("rank-" + std::to_string(rank) + ".pid"));
        pid_t pid = 0;
        if (!(pid_file >> pid)) continue;  // not started yet
        peer_pids_[rank] = pid;
      }
      if (!process_alive(peer_pids_[rank])) dead.push_back(rank);
    }
    return dead;
  }

  std::string where(const std::string& what) const {
    return "rank " + std::to_string(launch_.rank) + " waited for it in " + what + " (collective #" +
           std::to_string(sequence_) + ")";
  }

  std::size_t table_bytes() const { return 2 * static_cast<std::size_t>(launch_.world_size) * sizeof(std::int64_t); }

  // Milliseconds of the machine's monotonic clock, which every rank of a local job shares.
  static std::int64_t monotonic_ms() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
  }

  void stamp() {
    if (progress_ != nullptr) progress_[launch_.world_size + launch_.rank] = monotonic_ms();
  }

  void wait(MPI_Request& request, const std::string& what) {
    ++sequence_;
    if (progress_ != nullptr) progress_[launch_.rank] = sequence_;
    stamp();
    const auto start = clock_type::now();
    const double timeout = collective_timeout_seconds();
    auto next_check = start + std::chrono::milliseconds(50);
    for (;;) {
      int done = 0;
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (done) return;
      const auto now = clock_type::now();
      // Open MPI moves a non-blocking collective's data only inside MPI_Test: polled back to back
      // while the gradients stream (a 100 us nap between tests halved a 2-rank job's rate), then
      // with naps once a peer is this late, to leave the core to it.
      if (now - start > spin_time) std::this_thread::sleep_for(std::chrono::microseconds(100));
      if (now < next_check) continue;
      next_check = now + std::chrono::milliseconds(50);
      stamp();
      if (const auto ended = ended_peer(); !ended.empty()) throw training_error(ended + " while " + where(what));
      if (wait_check_) wait_check_();
      if (std::chrono::duration<double>(now - start).count() > timeout) throw training_error(hang_message(what, timeout));
    }
  }

  std::string hang_message(const std::string& what, double timeout) const {
    std::ostringstream message;
    message << "the ranks did not all complete " << what << " within " << timeout << " s (TRACKBENCH_COLLECTIVE_TIMEOUT)";
    if (progress_ != nullptr) {
      message << ": behind rank " << launch_.rank << " (collective #" << sequence_ << "):";
      const auto now = monotonic_ms();
      for (int rank = 0; rank < launch_.world_size; ++rank) {
        const auto silent = now - progress_[launch_.world_size + rank];
        if (progress_[rank] < sequence_) {
          message << " rank " << rank << " (at #" << progress_[rank] << ")";
        } else if (rank != launch_.rank && silent > stuck_ms) {
          message << " rank " << rank << " (at #" << progress_[rank] << ", silent for " << silent / 1000 << " s)";
        }
      }
      message << "; a rank that stays behind is hung or much slower";
    }
    return message.str();
  }

  launch_info launch_;
  std::map<std::string, std::string> settings_;
  fs::path job_dir_;
  volatile std::int64_t* progress_ = nullptr;
  std::vector<pid_t> peer_pids_;
  std::int64_t sequence_ = 0;
};

}  // namespace

std::unique_ptr<process_group> make_mpi_group(const launch_info& launch, bool deterministic) {
  return std::make_unique<mpi_group>(launch, deterministic);
}

}  // namespace trackbench::trainer
