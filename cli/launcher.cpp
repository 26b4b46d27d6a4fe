#include "launcher.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "trackbench/trainer/distributed.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::cli {
namespace {

namespace fs = std::filesystem;

volatile sig_atomic_t launched_pid = 0;

// The launcher passes a stop on to mpirun, which stops every rank (rank 0 records it).
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

}  // namespace

std::vector<std::string> without_nproc(const std::vector<std::string>& arguments) {
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i] == "--nproc") {
      ++i;  // and its value
    } else if (arguments[i].rfind("--nproc=", 0) != 0) {
      kept.push_back(arguments[i]);
    }
  }
  return kept;
}

int run_local_ranks(int nproc, const std::vector<std::string>& arguments) {
  if (trainer::detect_launch().launcher != "none") {
    throw input_error("--nproc starts its own ranks; under mpirun, srun or torchrun leave it out (the launcher's "
                      "variables give the ranks)");
  }
  const auto mpirun = find_on_path("mpirun");
  if (mpirun.empty()) {
    throw input_error("--nproc " + std::to_string(nproc) +
                      " starts the ranks with Open MPI's mpirun, which is not on PATH (Debian: openmpi-bin)");
  }
  // The job folder: the ranks' process ids and a table of how many collectives each began.
  fs::path job_dir;
  bool temporary = false;
  if (const char* given = std::getenv("TRACKBENCH_JOB_DIR"); given != nullptr && *given != '\0') {
    job_dir = given;
    fs::create_directories(job_dir);
  } else {
    std::string pattern = (fs::temp_directory_path() / "trackbench-job-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw input_error("cannot create a job folder in " + fs::temp_directory_path().string());
    job_dir = pattern;
    temporary = true;
  }
  for (const auto& entry : fs::directory_iterator(job_dir)) {
    if (entry.path().filename().string().rfind("rank-", 0) == 0) fs::remove(entry.path());  // an earlier job's
  }
  {
    std::ofstream progress(job_dir / "progress", std::ios::binary | std::ios::trunc);
    const std::vector<char> zeros(static_cast<std::size_t>(nproc) * sizeof(std::int64_t), 0);
    progress.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    if (!progress) throw input_error("cannot write the job folder " + job_dir.string());
  }

  std::vector<std::string> command{mpirun, "-np", std::to_string(nproc),
                                   // one machine: shared memory between the ranks, however many cores
                                   "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader",
                                   fs::read_symlink("/proc/self/exe").string()};
  command.insert(command.end(), arguments.begin() + 1, arguments.end());
  spdlog::info("starting {} ranks: {}", nproc, fmt::join(command, " "));

  const auto port = free_port();
  const pid_t child = ::fork();
  if (child < 0) throw training_error("cannot start mpirun: fork failed");
  if (child == 0) {
    ::setenv("TRACKBENCH_JOB_DIR", job_dir.c_str(), 1);
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
  forward.sa_handler = forward_signal;
  ::sigaction(SIGINT, &forward, nullptr);
  ::sigaction(SIGTERM, &forward, nullptr);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  launched_pid = 0;
  if (temporary) fs::remove_all(job_dir);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code != 0) {
    spdlog::error("the job of {} ranks ended with exit code {}: the errors above name the rank that failed", nproc, code);
  }
  return code;
}

}  // namespace trackbench::cli
