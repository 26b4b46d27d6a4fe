#include "trackbench/trainer/local_job.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "trackbench/trainer/distributed.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::trainer {
namespace {

namespace fs = std::filesystem;

volatile sig_atomic_t launched_pid = 0;

// A stop is passed on to mpirun, which stops every rank (rank 0 records it).
void forward_signal(int signal) {
  if (launched_pid > 0) ::kill(launched_pid, signal);
}

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string directories = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t begin = 0;
  while (begin <= directories.size()) {
    const auto end = std::min(directories.find(':', begin), directories.size());
    const fs::path candidate = fs::path(directories.substr(begin, end - begin)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    begin = end + 1;
  }
  return {};
}

// A TCP port of this machine that is free now, for the NCCL engine's store (a GPU job).
std::string free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool bound = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  if (fd >= 0) ::close(fd);
  if (!bound) throw training_error("cannot find a free TCP port for the ranks' rendezvous");
  return std::to_string(ntohs(address.sin_port));
}

// The job folder: given by TRACKBENCH_JOB_DIR, or a new temporary one (`temporary` set). An
// earlier job's process ids and notes are removed, and the ranks' table is laid out, two int64
// per rank: the collectives each began, and when each last waited (mpi_group.cpp maps it).
fs::path prepare_job_dir(int nproc, bool& temporary) {
  fs::path dir = job_dir();
  temporary = dir.empty();
  if (temporary) {
    std::string pattern = (fs::temp_directory_path() / "trackbench-job-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw input_error("cannot create a job folder in " + fs::temp_directory_path().string());
    }
    dir = pattern;
  } else {
    fs::create_directories(dir);
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.rfind("rank-", 0) == 0 || name.rfind("note-", 0) == 0) fs::remove(entry.path());
  }
  std::ofstream progress(dir / "progress", std::ios::binary | std::ios::trunc);
  const std::vector<char> zeros(2 * static_cast<std::size_t>(nproc) * sizeof(std::int64_t), 0);
  progress.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  if (!progress) throw input_error("cannot write the job folder " + dir.string());
  return dir;
}

}  // namespace

fs::path job_dir() {
  const char* dir = std::getenv("TRACKBENCH_JOB_DIR");
  return dir != nullptr ? fs::path(dir) : fs::path();
}

void write_job_note(const std::string& name, const std::string& text) {
  const auto dir = job_dir();
  if (dir.empty()) return;
  const auto target = dir / ("note-" + name);
  const auto temporary = dir / (".note-" + name + "." + std::to_string(::getpid()));
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw training_error("cannot write " + temporary.string());
  }
  fs::rename(temporary, target);
}

std::string read_job_note(const fs::path& dir, const std::string& name) {
  std::ifstream in(dir / ("note-" + name), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int run_local_job(const local_job& job) {
  if (detect_launch().launcher != "none") {
    throw input_error("--nproc starts its own ranks; under mpirun, srun or torchrun leave it out (the launcher's "
                      "variables give the ranks)");
  }
  const auto mpirun = find_on_path("mpirun");
  if (mpirun.empty()) {
    throw input_error("--nproc " + std::to_string(job.nproc) +
                      " starts the ranks with Open MPI's mpirun, which is not on PATH (Debian: openmpi-bin)");
  }
  bool temporary = false;
  const fs::path dir = prepare_job_dir(job.nproc, temporary);

  std::vector<std::string> command{mpirun, "-np", std::to_string(job.nproc),
                                   // one machine: shared memory between the ranks, however many cores
                                   "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader",
                                   fs::read_symlink("/proc/self/exe").string()};
  command.insert(command.end(), job.arguments.begin(), job.arguments.end());

  const auto port = free_port();
  const pid_t child = ::fork();
  if (child < 0) throw training_error("cannot start mpirun: fork failed");
  if (child == 0) {
    ::setenv("TRACKBENCH_JOB_DIR", dir.c_str(), 1);
    // Where a GPU job's NCCL engine meets (the CPU engine needs neither).
    ::setenv("MASTER_ADDR", "127.0.0.1", 0);
    ::setenv("MASTER_PORT", port.c_str(), 0);
    // Containers often refuse the kernel's cross-memory attach that vader would use.
    ::setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    // Time for a rank that Open MPI asks to stop to record why before it is killed.
    ::setenv("OMPI_MCA_odls_base_sigkill_timeout", "10", 0);
    if (::geteuid() == 0) {  // Open MPI refuses root unless told twice (CI runs as root)
      ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
      ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    }
    std::vector<char*> argv;
    for (auto& argument : command) argv.push_back(argument.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "error: cannot run %s\n", argv[0]);
    ::_exit(127);
  }
  launched_pid = child;
  struct sigaction forward {};
  struct sigaction previous_int {};
  struct sigaction previous_term {};
  forward.sa_handler = forward_signal;
  ::sigaction(SIGINT, &forward, &previous_int);
  ::sigaction(SIGTERM, &forward, &previous_term);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  launched_pid = 0;
  ::sigaction(SIGINT, &previous_int, nullptr);
  ::sigaction(SIGTERM, &previous_term, nullptr);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  try {
    if (job.on_end) job.on_end(dir, code);
  } catch (...) {
    if (temporary) fs::remove_all(dir);
    throw;
  }
  if (temporary) fs::remove_all(dir);
  return code;
}

}  // namespace trackbench::trainer
