#include "trackbench/tracking/recording/launch.h"

#include <spdlog/spdlog.h>

#include <fstream>

#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/trainer/local_job.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;

constexpr const char* snapshot_note = "snapshot";

// After a failed job: a snapshot rank 0 left "running" ended with rank 0 itself.
void record_rank0_end(const fs::path& job_dir, int nproc, int exit_code) {
  const auto snapshot = trainer::read_job_note(job_dir, snapshot_note);
  if (snapshot.empty()) return;  // rank 0 failed before it began recording
  std::ifstream pid_file(job_dir / "rank-0.pid");
  std::string pid;
  pid_file >> pid;
  const std::string reason = "rank 0 (process " + (pid.empty() ? std::string("unknown") : pid) +
                             ") ended before it recorded the end of the run (killed or crashed); the job of " +
                             std::to_string(nproc) + " ranks ended with exit code " + std::to_string(exit_code);
  try {
    if (mark_run_failed(snapshot, reason)) spdlog::error("{}: marked failed: {}", snapshot, reason);
  } catch (const std::exception& e) {
    spdlog::error("{} could not be marked failed ({}): {}", snapshot, reason, e.what());
  }
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

void note_job_snapshot(const fs::path& snapshot) { trainer::write_job_note(snapshot_note, fs::absolute(snapshot).string()); }

int run_local_ranks(int nproc, const std::vector<std::string>& arguments) {
  spdlog::info("starting {} ranks through mpirun", nproc);
  trainer::local_job job;
  job.nproc = nproc;
  job.arguments.assign(arguments.begin() + 1, arguments.end());
  job.on_end = [nproc](const fs::path& job_dir, int exit_code) {
    if (exit_code != 0) record_rank0_end(job_dir, nproc, exit_code);
  };
  const int code = trainer::run_local_job(job);
  if (code != 0) {
    spdlog::error("the job of {} ranks ended with exit code {}: the errors above name the rank that failed", nproc, code);
  }
  return code;
}

}  // namespace trackbench::tracking
