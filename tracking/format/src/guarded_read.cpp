#include "trackbench/tracking/format/guarded_read.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <new>
#include <sstream>
#include <system_error>
#include <thread>

#include "hdf5_io.h"
#include "record_codec.h"
#include "record_readers.h"
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

// What every reader child does first.
void enter_child(pid_t parent, std::uint64_t memory_limit) {
  // Dies with the parent (a killed command must not leave a spinning reader behind).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  const rlimit memory{memory_limit, memory_limit};
  ::setrlimit(RLIMIT_AS, &memory);
}

[[noreturn]] void child(int report, pid_t parent, std::uint64_t memory_limit, const std::function<std::string()>& parse) {
  enter_child(parent, memory_limit);
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

// Why a child that read `name` gave no result: the same words for a single and a batch read.
std::string timed_out_message(const std::string& name, double seconds) {
  std::ostringstream limit;
  limit << std::setprecision(3) << seconds;
  return name + ": reading it took longer than " + limit.str() +
         " s, so it was stopped (HDF5 loops forever on some corrupt files): the file is corrupt";
}

std::string died_message(const std::string& name, int status) {
  if (WIFSIGNALED(status)) {
    return name + ": reading it crashed HDF5 (" + signal_name(WTERMSIG(status)) + "), so the file is corrupt or crafted";
  }
  return name + ": the reader ended without a result (exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
         ")";
}

std::string out_of_memory_message(const std::string& name, std::uint64_t memory_bytes) {
  return name + ": reading it needed more than " + mebibytes(memory_bytes) + " of memory, so the file is corrupt";
}

pid_t fork_reader(int pipe_fds[2]) {
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw std::system_error(error, std::generic_category(), "fork");
  }
  return pid;
}

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace

read_limits default_read_limits(std::uint64_t file_bytes) {
  return {5.0 + static_cast<double>(file_bytes) / 25e6, (std::uint64_t{1} << 30) + 4 * file_bytes};
}

namespace {

// The size of a snapshot file, refusing what cannot be one.
std::uint64_t snapshot_file_size(const fs::path& path) {
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
  return static_cast<std::uint64_t>(info.st_size);
}

}  // namespace

std::vector<std::uint8_t> read_snapshot_bytes(const fs::path& path) {
  const auto size = snapshot_file_size(path);
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    throw snapshot_error(path.string() + ": cannot read the file: " + std::strerror(errno));
  }
  return bytes;
}

std::string run_guarded(const std::string& name, const read_limits& limits, const std::function<std::string()>& parse) {
  int pipe_fds[2];
  const std::uint64_t memory_limit = address_space_in_use() + limits.memory_bytes;
  const pid_t parent = ::getpid();
  const pid_t pid = fork_reader(pipe_fds);
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
  const int status = reap(pid);

  if (timed_out) throw snapshot_error(timed_out_message(name, limits.seconds));
  if (WIFSIGNALED(status) || report.empty()) throw snapshot_error(died_message(name, status));
  const std::string rest = report.substr(1);
  switch (report.front()) {
    case parsed:
      return rest;
    case refused:
      throw snapshot_error(rest);
    case out_of_memory:
      throw snapshot_error(out_of_memory_message(name, limits.memory_bytes));
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

namespace {

// A batch child's report is a stream of frames: a kind, the file's index in the batch and a
// payload. `started` comes before each file, so a crash or a hang is charged to that file.
enum class frame : char { started = 'S', run = 'R', bench = 'B', refused = 'E', out_of_memory = 'M', failed = 'X' };
constexpr std::size_t frame_header_bytes = 1 + 4 + 8;
// A record's size is bounded by the schema (a diff is cut to 1 MiB); this bounds the parent's
// buffer should a child ever misbehave.
constexpr std::uint64_t max_frame_payload = std::uint64_t{256} << 20;

void write_frame(int fd, frame kind, std::uint32_t index, const std::string& payload) {
  std::string header(frame_header_bytes, '\0');
  header[0] = static_cast<char>(kind);
  const std::uint64_t size = payload.size();
  std::memcpy(&header[1], &index, sizeof index);
  std::memcpy(&header[5], &size, sizeof size);
  write_all(fd, header + payload);
}

// Parses paths[first..] straight from disk: the record only, validated as snapshot_reader and
// read_bench_snapshot validate it, no weight or state array read.
[[noreturn]] void batch_child(int report, pid_t parent, std::uint64_t memory_limit, const std::vector<fs::path>& paths,
                              std::size_t first, std::size_t end) {
  enter_child(parent, memory_limit);
  for (std::size_t i = first; i < end; ++i) {
    const auto index = static_cast<std::uint32_t>(i);
    write_frame(report, frame::started, index, "");
    try {
      snapshot_file_size(paths[i]);
      const std::string name = paths[i].string();
      hdf5::id file;
      std::string schema;
      try {
        file = snapshot_io::open_file(paths[i]);
        schema = snapshot_io::read_schema(file.get());
      } catch (const hdf5::error& e) {
        throw snapshot_error(name + ": " + e.what());
      }
      if (schema == bench_schema_name) {
        write_frame(report, frame::bench, index, record_codec::encode(read_bench_record(std::move(file), name)));
      } else {
        write_frame(report, frame::run, index, record_codec::encode(read_run_record(std::move(file), name)));
      }
    } catch (const snapshot_error& e) {
      write_frame(report, frame::refused, index, e.what());
    } catch (const std::bad_alloc&) {
      write_frame(report, frame::out_of_memory, index, "");
      ::_exit(0);  // the heap may be in no state to go on
    } catch (const std::exception& e) {
      write_frame(report, frame::failed, index, e.what());
    } catch (...) {
      write_frame(report, frame::failed, index, "unknown exception");
    }
  }
  ::_exit(0);
}

// Runs one child over paths[first, end) and fills `out` as its frames come. Returns the index
// of the first file it did not settle (`end` when it settled all): a file that crashed, hung or
// exhausted the memory is settled as an error, the child gone with it.
std::size_t read_batch(const std::vector<fs::path>& paths, std::size_t first, std::size_t end,
                       const std::vector<read_limits>& limits, std::vector<snapshot_record>& out) {
  std::uint64_t memory_bytes = 0;
  for (std::size_t i = first; i < end; ++i) memory_bytes = std::max(memory_bytes, limits[i].memory_bytes);
  int pipe_fds[2];
  const std::uint64_t memory_limit = address_space_in_use() + memory_bytes;
  const pid_t parent = ::getpid();
  const pid_t pid = fork_reader(pipe_fds);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    batch_child(pipe_fds[1], parent, memory_limit, paths, first, end);
  }
  ::close(pipe_fds[1]);

  using clock = std::chrono::steady_clock;
  std::size_t next = first;  // the first file not settled
  auto deadline = clock::now() + std::chrono::duration<double>(limits[first].seconds);
  std::string buffer;
  char chunk[1 << 16];
  bool timed_out = false, memory_out = false, garbled = false;
  // Ends when every file is settled, not at the end of the pipe: a child forked meanwhile on
  // another thread may hold this pipe's write end open.
  while (!memory_out && !garbled && next < end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd wait{pipe_fds[0], POLLIN, 0};
    const int ready = ::poll(&wait, 1, static_cast<int>(std::min<std::int64_t>(left.count() + 1, 1000)));
    if (ready <= 0) continue;
    const ssize_t got = ::read(pipe_fds[0], chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(got));
    std::size_t used = 0;
    while (buffer.size() - used >= frame_header_bytes) {
      std::uint32_t index = 0;
      std::uint64_t size = 0;
      std::memcpy(&index, &buffer[used + 1], sizeof index);
      std::memcpy(&size, &buffer[used + 5], sizeof size);
      if (index != next || size > max_frame_payload) {
        garbled = true;
        break;
      }
      if (buffer.size() - used - frame_header_bytes < size) break;
      const auto kind = static_cast<frame>(buffer[used]);
      const std::string payload = buffer.substr(used + frame_header_bytes, size);
      used += frame_header_bytes + size;
      auto& result = out[next];
      switch (kind) {
        case frame::started:
          deadline = clock::now() + std::chrono::duration<double>(limits[next].seconds);
          continue;
        case frame::run:
          result.run = record_codec::decode_run(payload);
          break;
        case frame::bench:
          result.bench = record_codec::decode_bench(payload);
          break;
        case frame::refused:
          result.error = payload;
          break;
        case frame::out_of_memory:
          result.error = out_of_memory_message(result.path, limits[next].memory_bytes);
          memory_out = true;
          break;
        default:
          result.error = result.path + ": reading it failed: " + payload;
      }
      ++next;
      // Between files the child only writes: a file's own limit starts with its `started`.
      if (next < end) deadline = clock::now() + std::chrono::duration<double>(limits[next].seconds);
    }
    buffer.erase(0, used);
  }
  ::close(pipe_fds[0]);
  if (timed_out || garbled) ::kill(pid, SIGKILL);
  const int status = reap(pid);
  if (garbled) throw std::logic_error("a guarded reader's report is out of order");
  if (memory_out || next == end) return next;
  // The child is gone without settling paths[next], the only file it was reading.
  out[next].error = timed_out ? timed_out_message(out[next].path, limits[next].seconds) : died_message(out[next].path, status);
  return next + 1;
}

}  // namespace

std::vector<snapshot_record> read_snapshot_records(const std::vector<fs::path>& paths, const std::optional<read_limits>& limits) {
  std::vector<snapshot_record> out(paths.size());
  std::vector<read_limits> per_file(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    out[i].path = paths[i].string();
    std::error_code error;
    const auto size = fs::file_size(paths[i], error);
    per_file[i] = limits ? *limits : default_read_limits(error ? 0 : size);
  }
  // Parsing is the cost (HDF5's, a few milliseconds a file), so the files are shared out to
  // one child per core, each child on its own thread here; a handful of files take one child.
  constexpr std::size_t files_per_child_at_least = 16;
  const std::size_t children = std::clamp<std::size_t>(paths.size() / files_per_child_at_least, 1,
                                                       std::max(1u, std::thread::hardware_concurrency()));
  const auto read_slice = [&](std::size_t slice) {
    const std::size_t end = paths.size() * (slice + 1) / children;
    for (std::size_t next = paths.size() * slice / children; next < end;) next = read_batch(paths, next, end, per_file, out);
  };
  std::vector<std::exception_ptr> failures(children);
  std::vector<std::thread> threads;
  for (std::size_t slice = 1; slice < children; ++slice) {
    threads.emplace_back([&, slice] {
      try {
        read_slice(slice);
      } catch (...) {
        failures[slice] = std::current_exception();
      }
    });
  }
  try {
    read_slice(0);
  } catch (...) {
    failures[0] = std::current_exception();
  }
  for (auto& thread : threads) thread.join();
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
  return out;
}

std::vector<fs::path> snapshot_files_in(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const auto name = entry.path().filename().string();
    if (entry.is_regular_file() && entry.path().extension() == ".h5" && name.front() != '.') files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<snapshot_record> read_every_snapshot_record(const std::vector<fs::path>& paths) {
  return require_every_record(read_snapshot_records(paths));
}

std::vector<snapshot_record> require_every_record(std::vector<snapshot_record> records) {
  for (const auto& record : records) {
    if (!record.error.empty()) throw snapshot_error(record.error);
  }
  return records;
}

}  // namespace trackbench::tracking
