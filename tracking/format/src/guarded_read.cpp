#include "trackbench/tracking/format/guarded_read.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <new>
#include <sstream>
#include <system_error>

#include "hdf5_io.h"
#include "snapshot_io.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t max_file_bytes = std::uint64_t{16} << 30;
constexpr std::size_t max_result_bytes = 64 << 10;

// The child's report, first byte: 'K' parsed (the rest is parse's result), 'E' refused (the
// rest is the snapshot_error's message), 'M' out of memory, 'X' another exception.
constexpr char parsed = 'K';
constexpr char refused = 'E';
constexpr char out_of_memory = 'M';
constexpr char other_failure = 'X';

std::uint64_t address_space_in_use() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0;
  statm >> pages;
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

void write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t put = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return;  // the parent is gone or gave up
    done += static_cast<std::size_t>(put);
  }
}

[[noreturn]] void child(int report, pid_t parent, std::uint64_t memory_limit, const std::function<std::string()>& parse) {
  // Dies with the parent (a killed command must not leave a spinning reader behind).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  const rlimit memory{memory_limit, memory_limit};
  ::setrlimit(RLIMIT_AS, &memory);
  std::string message;
  try {
    message = parsed + parse();
    if (message.size() > max_result_bytes) message = std::string(1, other_failure) + "result too large";
  } catch (const snapshot_error& e) {
    message = refused + std::string(e.what());
  } catch (const std::bad_alloc&) {
    message = std::string(1, out_of_memory);
  } catch (const std::exception& e) {
    message = other_failure + std::string(e.what());
  } catch (...) {
    message = other_failure + std::string("unknown exception");
  }
  write_all(report, message);
  // No destructors or atexit handlers: they belong to the parent (stdio buffers, LibTorch).
  ::_exit(0);
}

std::string signal_name(int number) {
  const char* name = ::sigabbrev_np(number);
  return name != nullptr ? "SIG" + std::string(name) : "signal " + std::to_string(number);
}

std::string mebibytes(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

read_limits default_read_limits(std::uint64_t file_bytes) {
  return {5.0 + static_cast<double>(file_bytes) / 25e6, (std::uint64_t{1} << 30) + 4 * file_bytes};
}

std::vector<std::uint8_t> read_snapshot_bytes(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    const int error = errno;
    throw snapshot_error(path.string() + ": " + (error == ENOENT ? "no such snapshot file" : std::strerror(error)));
  }
  if (S_ISDIR(info.st_mode)) throw snapshot_error(path.string() + ": is a directory, not a snapshot file");
  if (!S_ISREG(info.st_mode)) throw snapshot_error(path.string() + ": not a regular file");
  if (static_cast<std::uint64_t>(info.st_size) > max_file_bytes) {
    throw snapshot_error(path.string() + ": " + std::to_string(info.st_size) + " bytes is larger than a snapshot can be (16 GiB)");
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(info.st_size));
  if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    throw snapshot_error(path.string() + ": cannot read the file: " + std::strerror(errno));
  }
  return bytes;
}

std::string run_guarded(const std::string& name, const read_limits& limits, const std::function<std::string()>& parse) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  const std::uint64_t memory_limit = address_space_in_use() + limits.memory_bytes;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw std::system_error(error, std::generic_category(), "fork");
  }
  if (pid == 0) {
    ::close(pipe_fds[0]);
    child(pipe_fds[1], parent, memory_limit, parse);
  }
  ::close(pipe_fds[1]);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limits.seconds);
  std::string report;
  bool timed_out = false;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd wait{pipe_fds[0], POLLIN, 0};
    const int ready = ::poll(&wait, 1, static_cast<int>(std::min<std::int64_t>(left.count() + 1, 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t got = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // the child closed its end: it finished or died
    if (report.size() < max_result_bytes + 1) report.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(pipe_fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  std::ostringstream seconds;
  seconds << std::setprecision(3) << limits.seconds;
  if (timed_out) {
    throw snapshot_error(name + ": reading it took longer than " + seconds.str() +
                         " s, so it was stopped (HDF5 loops forever on some corrupt files): the file is corrupt");
  }
  if (WIFSIGNALED(status)) {
    throw snapshot_error(name + ": reading it crashed HDF5 (" + signal_name(WTERMSIG(status)) +
                         "), so the file is corrupt or crafted");
  }
  if (report.empty()) {
    throw snapshot_error(name + ": the reader ended without a result (exit status " +
                         std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  }
  const std::string rest = report.substr(1);
  switch (report.front()) {
    case parsed:
      return rest;
    case refused:
      throw snapshot_error(rest);
    case out_of_memory:
      throw snapshot_error(name + ": reading it needed more than " + mebibytes(limits.memory_bytes) +
                           " of memory, so the file is corrupt");
    default:
      throw snapshot_error(name + ": reading it failed: " + rest);
  }
}

namespace {

constexpr const char* run_kind = "run";
constexpr const char* bench_kind = "bench";

// Identifies the image by its root's schema; the run reader explains anything foreign.
std::string kind_of(const std::vector<std::uint8_t>& image, const std::string& name) {
  try {
    const hdf5::id file = snapshot_io::open_image(image);
    return snapshot_io::read_schema(file.get()) == bench_schema_name ? bench_kind : run_kind;
  } catch (const hdf5::error& e) {
    throw snapshot_error(name + ": " + e.what());
  }
}

}  // namespace

loaded_snapshot load_snapshot(const fs::path& path, read_depth depth, const std::optional<read_limits>& limits) {
  const std::string name = path.string();
  const auto image = read_snapshot_bytes(path);
  const auto kind = run_guarded(name, limits ? *limits : default_read_limits(image.size()), [&] {
    const auto found = kind_of(image, name);
    if (found == bench_kind) {
      read_bench_snapshot(image, name);
      return found;
    }
    const snapshot_reader reader(image, name);
    if (depth == read_depth::arrays) {
      for (const int epoch : reader.weight_epochs()) reader.weights(epoch);  // sidecars included
      reader.state();
    }
    return found;
  });
  loaded_snapshot loaded{name, std::nullopt, std::nullopt};
  if (kind == bench_kind) {
    loaded.bench = read_bench_snapshot(image, name);
  } else {
    loaded.run.emplace(image, name);
  }
  return loaded;
}

snapshot_reader load_run_snapshot(const fs::path& path, const std::string& command, read_depth depth) {
  auto loaded = load_snapshot(path, depth);
  if (!loaded.run) {
    throw snapshot_error(path.string() + ": is a bench snapshot; " + command + " takes run snapshots");
  }
  return std::move(*loaded.run);
}

}  // namespace trackbench::tracking
